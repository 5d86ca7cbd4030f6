"""OpenTelemetry trace exports (OTLP/JSON) to CallRecords: one GenAI inference span is one
LLM call (`gen_ai.operation.name` chat / text_completion / generate_content).

This module decodes the OTLP encoding (AnyValues, ids, times) and maps the span's `gen_ai.*`
attributes to a record; genai.py reads the messages in whichever form the conventions had.
Spans that are not LLM calls (HTTP, tool execution, agent spans) are skipped and counted.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from typing import Any

from slimline.record import CallRecord, InvalidRecord, canonical_json
from slimline.tasks.collect.formats import Parsed, Problem, RecordBuilder
from slimline.tasks.collect.genai import (
    flat_functions,
    is_inference_span,
    span_messages,
    tool_schemas,
    without_finish,
)


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


def span_events(span: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """A span's events as (name, decoded attributes), in order."""
    return [
        (str(e.get("name")), attributes(e.get("attributes")))
        for e in span.get("events") or []
        if isinstance(e, dict)
    ]


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


def record_from_span(
    span: dict[str, Any], resource: dict[str, Any], source: str, where: str, builder: RecordBuilder
) -> CallRecord:
    attrs, events = attributes(span.get("attributes")), span_events(span)
    try:
        inputs, outputs = span_messages(attrs, events)
    except (ValueError, TypeError, AttributeError) as exc:
        raise InvalidRecord(where, [f"messages cannot be read: {exc}"]) from None
    if not inputs or not outputs:
        missing = "input" if not inputs else "output"
        raise InvalidRecord(where, [f"the span has no {missing} messages (is content capture on?)"])
    inputs = [without_finish(m)[0] for m in inputs]
    response, finish = without_finish(outputs[0])
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
        tools=tool_schemas(attrs.get("gen_ai.tool.definitions"))
        or tool_schemas(attrs.get("gen_ai.request.tools"))
        or flat_functions(attrs),
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
            for span in (ss.get("spans") if isinstance(ss, dict) else None) or []:
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
        if not is_inference_span(attributes(span.get("attributes")), span_events(span)):
            out.skipped += 1
            continue
        at = f"{where}, span {_hex_id(span.get('spanId')) or f'#{n}'}"
        try:
            out.records.append(record_from_span(span, resource, source, at, builder))
        except InvalidRecord as exc:
            out.problems.append(Problem(at, "; ".join(exc.problems), canonical_json(span)))
        except Exception as exc:  # one odd span is that span's problem, not the export's
            reason = f"cannot be read: {type(exc).__name__}: {exc}"[:1000]
            out.problems.append(Problem(at, reason, canonical_json(span)))
    return out
