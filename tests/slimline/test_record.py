"""CallRecord: content ids, validation errors that name the field."""

from datetime import datetime

import pytest

from slimline.record import CallRecord, InvalidRecord, parse_record

BASE = {
    "source": "test",
    "agent": "a",
    "timestamp": "2025-01-01T00:00:00",
    "model": "gpt-4.1",
    "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
    "response": {"role": "assistant", "content": "hello"},
}


def test_id_is_a_content_hash():
    a = CallRecord.build(**BASE)
    b = CallRecord.build(**{**BASE, "source": "elsewhere", "timestamp": "2026-01-01T00:00:00"})
    c = CallRecord.build(**{**BASE, "response": {"role": "assistant", "content": "hey"}})
    assert a.id == b.id  # same request and response: same call, wherever it was logged
    assert a.id != c.id
    assert len(a.id) == 32


def test_the_same_call_made_twice_is_two_records():
    once = CallRecord.build(occurrence="2025-01-01T00:00:00|sim-1", **BASE)
    again = CallRecord.build(occurrence="2025-01-01T00:00:00|sim-1", **BASE)
    other = CallRecord.build(occurrence="2025-01-02T00:00:00|sim-2", **BASE)
    assert once.id == again.id and once.id != other.id


def test_conversation_id_derived_from_prefix_when_absent():
    first = CallRecord.build(**BASE)
    later = CallRecord.build(
        **{
            **BASE,
            "messages": [
                *BASE["messages"],
                {"role": "assistant", "content": "x"},
                {"role": "user", "content": "more"},
            ],
        }
    )
    assert first.conversation_id == later.conversation_id
    assert CallRecord.build(**BASE, conversation_id="sim-1").conversation_id == "sim-1"


def test_naive_timestamps_become_utc():
    rec = CallRecord.build(**BASE)
    assert rec.timestamp.tzinfo is not None
    assert rec.timestamp.utcoffset().total_seconds() == 0
    assert rec.timestamp == datetime.fromisoformat("2025-01-01T00:00:00+00:00")


def test_errors_name_the_record_and_the_field():
    bad = {**BASE, "messages": [{"role": "robot", "content": "hi"}]}
    with pytest.raises(InvalidRecord) as info:
        CallRecord.build(where="calls.jsonl line 7", **bad)
    assert "calls.jsonl line 7" in str(info.value)
    assert "role" in str(info.value)

    rec = CallRecord.build(**BASE).model_dump()
    rec["cost_usd"] = -1
    with pytest.raises(InvalidRecord, match="field 'cost_usd'"):
        parse_record(rec, "record X")


def test_response_must_come_from_the_assistant():
    with pytest.raises(InvalidRecord, match="assistant"):
        CallRecord.build(**{**BASE, "response": {"role": "user", "content": "?"}})


def test_tool_calls_round_trip_through_json():
    rec = CallRecord.build(
        **{
            **BASE,
            "response": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_user", "arguments": '{"user_id": "u1"}'},
                    }
                ],
            },
        }
    )
    again = parse_record(rec.model_dump(mode="json"))
    assert again == rec
    assert again.is_tool_call
