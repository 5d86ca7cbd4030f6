"""OpenTelemetry GenAI spans (OTLP/JSON) to CallRecords.

One inference span (`gen_ai.operation.name` chat / text_completion / generate_content) is one
LLM call. Its messages are read from whichever form the instrumentation used:
- the current conventions: `gen_ai.input.messages`, `gen_ai.output.messages`,
  `gen_ai.system_instructions`, `gen_ai.tool.definitions` (structured or JSON strings), on
  the span or on a `gen_ai.client.inference.operation.details` span event;
- the older per-message events (v1.36 and before): `gen_ai.system.message`,
  `gen_ai.user.message`, `gen_ai.assistant.message`, `gen_ai.tool.message`, `gen_ai.choice`;
- the oldest: `gen_ai.prompt` / `gen_ai.completion` (JSON on `gen_ai.content.prompt` /
  `gen_ai.content.completion` events or on the span), and their flattened form
  `gen_ai.prompt.0.role`, `gen_ai.completion.0.content`, ...

Spans that are not LLM calls (HTTP, tool execution, agent spans) are skipped and counted.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from typing import Any

from slimline.record import CallRecord, InvalidRecord, canonical_json
from slimline.tasks.collect.formats import Parsed, Problem, RecordBuilder

INFERENCE_OPERATIONS = {"chat", "text_completion", "generate_content", "completion"}
OLD_MESSAGE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
_FLAT = re.compile(r"^gen_ai\.(prompt|completion)\.(\d+)\.(.+)$")


def any_value(value: Any) -> Any:
    """An OTLP/JSON AnyValue as plain Python."""
    if not isinstance(value, dict):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return int(value["intValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "arrayValue" in value:
        return [any_value(v) for v in (value["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in value:
        return attributes((value["kvlistValue"] or {}).get("values", []))
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def attributes(items: Any) -> dict[str, Any]:
    """OTLP/JSON `attributes` (a list of {key, value}) as a dict."""
    out: dict[str, Any] = {}
    for item in items or []:
        if isinstance(item, dict) and "key" in item:
            out[str(item["key"])] = any_value(item.get("value"))
    return out


def _json(value: Any) -> Any:
    """A structured attribute, or one recorded as a JSON string."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _tool_call(part: dict[str, Any]) -> dict[str, Any]:
    fn = part.get("function") if isinstance(part.get("function"), dict) else part
    args = fn.get("arguments", {})
    call = {"type": "function", "function": {"name": fn.get("name"), "arguments": _text(args)}}
    if part.get("id") is not None:
        call["id"] = part["id"]
    return call


def messages_from_parts(messages: Any) -> list[dict[str, Any]]:
    """Current-convention messages ({role, parts: [...]}) as OpenAI chat messages."""
    if not isinstance(messages, list):
        raise ValueError("expected a list of messages")
    out: list[dict[str, Any]] = []
    for m in messages:
        if not isinstance(m, dict) or "parts" not in m:
            out.append(m)  # already OpenAI-shaped (or invalid: validation says why)
            continue
        texts, extra, calls, reasoning = [], [], [], []
        for part in m.get("parts") or []:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                texts.append(str(part.get("content", "")))
            elif kind == "tool_call":
                calls.append(_tool_call(part))
            elif kind == "tool_call_response":
                result = part.get("response", part.get("result"))
                tool = {"role": "tool", "content": _text(result)}
                if part.get("id") is not None:
                    tool["tool_call_id"] = str(part["id"]).strip()
                out.append(tool)
            elif kind == "reasoning":
                reasoning.append(str(part.get("content", "")))
            elif isinstance(part, dict):
                extra.append(part)
        if not (texts or calls or extra or reasoning) and m.get("role") == "tool":
            continue  # only tool results, already appended
        msg: dict[str, Any] = {"role": m.get("role")}
        if extra:
            msg["content"] = [{"type": "text", "text": t} for t in texts] + extra
        elif len(texts) == 1:
            msg["content"] = texts[0]
        elif texts:
            msg["content"] = [{"type": "text", "text": t} for t in texts]
        else:
            msg["content"] = None
        if calls:
            msg["tool_calls"] = calls
        if reasoning:
            msg["reasoning_content"] = "".join(reasoning)
        if m.get("name"):
            msg["name"] = m["name"]
        if m.get("finish_reason"):
            msg["_finish_reason"] = m["finish_reason"]
        out.append(msg)
    return out


def _tools(value: Any) -> list[dict[str, Any]]:
    """`gen_ai.tool.definitions` (or OpenAI-shaped tools) as OpenAI tool schemas."""
    value = _json(value)
    if not isinstance(value, list):
        return []
    out = []
    for tool in value:
        if isinstance(tool, dict) and "function" not in tool and "name" in tool:
            fn = {k: v for k, v in tool.items() if k not in ("type", "response")}
            out.append({"type": tool.get("type") or "function", "function": fn})
        else:
            out.append(tool)
    return out


def _flat_functions(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    """Tools recorded flattened, as `llm.request.functions.N.name/description/parameters`."""
    found: dict[int, dict[str, Any]] = {}
    for key, value in attrs.items():
        m = re.match(r"^llm\.request\.functions\.(\d+)\.(name|description|parameters)$", key)
        if m:
            value = _json(value) if m.group(2) == "parameters" else value
            found.setdefault(int(m.group(1)), {})[m.group(2)] = value
    return [{"type": "function", "function": fn} for _, fn in sorted(found.items())]


def _old_event_message(name: str, attrs: dict[str, Any]) -> dict[str, Any]:
    """A v1.36-style event's body (on a span event its fields are attributes, or a JSON
    `body`/`event.body`/`gen_ai.event.content` attribute)."""
    body = next(
        (attrs[k] for k in ("body", "event.body", "gen_ai.event.content") if k in attrs), None
    )
    body = (
        _json(body)
        if body is not None
        else {k: v for k, v in attrs.items() if not k.startswith("gen_ai.") and k != "event.name"}
    )
    if not isinstance(body, dict):
        body = {"content": body}
    if name == "gen_ai.choice":
        message = _json(body.get("message")) or {}
        message = dict(message) if isinstance(message, dict) else {"content": message}
        message.setdefault("role", "assistant")
        if body.get("finish_reason"):
            message["_finish_reason"] = body["finish_reason"]
        body = message
    msg = {"role": body.get("role") or OLD_MESSAGE_EVENTS.get(name, "assistant")}
    content = body.get("content")
    if msg["role"] == "tool" and content is not None:
        content = _text(content)
    msg["content"] = content
    if body.get("tool_calls"):
        msg["tool_calls"] = [_tool_call(c) for c in _json(body["tool_calls"])]
    if name == "gen_ai.tool.message" and body.get("id"):
        msg["tool_call_id"] = body["id"]
    if body.get("_finish_reason"):
        msg["_finish_reason"] = body["_finish_reason"]
    return msg


def _flattened(attrs: dict[str, Any]) -> tuple[list[dict], list[dict]]:
    """`gen_ai.prompt.N.*` / `gen_ai.completion.N.*` attributes as message lists."""
    found: dict[str, dict[int, dict[str, Any]]] = {"prompt": {}, "completion": {}}
    for key, value in attrs.items():
        m = _FLAT.match(key)
        if not m:
            continue
        which, index, rest = m.group(1), int(m.group(2)), m.group(3)
        msg = found[which].setdefault(index, {})
        call = re.match(r"^tool_calls\.(\d+)\.(.+)$", rest)
        if call:
            calls = msg.setdefault("_calls", {})
            calls.setdefault(int(call.group(1)), {})[call.group(2)] = value
        else:
            msg[rest] = value
    out = []
    for which in ("prompt", "completion"):
        msgs = []
        for _, msg in sorted(found[which].items()):
            calls = msg.pop("_calls", {})
            if calls:
                msg["tool_calls"] = [_tool_call(c) for _, c in sorted(calls.items())]
            if "finish_reason" in msg:
                msg["_finish_reason"] = msg.pop("finish_reason")
            msgs.append(msg)
        out.append(msgs)
    return out[0], out[1]


def _without_finish(message: Any) -> tuple[Any, Any]:
    """A message without the finish reason some forms put on it, and that reason."""
    if not isinstance(message, dict):
        return message, None
    rest = {k: v for k, v in message.items() if k not in ("_finish_reason", "finish_reason")}
    return rest, message.get("_finish_reason") or message.get("finish_reason")


def _nanos(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _hex_id(value: Any) -> str:
    """Span and trace ids: hex in OTLP/JSON; base64 where a protobuf-to-JSON step left them."""
    text = str(value or "")
    if text and not re.fullmatch(r"[0-9a-fA-F]*", text):
        try:
            return base64.b64decode(text).hex()
        except ValueError:
            return text
    return text.lower()


def is_inference_span(attrs: dict[str, Any], events: list[dict[str, Any]]) -> bool:
    op = attrs.get("gen_ai.operation.name")
    if op is not None:
        return str(op) in INFERENCE_OPERATIONS
    if any(k.startswith(("gen_ai.input.messages", "gen_ai.prompt")) for k in attrs):
        return True
    names = {e.get("name") for e in events}
    return bool(names & (set(OLD_MESSAGE_EVENTS) | {"gen_ai.content.prompt", "gen_ai.choice"}))


def span_messages(attrs: dict[str, Any], events: list[dict[str, Any]]) -> tuple[list, list]:
    """(input messages, output messages) of a span, OpenAI-shaped, from whichever form."""
    merged = dict(attrs)
    for e in events:  # the current conventions' details event carries the same attributes
        if e.get("name") in ("gen_ai.client.inference.operation.details", "gen_ai.content"):
            merged.update(attributes(e.get("attributes")))
    if "gen_ai.input.messages" in merged or "gen_ai.output.messages" in merged:
        inputs = messages_from_parts(_json(merged.get("gen_ai.input.messages", [])))
        outputs = messages_from_parts(_json(merged.get("gen_ai.output.messages", [])))
        system = _json(merged.get("gen_ai.system_instructions"))
        if system and not any(m.get("role") == "system" for m in inputs if isinstance(m, dict)):
            parts = system if isinstance(system, list) else [{"type": "text", "content": system}]
            inputs = messages_from_parts([{"role": "system", "parts": parts}]) + inputs
        return inputs, outputs
    old = [
        e for e in events if e.get("name") in OLD_MESSAGE_EVENTS or e.get("name") == "gen_ai.choice"
    ]
    if old:
        inputs, outputs = [], []
        for e in old:
            msg = _old_event_message(e["name"], attributes(e.get("attributes")))
            (outputs if e["name"] == "gen_ai.choice" else inputs).append(msg)
        return inputs, outputs
    prompt, completion = merged.get("gen_ai.prompt"), merged.get("gen_ai.completion")
    for e in events:
        ea = attributes(e.get("attributes"))
        prompt = ea.get("gen_ai.prompt", prompt)
        completion = ea.get("gen_ai.completion", completion)
    if prompt is not None or completion is not None:
        prompt, completion = _json(prompt), _json(completion)
        inputs = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
        if isinstance(completion, dict):
            completion = [completion]
        outputs = (
            completion
            if isinstance(completion, list)
            else [{"role": "assistant", "content": completion}]
        )
        return inputs, outputs
    return _flattened(attrs)


def record_from_span(
    span: dict[str, Any], resource: dict[str, Any], source: str, where: str, builder: RecordBuilder
) -> CallRecord:
    attrs = attributes(span.get("attributes"))
    events = [e for e in span.get("events") or [] if isinstance(e, dict)]
    try:
        inputs, outputs = span_messages(attrs, events)
    except (ValueError, TypeError, AttributeError) as exc:
        raise InvalidRecord(where, [f"messages cannot be read: {exc}"]) from None
    if not inputs or not outputs:
        missing = "input" if not inputs else "output"
        raise InvalidRecord(where, [f"the span has no {missing} messages (is content capture on?)"])
    inputs = [_without_finish(m)[0] for m in inputs]
    response, finish = _without_finish(outputs[0])
    trace_id, span_id = _hex_id(span.get("traceId")), _hex_id(span.get("spanId"))
    start, end = _nanos(span.get("startTimeUnixNano")), _nanos(span.get("endTimeUnixNano"))
    when = end or start
    if when is None:
        raise InvalidRecord(where, ["field 'endTimeUnixNano': missing"])
    reasons = attrs.get("gen_ai.response.finish_reasons")
    metadata = {
        "trace_id": trace_id,
        "span_id": span_id,
        "span_name": span.get("name"),
        "provider": attrs.get("gen_ai.provider.name") or attrs.get("gen_ai.system"),
        "response_id": attrs.get("gen_ai.response.id"),
        "finish_reason": finish or (reasons[0] if isinstance(reasons, list) and reasons else None),
    }
    metadata.update(
        {k.removeprefix("gen_ai."): v for k, v in attrs.items() if k.startswith("gen_ai.request.")}
    )
    metadata = {k: v for k, v in metadata.items() if v is not None and k != "request.model"}
    conversation = attrs.get("gen_ai.conversation.id") or attrs.get("session.id")
    input_tokens = attrs.get("gen_ai.usage.input_tokens", attrs.get("gen_ai.usage.prompt_tokens"))
    output_tokens = attrs.get(
        "gen_ai.usage.output_tokens", attrs.get("gen_ai.usage.completion_tokens")
    )
    return builder.build(
        where=where,
        occurrence=f"span {trace_id}/{span_id}",
        source=source,
        agent=str(
            attrs.get("gen_ai.agent.name") or resource.get("service.name") or builder.default_agent
        ),
        timestamp=datetime.fromtimestamp(when / 1e9, UTC),
        model=str(
            attrs.get("gen_ai.request.model") or attrs.get("gen_ai.response.model") or "unknown"
        ),
        conversation_id=str(conversation) if conversation else None,
        messages=inputs,
        tools=_tools(attrs.get("gen_ai.tool.definitions"))
        or _tools(attrs.get("gen_ai.request.tools"))
        or _flat_functions(attrs),
        response=response,
        latency_ms=(end - start) / 1e6 if start and end and end >= start else None,
        prompt_tokens=input_tokens,
        completion_tokens=output_tokens,
        metadata=metadata,
    )


def iter_spans(obj: dict[str, Any]):
    """(resource attributes, span) for every span of an ExportTraceServiceRequest."""
    for rs in obj.get("resourceSpans") or []:
        if not isinstance(rs, dict):
            continue
        resource = attributes((rs.get("resource") or {}).get("attributes"))
        for ss in rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or []:
            for span in (ss or {}).get("spans") or []:
                yield resource, span


def records_from_otlp(obj: Any, source: str, where: str, builder: RecordBuilder) -> Parsed:
    """Every GenAI inference span of an OTLP/JSON trace export as a record; other spans are
    skipped (counted); a GenAI span that cannot become a record is a problem."""
    out = Parsed()
    if not isinstance(obj.get("resourceSpans"), list):
        out.problems.append(Problem(where, "field 'resourceSpans': expected a list", ""))
        return out
    for n, (resource, span) in enumerate(iter_spans(obj), 1):
        if not isinstance(span, dict):
            out.problems.append(Problem(f"{where}, span #{n}", "a span must be an object", ""))
            continue
        attrs = attributes(span.get("attributes"))
        events = [e for e in span.get("events") or [] if isinstance(e, dict)]
        if not is_inference_span(attrs, events):
            out.skipped += 1
            continue
        at = f"{where}, span {_hex_id(span.get('spanId')) or f'#{n}'}"
        try:
            out.records.append(record_from_span(span, resource, source, at, builder))
        except InvalidRecord as exc:
            out.problems.append(Problem(at, "; ".join(exc.problems), canonical_json(span)))
    return out
