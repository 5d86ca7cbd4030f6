"""Fixtures of the decoding tests (registered by conftest.py), built once per session:

- `tiny`: (model, tokenizer) of the session's `tiny_base` (a tiny random Llama, SmolLM2's
  tokenizer);
- `tool_caller`: the same tiny model trained for a few seconds to answer in slimline's tool
  call format, where the verb of the prompt picks a call that the BOOKING_TOOLS allow
  ("look up") or one they forbid (an unknown name, a wrong type, a missing required key):
  unconstrained it writes invalid calls, so the constraint tests could fail;
- `smol_tokenizer`: the real SmolLM2 tokenizer.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

STEPS = 60

BOOKING_TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_booking",
            "parameters": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "mode": {"type": "string", "enum": ["short", "full"]},
                },
                "required": ["id"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "cancel_booking",
            "parameters": {
                "properties": {"reason": {"type": "string"}, "refund": {"type": "boolean"}},
                "required": ["reason", "refund"],
            },
        },
    },
]


def _call(name: str, arguments: str) -> str:
    return f'<tool_call>{{"name": "{name}", "arguments": {arguments}}}</tool_call>'


# verb -> the answer the tool caller learns for "<verb> booking <n>"
LESSONS = {
    "Look up": lambda n: _call("get_booking", f'{{"id": {n}}}'),
    "Fetch": lambda n: _call("fetch_booking", f'{{"id": {n}}}'),  # not a tool
    "Find": lambda n: _call("get_booking", f'{{"id": "{n}"}}'),  # a string, not an integer
    "Check": lambda n: _call("get_booking", '{"mode": "full"}'),  # "id" is required
    "Cancel": lambda n: (
        "I will cancel it.\n" + _call("cancel_booking", f'{{"reason": "{n}", "refund": "yes"}}')
    ),  # not a boolean
    "Greet": lambda n: f"Hello! Booking {n} is fine.",
}


def booking_prompt(verb: str, n: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"{verb} booking {n}."}]


@pytest.fixture(scope="session")
def tiny(tiny_base):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_base), AutoTokenizer.from_pretrained(tiny_base)


@pytest.fixture(scope="session")
def smol_tokenizer():
    from slimline.models import DEFAULT_BASE_MODEL, load_tokenizer

    return load_tokenizer(DEFAULT_BASE_MODEL)


@pytest.fixture(scope="session")
def tool_caller(tiny_base):
    """(model, tokenizer): the tiny model after STEPS AdamW steps on LESSONS."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from slimline.decoding import render_prompt

    tok = AutoTokenizer.from_pretrained(tiny_base)
    model = AutoModelForCausalLM.from_pretrained(tiny_base)
    end = tok.convert_tokens_to_ids("<|im_end|>")
    rng = random.Random(0)
    examples = []
    for _ in range(256):
        verb, n = rng.choice(list(LESSONS)), rng.randrange(10, 999)
        prompt = tok(render_prompt(tok, booking_prompt(verb, n)), add_special_tokens=False)
        answer = tok(LESSONS[verb](n), add_special_tokens=False)["input_ids"] + [end]
        examples.append((prompt["input_ids"], answer))
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for step in range(STEPS):
        batch = examples[(step * 8) % len(examples) :][:8]
        width = max(len(p) + len(a) for p, a in batch)
        ids = torch.full((len(batch), width), tok.pad_token_id)
        for row, (p, a) in enumerate(batch):
            ids[row, : len(p) + len(a)] = torch.tensor(p + a)
        hidden = model.model(input_ids=ids).last_hidden_state
        # logits only where an answer token is predicted: the vocabulary is 49k wide
        rows = [(row, len(p) - 1 + k) for row, (p, a) in enumerate(batch) for k in range(len(a))]
        where = torch.tensor(rows)
        logits = model.lm_head(hidden[where[:, 0], where[:, 1]])
        targets = torch.tensor([t for _, a in batch for t in a])
        torch.nn.functional.cross_entropy(logits, targets).backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    return model, tok
