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


def _lower_side(records: list[CallRecord], fraction: float, seed: int, name: str) -> set[str]:
    """The conversations whose score is below `fraction`; with two or more conversations and
    0 < fraction < 1 neither side is empty (the lowest-scoring one joins, or the highest
    leaves)."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"{name} must be within [0, 1], got {fraction}")
    scores = {c: _unit_score(c, seed) for c in {r.conversation_id for r in records}}
    lower = {c for c, s in scores.items() if s < fraction}
    if len(scores) >= 2 and 0.0 < fraction < 1.0:
        ranked = sorted(scores, key=lambda c: (scores[c], c))
        if not lower:
            lower = {ranked[0]}
        elif len(lower) == len(scores):
            lower.discard(ranked[-1])
    return lower


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
    held = _lower_side(records, eval_fraction, seed, "eval_fraction")
    train = [r for r in records if r.conversation_id not in held]
    evaluation = [r for r in records if r.conversation_id in held]
    return train, evaluation


def split_three(
    records: list[CallRecord], heldout_fraction: float, calibration_share: float, seed: int = 0
) -> tuple[list[CallRecord], list[CallRecord], list[CallRecord]]:
    """(train, calibration, test), every conversation wholly on one side.

    The held-out side is exactly `split_by_conversation`'s (so the adapter never trained on
    it); `calibration_share` of its conversations, chosen by the same hash, calibrate the
    confidence threshold and the rest test it. With two or more held-out conversations and
    0 < calibration_share < 1 each of the two gets at least one; a lone held-out conversation
    is a test one (a threshold nobody can test is of no use).
    """
    train, held = split_by_conversation(records, heldout_fraction, seed)
    calibration = _lower_side(held, calibration_share, seed + 1, "calibration_share")
    if len({r.conversation_id for r in held}) == 1 and calibration_share < 1.0:
        calibration = set()
    return (
        train,
        [r for r in held if r.conversation_id in calibration],
        [r for r in held if r.conversation_id not in calibration],
    )
