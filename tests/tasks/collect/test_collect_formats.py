"""Shapes of a logged call -> CallRecord: tau2 pairs, fine-tuning chat lines, detection."""

from __future__ import annotations

import json

import pytest

from slimline.record import CallRecord, InvalidRecord
from slimline.tasks.collect.formats import (
    RecordBuilder,
    from_chat_completion_pair,
    from_finetune_chat,
)
from slimline.tasks.collect.parse import parse_object

CHAT = {
    "messages": [
        {"role": "system", "content": "You book trains."},
        {"role": "user", "content": "Zürich to Bern tomorrow at 9, please."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "find_trains", "arguments": '{"from": "Zürich"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": '[{"dep": "09:02"}]'},
        {"role": "assistant", "content": "The 09:02 train it is.", "weight": 1},
    ],
    "tools": [{"type": "function", "function": {"name": "find_trains", "parameters": {}}}],
}


def test_the_cached_builder_makes_the_records_call_record_build_makes(tau2_sample):
    fast, forgetful = RecordBuilder(), RecordBuilder(max_bytes=1)  # the latter: cache cleared
    for n, line in enumerate(tau2_sample, 1):
        a = from_chat_completion_pair(json.loads(line), "f", f"line {n}", fast)
        b = from_chat_completion_pair(json.loads(line), "f", f"line {n}")  # CallRecord.build
        c = from_chat_completion_pair(json.loads(line), "f", f"line {n}", forgetful)
        assert a == b == c
    timed = {**CHAT, "timestamp": "2026-02-03T04:05:06Z", "agent": "trains"}
    assert from_finetune_chat(timed, "f", "line 1", fast) == from_finetune_chat(timed, "f", "x")
    a, b = from_finetune_chat(CHAT, "f", "line 1", fast), from_finetune_chat(CHAT, "f", "x")
    assert a.model_dump(exclude={"timestamp"}) == b.model_dump(exclude={"timestamp"})


def test_finetune_chat_splits_the_answer_from_the_request():
    rec = from_finetune_chat(CHAT, "ft.jsonl", "line 1")
    assert [m.role for m in rec.messages] == ["system", "user", "assistant", "tool"]
    assert rec.response.content == "The 09:02 train it is."
    assert rec.response.model_extra == {"weight": 1}  # kept, nothing the source sent is lost
    assert rec.tools[0]["function"]["name"] == "find_trains"
    assert rec.conversation_id.startswith("conv-")  # derived: the line names none
    again = from_finetune_chat(json.loads(json.dumps(CHAT)), "other.jsonl", "line 9")
    assert again.id == rec.id  # the same call exported twice is one call


def test_finetune_chat_takes_legacy_functions_and_a_named_conversation():
    obj = {
        "messages": [*CHAT["messages"][:2], {"role": "assistant", "content": "ok"}],
        "functions": [{"name": "find_trains", "parameters": {}}],
        "conversation_id": "c-42",
    }
    rec = from_finetune_chat(obj, "ft.jsonl", "line 3")
    assert rec.tools == [
        {"type": "function", "function": {"name": "find_trains", "parameters": {}}}
    ]
    assert rec.conversation_id == "c-42"


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, "needs the request's messages"),
        (
            {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]},
            "the last message must be the assistant's answer, got 'user'",
        ),
        (
            {
                "messages": [
                    {"role": "wizard", "content": "a"},
                    {"role": "assistant", "content": "b"},
                ]
            },
            "field 'messages.0.role'",
        ),
        (
            {"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "b"}]},
            "field 'messages.0.content",
        ),
    ],
)
def test_bad_chat_lines_name_the_line_and_the_field(obj, expected):
    for builder in (RecordBuilder(), None):
        with pytest.raises(InvalidRecord) as info:
            from_finetune_chat(obj, "ft.jsonl", "line 7", builder)
        assert str(info.value).startswith("line 7: ")
        assert expected in str(info.value)


def test_bad_pairs_name_the_missing_field(tau2_sample):
    obj = json.loads(tau2_sample[0])
    del obj["response"]["choices"]
    with pytest.raises(InvalidRecord, match=r"line 2, response: field 'choices': missing"):
        from_chat_completion_pair(obj, "f", "line 2", RecordBuilder())
    obj = json.loads(tau2_sample[0])
    obj["timestamp"] = "yesterday-ish"
    with pytest.raises(InvalidRecord, match=r"line 3: field 'timestamp': not a time"):
        from_chat_completion_pair(obj, "f", "line 3", RecordBuilder())


def test_the_format_is_detected_per_object(tau2_sample):
    builder = RecordBuilder()
    pair = parse_object(json.loads(tau2_sample[0]), "mixed", "line 1", builder)
    chat = parse_object(CHAT, "mixed", "line 2", builder)
    assert len(pair.records) == 1 and len(chat.records) == 1 and not pair.problems
    unknown = parse_object({"prompt": "hi", "completion": "yo"}, "mixed", "line 3", builder)
    assert not unknown.records
    (problem,) = unknown.problems
    assert problem.location == "line 3"
    assert "unknown format" in problem.reason and "completion, prompt" in problem.reason
    assert (
        parse_object([1, 2], "mixed", "line 4", builder)
        .problems[0]
        .reason.startswith("unknown format (list)")
    )


def test_records_are_plain_call_records(tau2_sample):
    rec = from_chat_completion_pair(json.loads(tau2_sample[0]), "f", "line 1", RecordBuilder())
    assert isinstance(rec, CallRecord)
    assert CallRecord.model_validate(rec.model_dump()) == rec
