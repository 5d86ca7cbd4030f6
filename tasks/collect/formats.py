"""Turning one logged call, in a source's own shape, into a CallRecord.

Each function takes one parsed JSON object and raises InvalidRecord (naming `where` and the
field) when it cannot become a record.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from slimline.record import CallRecord, InvalidRecord

# metadata keys that name a conversation, in the order they are trusted
CONVERSATION_KEYS = ("conversation_id", "simulation_id", "session_id", "thread_id", "trace_id")


def _require(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, dict):
        raise InvalidRecord(where, [f"expected a JSON object, got {type(obj).__name__}"])
    if key not in obj:
        raise InvalidRecord(where, [f"field '{key}': missing"])
    value = obj[key]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise InvalidRecord(where, [f"field '{key}': expected {names}, got {type(value).__name__}"])
    return value


def _timestamp(value: Any, where: str) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value, UTC)
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        raise InvalidRecord(
            where, [f"field 'timestamp': not a time: {str(value)[:40]!r}"]
        ) from None


def conversation_id_from(metadata: dict[str, Any]) -> str | None:
    for key in CONVERSATION_KEYS:
        if metadata.get(key):
            return str(metadata[key])
    return None


def occurrence_key(raw_time: Any, conversation: str | None) -> str | None:
    """What a source says about when and where a call happened, as given (see CallRecord.build)."""
    if raw_time is None and conversation is None:
        return None
    return f"{raw_time}|{conversation}"


def from_chat_completion_pair(obj: Any, source: str, where: str) -> CallRecord:
    """A line holding an OpenAI chat-completions `request` body and `response` body.

    Optional top-level fields: timestamp, agent, cost_usd, latency_ms, metadata.
    """
    request = _require(obj, "request", dict, where)
    response = _require(obj, "response", dict, where)
    messages = _require(request, "messages", list, f"{where}, request")
    choices = _require(response, "choices", list, f"{where}, response")
    if not choices or not isinstance(choices[0], dict) or "message" not in choices[0]:
        raise InvalidRecord(where, ["field 'response.choices.0.message': missing"])
    usage = response.get("usage") or {}
    metadata = dict(obj.get("metadata") or {})
    if obj.get("id"):
        metadata.setdefault("source_id", obj["id"])
    if choices[0].get("finish_reason"):
        metadata.setdefault("finish_reason", choices[0]["finish_reason"])
    raw_time = obj.get("timestamp") or response.get("created")
    conversation = conversation_id_from(metadata)
    return CallRecord.build(
        where=where,
        occurrence=occurrence_key(raw_time, conversation),
        source=source,
        agent=str(obj.get("agent") or metadata.get("agent") or "unknown"),
        timestamp=_timestamp(raw_time, where),
        model=str(request.get("model") or response.get("model") or "unknown"),
        conversation_id=conversation,
        messages=messages,
        tools=request.get("tools") or [],
        response=choices[0]["message"],
        latency_ms=obj.get("latency_ms"),
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        cost_usd=obj.get("cost_usd"),
        metadata=metadata,
    )
