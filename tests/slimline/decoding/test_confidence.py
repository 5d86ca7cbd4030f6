"""The confidence signals on hand-made probabilities, and where a tool call's decisions sit."""

from __future__ import annotations

import math

import pytest

from slimline.decoding.confidence import (
    DEFAULT_SIGNAL,
    SIGNALS,
    confidence,
    token_spans,
    tool_value_char_spans,
)

PROBS = [0.9, 0.5, 0.99, 0.2, 0.8]


def test_signals_on_hand_made_probabilities():
    assert confidence(PROBS) == confidence(PROBS, signal="min_prob") == 0.2
    assert DEFAULT_SIGNAL == "min_prob"
    mean_log = sum(math.log(p) for p in PROBS) / 5
    assert confidence(PROBS, signal="mean_logprob") == pytest.approx(mean_log)
    assert confidence(PROBS, signal="geo_mean_prob") == pytest.approx(math.exp(mean_log))
    # only the tokens inside the spans count for the tool signals: 0.5 and 0.99
    spans = [(1, 3)]
    assert confidence(PROBS, spans, signal="tool_min_prob") == 0.5
    assert confidence(PROBS, spans, "tool_geo_mean_prob") == pytest.approx(math.sqrt(0.5 * 0.99))
    # without spans (a text answer) they fall back to all tokens
    assert confidence(PROBS, [], signal="tool_min_prob") == 0.2
    # overlapping and out-of-range spans count each token once
    assert confidence(PROBS, [(0, 2), (1, 2), (4, 99)], "tool_geo_mean_prob") == pytest.approx(
        (0.9 * 0.5 * 0.8) ** (1 / 3)
    )


def test_an_empty_answer_gets_the_lowest_confidence_and_zero_probabilities_stay_finite():
    for name in SIGNALS:
        expected = -math.inf if name == "mean_logprob" else 0.0
        assert confidence([], [], signal=name) == expected
    assert math.isfinite(confidence([0.0, 0.5], signal="mean_logprob"))


def test_an_unknown_signal_names_the_known_ones():
    with pytest.raises(ValueError, match="min_prob"):
        confidence(PROBS, signal="vibes")


def test_spans_of_names_and_argument_values_in_slimlines_format():
    text = (
        "Let me check.\n"
        '<tool_call>{"name": "get_booking", "arguments": {"id": 42, "opts": {"full": true}, '
        '"tags": ["a", ""], "note": null}}</tool_call>\n'
        '<tool_call>{"name": "cancel", "arguments": {}}</tool_call>'
    )
    found = [text[a:b] for a, b in tool_value_char_spans(text)]
    assert found == ["get_booking", "42", "true", "a", '""', "null", "cancel"]


def test_a_broken_or_cut_call_counts_whole_and_text_has_no_spans():
    assert tool_value_char_spans("just text, no calls") == []
    text = 'ok\n<tool_call>{"name": "get_booking", "arguments": {"id": 4'
    (span,) = tool_value_char_spans(text)
    assert text[span[0] : span[1]] == '{"name": "get_booking", "arguments": {"id": 4'


def test_token_spans_cover_every_token_touching_a_character_span():
    # tokens: "ab" "c" "de" "f"
    offsets = [(0, 2), (2, 3), (3, 5), (5, 6)]
    assert token_spans([(1, 4)], offsets) == [(0, 3)]
    assert token_spans([(5, 6), (2, 3)], offsets) == [(3, 4), (1, 2)]
    assert token_spans([(9, 10)], offsets) == []
