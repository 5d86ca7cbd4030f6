"""Dataset compaction on the bundled tau2 calls under SmolLM2's tokenizer.

Per agent (a stand-in for a cluster): tokens per example before compaction (the whole
request + response, estimated from per-message counts) and after (distilled context left
out, history trimmed to the demo profile's window of 768 tokens; exact). Speed: building
the dataset vs the naive baseline of tokenizing each whole request once with the chat
template, on the same calls in the same run (ratio < 1: compaction costs less than reading
the requests whole).
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any


def main(out_dir: Path) -> dict[str, Any]:
    from benchmarks.common import tau2_objects
    from slimline.chat_format import to_plain_messages
    from slimline.models import DEFAULT_BASE_MODEL, load_tokenizer
    from slimline.prompt import completion_messages, distilled_context, token_counter
    from slimline.split import split_by_conversation
    from slimline.tasks.collect.formats import from_chat_completion_pair
    from slimline.tasks.select.catalog import select_model
    from slimline.tasks.select.config import SelectConfig
    from slimline.tasks.train.dataset import build_dataset

    records = [
        from_chat_completion_pair(o, "tau2", f"line {i}") for i, o in enumerate(tau2_objects())
    ]
    tokenizer = load_tokenizer(DEFAULT_BASE_MODEL)
    by_agent: dict[str, list] = defaultdict(list)
    for r in records:
        by_agent[r.agent].append(r)
    result: dict[str, Any] = {"calls": len(records), "agents": {}}
    for agent, calls in sorted(by_agent.items()):
        train, held = split_by_conversation(calls, 0.2)
        context = distilled_context(calls)
        row: dict[str, Any] = {
            "calls": len(calls),
            "conversations": len({r.conversation_id for r in calls}),
            "train_calls": len(train),
            "eval_calls": len(held),
            "context_kb": round(len(context.text.encode()) / 1024, 1),
            "context_share": context.share,
        }
        build = build_dataset(calls, context, tokenizer, 768)
        row["window_768"] = {k: round(v, 1) for k, v in build.stats().items()}
        result["agents"][agent] = row
        w = row["window_768"]
        print(
            f"{agent:22s} {len(calls):4d} calls; tokens before: median "
            f"{w['tokens_before_median']:.0f}, p90 {w['tokens_before_p90']:.0f}; after (768): "
            f"median {w['tokens_after_median']:.0f}, p90 {w['tokens_after_p90']:.0f}; "
            f"dropped {w['dropped']:.0f}"
        )

    sample = records[::6]
    counter = token_counter(tokenizer)
    start = time.perf_counter()
    for r in sample:  # the naive baseline: every whole request through the chat template
        counter.exact(to_plain_messages(r.messages, r.tools) + completion_messages(r), False)
    baseline = time.perf_counter() - start
    fresh = load_tokenizer(DEFAULT_BASE_MODEL)  # no cached counts from the runs above
    start = time.perf_counter()
    for agent in by_agent:
        calls = [r for r in sample if r.agent == agent]
        build_dataset(calls, distilled_context(calls), fresh, 768)
    ours = time.perf_counter() - start
    result["speed"] = {
        "calls": len(sample),
        "naive_full_tokenization_s": round(baseline, 3),
        "build_dataset_s": round(ours, 3),
        "ratio_build_vs_naive": round(ours / baseline, 3),
        "build_ms_per_call": round(1000 * ours / len(sample), 2),
    }
    print(f"speed on {len(sample)} calls: {result['speed']}")
    chosen = select_model({"calls": len(records)}, 768, SelectConfig())
    result["selection"] = chosen.to_dict()
    print(f"selection: {chosen.entry.id} ({'; '.join(chosen.reasons)})")
    return result
