"""Helpers of the training tests: a tiny random Llama (SmolLM2's tokenizer) saved to a
folder, toy prompt-completion examples, and real tau2 calls stored as clustered work.

Imported by tests/tasks/train/test_train.py, test_jobs.py and tests/flows/test_train.py.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any


def build_tiny_base(folder: Path, hidden: int = 64) -> str:
    """A tiny random Llama (`hidden` wide, 2 layers) with SmolLM2's tokenizer, in `folder`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from slimline.models import DEFAULT_BASE_MODEL, load_tokenizer

    tok = load_tokenizer(DEFAULT_BASE_MODEL)
    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def toy_examples(n: int = 8) -> list[dict[str, Any]]:
    """Conversational prompt-completion pairs with a learnable pattern (a tool call)."""
    return [
        {
            "prompt": [{"role": "user", "content": f"Please look up booking {i:04d}."}],
            "completion": [
                {
                    "role": "assistant",
                    "content": f'<tool_call>{{"name": "get_booking", "arguments": '
                    f'{{"id": "{i:04d}"}}}}</tool_call>',
                }
            ],
        }
        for i in range(n)
    ]


def tau2_records(path: Path, agent: str, conversations: int) -> list[Any]:
    """The calls of the first `conversations` conversations of one tau2 agent."""
    from slimline.tasks.collect.formats import from_chat_completion_pair

    out, seen = [], []
    with gzip.open(path, "rt") as f:
        for n, line in enumerate(f):
            if f'"agent": "{agent}"' not in line:
                continue
            rec = from_chat_completion_pair(json.loads(line), "tau2", f"line {n}")
            if rec.conversation_id not in seen:
                if len(seen) == conversations:
                    continue
                seen.append(rec.conversation_id)
            out.append(rec)
    return out


def store_clusters(work: Any, clusters: dict[int, tuple[str, list[Any]]]) -> None:
    """Save `{cluster_id: (slug, records)}` as scrubbed calls, cluster rows and assignments."""
    seq = 0
    for cid, (slug, records) in clusters.items():
        rows = []
        for rec in records:
            seq += 1
            rows.append((seq, rec))
        work.add_scrubbed(rows)
        work.save_cluster(
            {
                "cluster_id": cid,
                "slug": slug,
                "label": slug.replace("-", " "),
                "keywords": [],
                "top_tools": [],
                "stats": {"calls": len(records)},
                "model_version": 1,
            }
        )
        work.assign(
            [
                {"call_id": r.id, "cluster_id": cid, "probability": 1.0, "model_version": 1}
                for r in records
            ]
        )
