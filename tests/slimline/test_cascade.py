"""The cascade's arithmetic on hand-made answers: the calibrated threshold, its guard against
tiny samples, what a threshold serves, the curve and the AUROC."""

from __future__ import annotations

import json

import pytest

from slimline.cascade import (
    Scored,
    auroc,
    calibrate,
    curve,
    serve_at,
    wilson_lower,
)


def answers(*spec: tuple[float, bool], servable: bool = True) -> list[Scored]:
    return [Scored(confidence=c, servable=servable, agrees=ok) for c, ok in spec]


# confident and right on the top six, then a mix: the threshold belongs between them
RANKED = answers(
    (0.99, True), (0.97, True), (0.95, True), (0.93, True), (0.91, True), (0.90, True),
    (0.80, False), (0.75, True), (0.70, False), (0.60, False), (0.50, True), (0.40, False),
)  # fmt: skip


def test_the_threshold_is_the_lowest_that_reaches_the_target():
    t = calibrate(RANKED, target=0.9, min_served=5)
    # at 0.75 the top eight hold 7 right (0.875 < 0.9); at 0.80, 6 of 7 (0.857); at 0.90, 6/6
    assert t.value == 0.90 and t.served == 6 and t.agreement == 1.0
    assert "6 of 12 calibration calls served" in t.reason
    lower = calibrate(RANKED, target=0.85, min_served=5)
    assert lower.value == 0.75 and lower.served == 8  # 7 of 8 = 0.875


def test_a_tiny_sample_never_sets_a_threshold():
    few = answers((0.99, True), (0.98, True), (0.5, False))
    t = calibrate(few, target=0.9, min_served=5)
    assert t.value is None and "fewer than the 5 needed" in t.reason
    # the Wilson bound asks for more evidence than the point estimate
    assert calibrate(RANKED, target=0.9, min_served=5, rule="point").value == 0.90
    strict = calibrate(RANKED, target=0.9, min_served=5, rule="wilson")
    assert strict.value is None  # 6 of 6 right: its lower bound is only about 0.67
    assert wilson_lower(6, 6) == pytest.approx(0.689, abs=0.01)
    assert wilson_lower(60, 60) > 0.95


def test_nothing_reaches_the_target():
    wrong = answers(*[(1 - i / 20, i % 2 == 0) for i in range(10)])
    t = calibrate(wrong, target=0.9, min_served=5)
    assert t.value is None and "no threshold reaches 0.90" in t.reason


def test_ties_are_served_together():
    tied = answers((0.9, True), (0.9, True), (0.9, False), (0.9, True), (0.9, True), (0.9, True))
    t = calibrate(tied, target=0.8, min_served=5)
    assert t.value == 0.9 and t.served == 6  # never "5 of the 6 tied answers"


def test_what_a_threshold_serves_and_the_unservable_answers():
    text = answers((0.99, True), (0.98, True), servable=False)  # text answers: never served
    s = serve_at(RANKED + text, 0.90)
    assert (s.calls, s.served, s.agreed) == (14, 6, 6)
    assert s.coverage == pytest.approx(6 / 14) and s.agreement == 1.0
    none = serve_at(RANKED, None)
    assert none.served == 0 and none.coverage == 0.0 and none.agreement is None


def test_curve_and_auroc():
    points = curve(RANKED)
    assert points[0] == (0.99, pytest.approx(1 / 12), 1.0)
    assert points[-1][1] == pytest.approx(1.0)  # the lowest threshold serves everything
    assert [p[1] for p in points] == sorted(p[1] for p in points)  # coverage grows
    assert auroc(RANKED) == pytest.approx(28 / 32)  # 8 right x 4 wrong pairs, 4 inverted
    assert auroc(answers((0.1, True), (0.9, False))) == 0.0
    assert auroc(answers((0.5, True))) is None


def test_only_valid_tool_calls_within_the_tools_are_servable_and_text_needs_a_target():
    from slimline.cascade import servable
    from slimline.chat_format import parse_response

    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_user",
                "parameters": {
                    "type": "object",
                    "properties": {"user_id": {"type": "string"}},
                    "required": ["user_id"],
                },
            },
        }
    ]
    good = parse_response(
        '<tool_call>{"name": "get_user", "arguments": {"user_id": "u1"}}</tool_call>'
    )
    missing = parse_response('<tool_call>{"name": "get_user", "arguments": {}}</tool_call>')
    outside = parse_response('<tool_call>{"name": "drop_table", "arguments": {}}</tool_call>')
    broken = parse_response('<tool_call>{"name": "get_user", "argu')
    text = parse_response("Sure, what is your user id?")
    assert servable(good, tools, None)
    assert not servable(missing, tools, None) and not servable(outside, tools, None)
    assert not servable(broken, tools, None)
    assert not servable(good, [], None)  # a request without tools gets no tool call
    assert not servable(text, tools, None) and servable(text, tools, 0.8)
    assert not servable(parse_response("  "), tools, 0.8)


def test_an_identifier_the_request_does_not_hold_is_never_served():
    from slimline.cascade import servable, uncopied
    from slimline.chat_format import parse_response
    from slimline.record import CallRecord, Message

    tools = [
        {
            "type": "function",
            "function": {
                "name": "find_customer",
                "parameters": {
                    "type": "object",
                    "properties": {"phone": {"type": "string"}, "tier": {"type": "string"}},
                    "required": ["phone"],
                },
            },
        }
    ]
    request = CallRecord(
        id="c1",
        source="test",
        agent="bank-desk",
        timestamp="2026-12-04T00:00:00Z",
        model="gpt-4.1-mini",
        conversation_id="conv-1",
        messages=[
            Message(role="system", content="You help Ngozi Adeyemi-Okafor's bank."),
            Message(role="user", content="Hi, my number is 0803 555 7712, tier gold."),
        ],
        tools=tools,
        response=Message(role="assistant", content="..."),
    )

    def answer(phone: str, tier: str = "gold") -> object:
        call = {"name": "find_customer", "arguments": {"phone": phone, "tier": tier}}
        return parse_response(f"<tool_call>{json.dumps(call)}</tool_call>")

    copied = answer("0803 555 7712")
    remembered = answer("564-782-9560")  # a value from other calls, not from this one
    assert uncopied(copied, request) == [] and servable(copied, tools, None, request)
    assert uncopied(remembered, request) == ["564-782-9560"]
    assert not servable(remembered, tools, None, request)
    assert servable(remembered, tools, None)  # without the request, only the schema counts
    # words and short values are not identifiers: "platinum" need not be copied
    assert uncopied(answer("0803 555 7712", "platinum"), request) == []
