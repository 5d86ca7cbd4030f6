"""OTLP/JSON trace exports with GenAI spans, written the way OpenTelemetry encodes them."""

from __future__ import annotations

import json
from typing import Any

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
START = 1_760_000_000_000_000_000


def any_value(value: Any) -> dict[str, Any]:
    """Python -> OTLP/JSON AnyValue (ints as strings, as the JSON encoding has them)."""
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [any_value(v) for v in value]}}
    if isinstance(value, dict):
        return {"kvlistValue": {"values": attrs(value)}}
    return {}


def attrs(values: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": any_value(v)} for k, v in values.items()]


def span(span_id: str, attributes: dict[str, Any], events=(), name="chat gpt-4o", ms=1200):
    return {
        "traceId": TRACE,
        "spanId": span_id,
        "name": name,
        "kind": 3,
        "startTimeUnixNano": str(START),
        "endTimeUnixNano": str(START + ms * 1_000_000),
        "attributes": attrs(attributes),
        "events": [
            {"timeUnixNano": str(START), "name": n, "attributes": attrs(a)} for n, a in events
        ],
        "status": {},
    }


def export(*spans: dict[str, Any], service: str = "travel-agent") -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": attrs({"service.name": service})},
                "scopeSpans": [{"scope": {"name": "test"}, "spans": list(spans)}],
            }
        ]
    }


INPUT = [
    {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
    {
        "role": "assistant",
        "parts": [
            {
                "type": "tool_call",
                "id": "call_1",
                "name": "get_weather",
                "arguments": {"city": "Paris"},
            }
        ],
    },
    {
        "role": "tool",
        "parts": [{"type": "tool_call_response", "id": "call_1", "response": "rainy, 57°F"}],
    },
]
OUTPUT = [
    {
        "role": "assistant",
        "parts": [{"type": "text", "content": "It is rainy in Paris, 57°F."}],
        "finish_reason": "stop",
    }
]
TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Weather of a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]


def current_span(span_id: str = "00f067aa0ba902b7", structured: bool = True, **extra: Any):
    """A span as the current GenAI conventions write it (messages on attributes)."""

    def enc(v: Any) -> Any:
        return v if structured else json.dumps(v)

    return span(
        span_id,
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.request.temperature": 0.2,
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.response.id": "chatcmpl-9J3",
            "gen_ai.usage.input_tokens": 52,
            "gen_ai.usage.output_tokens": 12,
            "gen_ai.conversation.id": "conv_5j66",
            "gen_ai.system_instructions": enc(
                [{"type": "text", "content": "You are a weather bot."}]
            ),
            "gen_ai.input.messages": enc(INPUT),
            "gen_ai.output.messages": enc(OUTPUT),
            "gen_ai.tool.definitions": enc(TOOLS),
            **extra,
        },
    )


def old_events_span(span_id: str = "1111111111111111"):
    """The per-message events of the v1.36 conventions (and before)."""
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
    }
    events = [
        ("gen_ai.system.message", {"gen_ai.system": "openai", "content": "You are a weather bot."}),
        ("gen_ai.user.message", {"gen_ai.system": "openai", "content": "Weather in Paris?"}),
        ("gen_ai.assistant.message", {"gen_ai.system": "openai", "tool_calls": json.dumps([call])}),
        (
            "gen_ai.tool.message",
            {"gen_ai.system": "openai", "content": "rainy, 57°F", "id": "call_1"},
        ),
        (
            "gen_ai.choice",
            {
                "gen_ai.system": "openai",
                "index": 0,
                "finish_reason": "stop",
                "message": json.dumps(
                    {"role": "assistant", "content": "It is rainy in Paris, 57°F."}
                ),
            },
        ),
    ]
    return span(
        span_id,
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o",
        },
        events,
    )


def oldest_span(span_id: str = "2222222222222222"):
    """gen_ai.prompt / gen_ai.completion as JSON on content events."""
    prompt = [
        {"role": "system", "content": "You are a weather bot."},
        {"role": "user", "content": "Weather in Paris?"},
    ]
    completion = [{"role": "assistant", "content": "Rainy."}]
    return span(
        span_id,
        {"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o"},
        [
            ("gen_ai.content.prompt", {"gen_ai.prompt": json.dumps(prompt)}),
            ("gen_ai.content.completion", {"gen_ai.completion": json.dumps(completion)}),
        ],
    )


def flattened_span(span_id: str = "3333333333333333"):
    """gen_ai.prompt.N.* / gen_ai.completion.N.* attributes, as some instrumentations write."""
    return span(
        span_id,
        {
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "You are a weather bot.",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": "Weather in Paris?",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.finish_reason": "tool_calls",
            "gen_ai.completion.0.tool_calls.0.id": "call_1",
            "gen_ai.completion.0.tool_calls.0.name": "get_weather",
            "gen_ai.completion.0.tool_calls.0.arguments": '{"city": "Paris"}',
            "llm.request.functions.0.name": "get_weather",
            "llm.request.functions.0.parameters": '{"type": "object"}',
        },
    )
