"""Greedy, batched decoding of prompts with a causal LM (left padding), timed.

The prompts arrive as chat messages (role/content, the exact prompt training used); the
tokenizer's chat template renders them with the generation prompt appended. Prompts are
sorted by length before batching so that a batch pads little; results come back in the
order of the prompts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any


@dataclass
class Generation:
    """The completions of one model on a list of prompts, and how long they took."""

    texts: list[str]
    new_tokens: list[int]
    seconds: float

    @property
    def latency_ms(self) -> float:
        """Wall time per call (batched), in milliseconds."""
        return 1000.0 * self.seconds / max(len(self.texts), 1)

    @property
    def tokens_per_s(self) -> float:
        return sum(self.new_tokens) / self.seconds if self.seconds > 0 else 0.0


def render_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """The prompt text: the chat template with the generation prompt appended."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def stop_token_ids(tokenizer: Any) -> list[int]:
    """EOS and the chat template's end-of-turn token, when it has one."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    for marker in ("<|im_end|>", "<|eot_id|>", "<|end|>"):
        token_id = tokenizer.convert_tokens_to_ids(marker)
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id and token_id >= 0:
            ids.add(token_id)
    return sorted(ids)


def generate(
    model: Any,
    tokenizer: Any,
    prompts: list[list[dict[str, str]]],
    *,
    max_new_tokens: int,
    batch_size: int,
) -> Generation:
    """Greedy completions of `prompts` (chat messages each), `batch_size` at a time."""
    import torch

    texts = [render_prompt(tokenizer, p) for p in prompts]
    lengths = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    outputs: list[str] = [""] * len(texts)
    counts: list[int] = [0] * len(texts)
    stops = stop_token_ids(tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]
    previous_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    model.eval()
    device = next(model.parameters()).device
    started = time.perf_counter()
    try:
        for start in range(0, len(order), max(batch_size, 1)):
            batch = order[start : start + max(batch_size, 1)]
            enc = tokenizer(
                [texts[i] for i in batch],
                return_tensors="pt",
                padding=True,
                add_special_tokens=False,
            ).to(device)
            with torch.inference_mode():
                out = model.generate(
                    **enc,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    num_beams=1,
                    pad_token_id=pad_id,
                    eos_token_id=stops,
                )
            new = out[:, enc["input_ids"].shape[1] :]
            for row, i in enumerate(batch):
                ids = new[row].tolist()
                end = next((k for k, t in enumerate(ids) if t in stops), len(ids))
                counts[i] = end
                outputs[i] = tokenizer.decode(ids[:end], skip_special_tokens=True)
    finally:
        tokenizer.padding_side = previous_side
    return Generation(outputs, counts, time.perf_counter() - started)
