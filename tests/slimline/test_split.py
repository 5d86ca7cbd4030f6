"""Splits by conversation (slimline/split.py) on the real tau2 airline calls."""

from __future__ import annotations

import pytest

from slimline.split import split_by_conversation


def test_split_keeps_conversations_whole_and_is_deterministic(tau2_airline):
    train, held = split_by_conversation(tau2_airline, 0.2)
    train_convs = {r.conversation_id for r in train}
    held_convs = {r.conversation_id for r in held}
    assert train_convs and held_convs
    assert not train_convs & held_convs
    assert len(train) + len(held) == len(tau2_airline)
    assert split_by_conversation(tau2_airline, 0.2) == (train, held)
    assert [r.id for r in train] == [r.id for r in tau2_airline if r.conversation_id in train_convs]
    share = len(held_convs) / (len(train_convs) + len(held_convs))
    assert 0.05 < share < 0.45
    other_seed = {r.conversation_id for r in split_by_conversation(tau2_airline, 0.2, seed=1)[1]}
    assert other_seed != held_convs


def test_split_is_stable_as_conversations_arrive(tau2_airline):
    convs = sorted({r.conversation_id for r in tau2_airline})
    early = [r for r in tau2_airline if r.conversation_id in set(convs[: len(convs) // 2])]
    _, held_early = split_by_conversation(early, 0.3)
    _, held_all = split_by_conversation(tau2_airline, 0.3)
    early_convs = {r.conversation_id for r in early}
    assert {r.conversation_id for r in held_early} == {
        r.conversation_id for r in held_all if r.conversation_id in early_convs
    }


def test_split_puts_a_conversation_on_each_side(tau2_airline):
    two = sorted({r.conversation_id for r in tau2_airline})[:2]
    records = [r for r in tau2_airline if r.conversation_id in two]
    for fraction in (0.001, 0.999):
        train, held = split_by_conversation(records, fraction)
        assert len({r.conversation_id for r in train}) == 1
        assert len({r.conversation_id for r in held}) == 1
    with pytest.raises(ValueError):
        split_by_conversation(records, 1.5)


def test_three_way_split_keeps_the_held_out_side_and_divides_it(tau2_airline):
    from slimline.split import split_three

    train, calibration, test = split_three(tau2_airline, 0.4, 0.5)
    _, held = split_by_conversation(tau2_airline, 0.4)
    assert train == split_by_conversation(tau2_airline, 0.4)[0]
    assert sorted(r.id for r in calibration + test) == sorted(r.id for r in held)
    sides = [{r.conversation_id for r in side} for side in (train, calibration, test)]
    assert all(sides) and not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    assert split_three(tau2_airline, 0.4, 0.5) == (train, calibration, test)  # stable
    with pytest.raises(ValueError):
        split_three(tau2_airline, 0.4, 1.5)
