"""slimline's text format for tools and tool calls: rendering and reading back."""

from __future__ import annotations

import gzip
import itertools
import json

import pytest

from slimline import chat_format as cf
from slimline.record import Message
from slimline.tasks.collect.formats import from_chat_completion_pair


@pytest.fixture(scope="module")
def tau2_records(tau2_path):
    with gzip.open(tau2_path, "rt") as f:
        lines = list(itertools.islice(f, 0, 1908, 6))  # every sixth call: all four agents
    return [
        from_chat_completion_pair(json.loads(x), "tau2", f"line {i}") for i, x in enumerate(lines)
    ]


def _call(name: str, arguments: str, content: str | None = None) -> Message:
    return Message(
        role="assistant",
        content=content,
        tool_calls=[{"id": "c1", "function": {"name": name, "arguments": arguments}}],
    )


def test_teacher_responses_round_trip(tau2_records):
    kinds = set()
    for record in tau2_records:
        text = cf.assistant_text(record.response)
        parsed = cf.parse_response(text)
        assert parsed.tool_calls == cf.reference_calls(record.response), record.id
        assert parsed.text == record.response.text().strip()
        assert parsed.all_calls_valid
        assert parsed.is_tool_call == record.is_tool_call
        kinds.add(record.is_tool_call)
    assert kinds == {True, False}


def test_text_and_several_calls_round_trip():
    message = Message(
        role="assistant",
        content="Let me check both.",
        tool_calls=[
            {"function": {"name": "get_user", "arguments": '{"user_id": "ana_1"}'}},
            {"function": {"name": "get_order", "arguments": '{"id": "#W1", "deep": {"a": [1]}}'}},
        ],
    )
    text = cf.assistant_text(message)
    assert text.splitlines()[0] == "Let me check both."
    assert text.count(cf.TOOL_CALL_OPEN) == 2
    parsed = cf.parse_response(text)
    assert parsed.text == "Let me check both."
    assert parsed.tool_calls == [
        {"name": "get_user", "arguments": {"user_id": "ana_1"}},
        {"name": "get_order", "arguments": {"id": "#W1", "deep": {"a": [1]}}},
    ]
    assert cf.assistant_text(_call("ping", "")) == (
        '<tool_call>{"name": "ping", "arguments": {}}</tool_call>'
    )


@pytest.mark.parametrize(
    ("text", "valid", "invalid"),
    [
        ("<tool_call>{not json}</tool_call>", 0, 1),
        ('<tool_call>{"arguments": {}}</tool_call>', 0, 1),  # no name
        ('<tool_call>["get_user"]</tool_call>', 0, 1),  # not an object
        ('<tool_call>{"name": "f", "arguments": "{broken"}</tool_call>', 0, 1),
        ("<tool_call></tool_call>", 0, 1),
        ('<tool_call>{"name": "f", "arguments": {"a": 1}}', 1, 0),  # unclosed, at the end
        ('<tool_call>{"name": "f", "arguments": "{\\"a\\": 1}"}</tool_call>', 1, 0),  # str args
        ('<tool_call>{"name": "f"} trailing words</tool_call>', 1, 0),
        ('<tool_call>{"name": "f", "arguments": {}}<tool_call>{"name": "g"}</tool_call>', 2, 0),
        ('<tool_call>{"name": "f"}</tool_call><tool_call>{oops</tool_call>', 1, 1),
    ],
)
def test_malformed_blocks_are_counted_invalid(text, valid, invalid):
    parsed = cf.parse_response(text)
    assert len(parsed.tool_calls) == valid
    assert parsed.invalid_calls == invalid
    assert parsed.all_calls_valid == (invalid == 0)
    assert parsed.is_tool_call


def test_unclosed_call_before_another_keeps_both():
    parsed = cf.parse_response(
        '<tool_call>{"name": "f", "arguments": {"x": 1}}\n<tool_call>{"name": "g"}</tool_call>'
    )
    assert [c["name"] for c in parsed.tool_calls] == ["f", "g"]
    assert parsed.tool_calls[0]["arguments"] == {"x": 1}
    assert parsed.tool_calls[1]["arguments"] == {}


def test_plain_text_is_not_a_tool_call():
    parsed = cf.parse_response("  Your flight is confirmed.  ")
    assert parsed.text == "Your flight is confirmed."
    assert not parsed.is_tool_call and parsed.tool_calls == []


def test_plain_messages_carry_tools_in_the_system_message(tau2_records):
    record = tau2_records[0]
    plain = cf.to_plain_messages(record.messages, record.tools)
    assert plain[0]["role"] == "system"
    system, tools = plain[0]["content"].split("\n\n" + cf.TOOLS_HEADER + "\n")
    assert system == record.messages[0].text().strip()
    lines = tools.splitlines()
    assert [json.loads(x)["name"] for x in lines] == [t["function"]["name"] for t in record.tools]
    assert {m["role"] for m in plain} <= {"system", "user", "assistant", "tool"}
    assert len(plain) == len(record.messages)
    for original, mine in zip(record.messages, plain, strict=True):
        if original.role == "assistant":
            assert mine["content"] == cf.assistant_text(original)
        elif original.role != "system":
            assert mine["content"] == original.text()


def test_system_override_and_a_missing_system_message():
    tools = [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {}}}]
    messages = [Message(role="user", content="hi")]
    assert cf.to_plain_messages(messages, tools)[0] == {
        "role": "system",
        "content": '# Tools\n{"name":"f","description":"d","parameters":{}}',
    }
    assert cf.to_plain_messages(messages, tools, system_override="") == [
        {"role": "user", "content": "hi"}
    ]
    with_system = [Message(role="developer", content="Be brief."), *messages]
    assert cf.to_plain_messages(with_system, [], system_override="X")[0] == {
        "role": "system",
        "content": "X",
    }
    assert cf.to_plain_messages(with_system, [])[0]["content"] == "Be brief."
    assert cf.to_plain_messages([Message(role="user", content="hi")], []) == [
        {"role": "user", "content": "hi"}
    ]
