"""Splits of a cluster's calls by conversation, the same on every night.

Each call repeats its conversation so far (FACTS.md), so a split by call would leak the
answers of held-out calls into training: every conversation goes wholly to one side,
decided by a hash of its id and a seed, so its side never changes as new conversations
arrive night after night.
"""

from __future__ import annotations

from slimline.record import CallRecord, content_hash


def _unit_score(conversation_id: str, seed: int) -> float:
    """A conversation's place in [0, 1): fixed for a given id and seed."""
    return int(content_hash(f"{seed}:{conversation_id}")[:13], 16) / 16**13


def split_by_conversation(
    records: list[CallRecord], eval_fraction: float, seed: int = 0
) -> tuple[list[CallRecord], list[CallRecord]]:
    """(train, eval): every conversation wholly on one side, decided by a hash of its id.

    A conversation goes to eval when its score (hash of seed and conversation id) is below
    `eval_fraction`, so its side never changes as new conversations arrive night after night.
    With two or more conversations and 0 < eval_fraction < 1 each side gets at least one
    (the lowest-scoring conversation moves to eval, or the highest to train). Record order
    is kept on both sides.
    """
    if not 0.0 <= eval_fraction <= 1.0:
        raise ValueError(f"eval_fraction must be within [0, 1], got {eval_fraction}")
    scores = {c: _unit_score(c, seed) for c in {r.conversation_id for r in records}}
    held = {c for c, s in scores.items() if s < eval_fraction}
    if len(scores) >= 2 and 0.0 < eval_fraction < 1.0:
        ranked = sorted(scores, key=lambda c: (scores[c], c))
        if not held:
            held = {ranked[0]}
        elif len(held) == len(scores):
            held.discard(ranked[-1])
    train = [r for r in records if r.conversation_id not in held]
    evaluation = [r for r in records if r.conversation_id in held]
    return train, evaluation
