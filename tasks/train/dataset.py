"""The SFT dataset of one cluster: TRL's conversational prompt-completion examples.

An example is `prompt` = the request's messages as slimline/prompt.py builds them (the
distilled context left out, the history compacted to the training window), `completion` =
the teacher's response as one assistant message, so the loss falls on the completion only.
Evaluation and serving build prompts with the same functions and the same `reserve`, so an
adapter sees at evaluation and in serving exactly the prompt it was trained on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from slimline.prompt import (
    DEFAULT_RESERVE,
    EMPTY_TURN,
    DistilledContext,
    completion_messages,
    fit_prompt,
    plain_prompt,
    token_counter,
)
from slimline.record import CallRecord, canonical_json, content_hash


def _median(values: list[int]) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    mid = len(s) // 2
    return float(s[mid]) if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def _p90(values: list[int]) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return float(s[max(0, math.ceil(0.9 * len(s)) - 1)])


@dataclass
class DatasetBuild:
    """A cluster's SFT examples and what compaction did to them."""

    examples: list[dict[str, list[dict[str, str]]]]  # {"prompt": [...], "completion": [...]}
    record_ids: list[str]  # the record behind each example, in order
    digest: str  # content hash of the examples
    max_seq_len: int
    context_hash: str | None
    tokens_before: list[int] = field(repr=False, default_factory=list)  # full request + response
    tokens_after: list[int] = field(repr=False, default_factory=list)  # prompt + completion
    dropped: int = 0  # examples whose completion alone does not fit max_seq_len
    dropped_ids: list[str] = field(default_factory=list)
    distilled: int = 0  # examples whose prompt left the distilled context out
    trimmed: int = 0  # examples whose history was trimmed or cut

    @property
    def tokens_before_median(self) -> float:
        return _median(self.tokens_before)

    @property
    def tokens_before_p90(self) -> float:
        return _p90(self.tokens_before)

    @property
    def tokens_after_median(self) -> float:
        return _median(self.tokens_after)

    @property
    def tokens_after_p90(self) -> float:
        return _p90(self.tokens_after)

    @property
    def tokens_after_max(self) -> int:
        return max(self.tokens_after, default=0)

    def stats(self) -> dict[str, float]:
        """Figures to log (MLflow metrics, reports)."""
        return {
            "examples": len(self.examples),
            "dropped": self.dropped,
            "distilled": self.distilled,
            "trimmed": self.trimmed,
            "tokens_before_median": self.tokens_before_median,
            "tokens_before_p90": self.tokens_before_p90,
            "tokens_after_median": self.tokens_after_median,
            "tokens_after_p90": self.tokens_after_p90,
            "tokens_after_max": self.tokens_after_max,
        }


def build_dataset(
    records: list[CallRecord],
    context: DistilledContext | None,
    tokenizer: Any,
    max_seq_len: int,
    reserve: int = DEFAULT_RESERVE,
) -> DatasetBuild:
    """One example per record, each fitting `max_seq_len` tokens under the chat template.

    Prompts are built with `reserve` (as evaluation and serving build them); a completion
    longer than the reserve takes the room it needs from the history instead. A record whose
    completion cannot fit even beside the shortest prompt is dropped and counted.
    """
    counter = token_counter(tokenizer)
    examples, ids, before, after, dropped_ids = [], [], [], [], []
    distilled = trimmed = 0
    for record in records:
        completion = completion_messages(record)
        plain, left_out = plain_prompt(record, context)
        full = counter.estimate(plain) + counter.estimate(completion) + counter.fixed
        if left_out and context is not None and context.text:
            full += counter.text(context.text) + counter.per_message
        need = counter.estimate(completion)
        try:
            prompt = fit_prompt(plain, record, tokenizer, max_seq_len, max(reserve, need))
            total = counter.exact(prompt + completion, generation_prompt=False)
            if total > max_seq_len:  # the estimate of the completion fell short
                extra = max(reserve, need) + total - max_seq_len
                prompt = fit_prompt(plain, record, tokenizer, max_seq_len, extra)
                total = counter.exact(prompt + completion, generation_prompt=False)
            if total > max_seq_len:
                raise ValueError(f"record {record.id}: {total} tokens after compaction")
        except ValueError:
            dropped_ids.append(record.id)
            continue
        distilled += bool(left_out and context is not None and context.text)
        trimmed += prompt != (plain or [EMPTY_TURN])
        examples.append({"prompt": prompt, "completion": completion})
        ids.append(record.id)
        before.append(full)
        after.append(total)
    return DatasetBuild(
        examples=examples,
        record_ids=ids,
        digest=content_hash(canonical_json(examples)),
        max_seq_len=max_seq_len,
        context_hash=context.hash if context is not None else None,
        tokens_before=before,
        tokens_after=after,
        dropped=len(dropped_ids),
        dropped_ids=dropped_ids,
        distilled=distilled,
        trimmed=trimmed,
    )
