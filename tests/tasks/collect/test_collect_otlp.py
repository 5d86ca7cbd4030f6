"""OpenTelemetry GenAI spans -> CallRecords, in every form the conventions have had."""

from __future__ import annotations

import json

from collect_otlp_data import (
    TRACE,
    current_span,
    export,
    flattened_span,
    old_events_span,
    oldest_span,
    span,
)

from slimline.tasks.collect.formats import RecordBuilder
from slimline.tasks.collect.otlp import records_from_otlp
from slimline.tasks.collect.parse import parse_object


def parse(doc):
    return records_from_otlp(doc, "traces.jsonl", "line 1", RecordBuilder())


def test_a_current_conventions_span_becomes_a_full_record():
    out = parse(export(current_span()))
    assert not out.problems and out.skipped == 0
    (rec,) = out.records
    assert [m.role for m in rec.messages] == ["system", "user", "assistant", "tool"]
    assert rec.messages[0].content == "You are a weather bot."
    call = rec.messages[2].tool_calls[0]
    assert call.id == "call_1" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    assert rec.messages[3].tool_call_id == "call_1" and rec.messages[3].content == "rainy, 57°F"
    assert rec.response.content == "It is rainy in Paris, 57°F."
    assert rec.tools[0]["function"]["name"] == "get_weather"
    assert rec.agent == "travel-agent"  # service.name; gen_ai.agent.name would win
    assert rec.model == "gpt-4o" and rec.conversation_id == "conv_5j66"
    assert rec.latency_ms == 1200.0
    assert (rec.prompt_tokens, rec.completion_tokens) == (52, 12)
    assert rec.metadata["trace_id"] == TRACE and rec.metadata["finish_reason"] == "stop"
    assert rec.metadata["provider"] == "openai" and rec.metadata["request.temperature"] == 0.2


def test_messages_recorded_as_json_strings_read_the_same():
    structured = parse(export(current_span())).records[0]
    as_strings = parse(export(current_span(structured=False))).records[0]
    assert as_strings == structured


def test_the_older_forms_give_the_same_conversation():
    current = parse(export(current_span())).records[0]
    old = parse(export(old_events_span())).records[0]
    assert [m.role for m in old.messages] == [m.role for m in current.messages]
    assert old.messages[2].tool_calls[0].function.name == "get_weather"
    assert old.messages[3].tool_call_id == "call_1"
    assert old.response.content == current.response.content
    assert old.metadata["finish_reason"] == "stop"

    oldest = parse(export(oldest_span())).records[0]
    assert [m.text() for m in oldest.messages] == ["You are a weather bot.", "Weather in Paris?"]
    assert oldest.response.content == "Rainy."

    flat = parse(export(flattened_span())).records[0]
    assert [m.role for m in flat.messages] == ["system", "user"]
    assert flat.response.tool_calls[0].function.arguments == '{"city": "Paris"}'
    assert flat.tools == [
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    ]
    assert flat.metadata["finish_reason"] == "tool_calls"


def test_spans_that_are_not_llm_calls_are_skipped_and_counted():
    http = span("aaaaaaaaaaaaaaaa", {"http.request.method": "POST"}, name="POST /book")
    tool = span("bbbbbbbbbbbbbbbb", {"gen_ai.operation.name": "execute_tool"}, name="execute_tool")
    out = parse(export(http, current_span(), tool))
    assert len(out.records) == 1 and out.skipped == 2 and not out.problems


def test_a_genai_span_without_content_is_quarantined_with_a_reason():
    bare = span("cccccccccccccccc", {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"})
    out = parse(export(current_span(), bare))
    assert len(out.records) == 1
    (problem,) = out.problems
    assert problem.location == "line 1, span cccccccccccccccc"
    assert "no input messages" in problem.reason and "content capture" in problem.reason
    assert json.loads(problem.raw_text)["spanId"] == "cccccccccccccccc"


def test_one_span_is_one_call_however_often_it_is_exported():
    a = parse(export(current_span("00f067aa0ba902b7"))).records[0]
    again = parse(export(current_span("00f067aa0ba902b7"))).records[0]
    other = parse(export(current_span("00f067aa0ba902b8"))).records[0]
    assert a.id == again.id  # the same span, sent twice
    assert a.id != other.id  # the same content in another span is another call


def test_an_export_line_is_detected_as_otlp():
    out = parse_object(export(current_span(), old_events_span()), "t", "line 4", RecordBuilder())
    assert len(out.records) == 2
    broken = parse_object({"resourceSpans": {"oops": 1}}, "t", "line 5", RecordBuilder())
    assert broken.problems[0].reason == "field 'resourceSpans': expected a list"
