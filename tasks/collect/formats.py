"""Turning one logged call, in a source's own shape, into a CallRecord.

Shapes read here, detected per line by `parse_object`:
- request/response pairs: an OpenAI chat-completions `request` body and `response` body
  (the bundled tau2 data), `from_chat_completion_pair`;
- the OpenAI fine-tuning chat format, `{"messages": [...], "tools": [...]}` whose last
  message is the assistant's answer, `from_finetune_chat`;
- OTLP/JSON trace exports carrying GenAI spans (`resourceSpans`), in `otlp.py`.

Each function takes one parsed JSON object and raises InvalidRecord (naming `where` and the
field) when it cannot become a record. A tool call whose `arguments` are not a JSON object
does not stop its record (the call happened; the teacher's mistake is worth seeing): the
record's metadata lists where, under `invalid_tool_arguments` ("response.tool_calls.0").

`RecordBuilder` validates and hashes records the way
`CallRecord.build` does, but validates and serialises each distinct message only once per
run: every call of a conversation repeats the messages before it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from slimline.record import (
    CallRecord,
    InvalidRecord,
    Message,
    canonical_json,
    content_hash,
    derive_conversation_id,
    describe_errors,
    parse_record,
)

try:  # a faster serialiser for cache keys; json does the same job when it is missing
    import orjson

    def _key(value: Any) -> bytes | str:
        try:
            return orjson.dumps(value)
        except TypeError:  # e.g. an integer beyond 64 bits
            return json.dumps(value)

except ImportError:  # pragma: no cover

    def _key(value: Any) -> bytes | str:
        return json.dumps(value)


INVALID_ARGUMENTS = "invalid_tool_arguments"  # metadata key: tool calls whose arguments
# are not a JSON object, as "messages.3.tool_calls.0" / "response.tool_calls.1"

# metadata keys that name a conversation, in the order they are trusted
CONVERSATION_KEYS = ("conversation_id", "simulation_id", "session_id", "thread_id", "trace_id")


@dataclass
class Problem:
    """A part of the input that could not become a record, with where and why."""

    location: str
    reason: str
    raw_text: str


@dataclass
class Parsed:
    """What one input object gave: records, problems to quarantine, spans skipped."""

    records: list[CallRecord] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped: int = 0  # parts that are not LLM calls (e.g. non-GenAI spans), counted not stored


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


class RecordBuilder:
    """Builds CallRecords exactly as `CallRecord.build` does (same id, same fields).

    With `cache=True` each distinct message (and tools list) is validated and serialised
    once and then reused, so records built by one builder share Message objects: treat them
    as read-only. `cache=False` is plain `CallRecord.build`.
    """

    def __init__(
        self, *, cache: bool = True, default_agent: str = "unknown", max_bytes: int = 128 << 20
    ):
        self.cache = cache
        self.default_agent = default_agent
        self._max_bytes = max_bytes  # the message cache starts afresh past this much text
        self._cached_bytes = 0
        self._messages: dict[bytes | str, tuple[Message, str]] = {}
        self._tools: dict[bytes | str, str] = {}
        self._shared_tools: dict[bytes | str, list[dict[str, Any]]] = {}
        self._arguments_ok: dict[str, bool] = {}

    def build(self, *, where: str, occurrence: str | None = None, **fields: Any) -> CallRecord:
        """A validated record, its metadata marking tool calls with invalid arguments."""
        record = self._build(where=where, occurrence=occurrence, **fields)
        bad = self.invalid_arguments(record)
        if bad:
            record.metadata = {**record.metadata, INVALID_ARGUMENTS: bad}
        return record

    def invalid_arguments(self, record: CallRecord) -> list[str]:
        """Where in `record` a tool call's arguments are not a JSON object."""
        out = []
        for i, msg in enumerate([*record.messages, record.response]):
            for j, call in enumerate(msg.tool_calls or ()):
                if not self._arguments_valid(call.function.arguments):
                    where = "response" if i == len(record.messages) else f"messages.{i}"
                    out.append(f"{where}.tool_calls.{j}")
        return out

    def _arguments_valid(self, arguments: str) -> bool:
        ok = self._arguments_ok.get(arguments)
        if ok is None:
            try:
                ok = isinstance(json.loads(arguments), dict)
            except ValueError:
                ok = False
            if len(self._arguments_ok) >= 100_000:
                self._arguments_ok.clear()
            self._arguments_ok[arguments] = ok
        return ok

    def _build(self, *, where: str, occurrence: str | None = None, **fields: Any) -> CallRecord:
        messages = fields.get("messages")
        if not self.cache or not isinstance(messages, list):
            try:
                return CallRecord.build(where=where, occurrence=occurrence, **fields)
            except InvalidRecord:
                if isinstance(messages, list):  # say which message was wrong
                    self._check_messages(messages, fields.get("response"), where)
                raise
        checked, answer = self._check_messages(messages, fields.get("response"), where)
        tools = fields.get("tools") or []
        tools_key = _key(tools)
        if "id" not in fields:
            texts = [t for _, t in checked]
            fields["id"] = self._call_id(texts, tools_key, tools, answer[1], occurrence)
        fields["messages"] = [m for m, _ in checked]
        fields["response"] = answer[0]
        if not fields.get("conversation_id") and checked:
            fields["conversation_id"] = derive_conversation_id(
                fields.get("agent", ""), fields["messages"]
            )
        shared = self._shared_tools.get(tools_key) if tools else None
        if shared is None:
            record = parse_record(fields, where)
            if record.tools:  # validated once; records with these tools share the list
                if len(self._shared_tools) >= 1000:
                    self._shared_tools.clear()
                self._shared_tools[tools_key] = record.tools
        else:  # the same tools as an earlier record: already valid, shared (read-only)
            record = parse_record({**fields, "tools": []}, where)
            record.tools = shared
        return record

    def _check_messages(
        self, messages: list[Any], response: Any, where: str
    ) -> tuple[list[tuple[Message, str]], tuple[Message, str]]:
        """Each message validated (or taken from the cache) with its canonical text;
        InvalidRecord naming each bad message by its index."""
        problems: list[str] = []
        checked = [self._message(m, f"messages.{i}", problems) for i, m in enumerate(messages)]
        answer = self._message(response, "response", problems)
        if problems:
            raise InvalidRecord(where, problems)
        return checked, answer

    def _message(self, raw: Any, path: str, problems: list[str]) -> tuple[Message, str]:
        key = _key(raw) if self.cache and isinstance(raw, dict) else None
        hit = self._messages.get(key) if key is not None else None
        if hit is not None:
            return hit
        try:
            message = Message.model_validate(raw)
        except ValidationError as exc:
            for err in describe_errors(exc):
                problems.append(
                    err.replace("field '", f"field '{path}.", 1).replace(".(record)", "")
                )
            return Message(role="assistant"), ""
        text = canonical_json(message.model_dump(mode="json", exclude_none=True))
        if key is not None:
            if self._cached_bytes > self._max_bytes:
                self._messages.clear()
                self._cached_bytes = 0
            self._messages[key] = (message, text)
            self._cached_bytes += 2 * len(text)  # the text and (about as big) its key
        return message, text

    def _call_id(
        self,
        texts: list[str],
        key: bytes | str,
        tools: Any,
        response_text: str,
        occurrence: str | None,
    ) -> str:
        """`slimline.record.call_id`, assembled from the cached canonical texts: the keys of
        the hashed body in sorted order are messages, occurrence, response, tools."""
        tools_text = self._tools.get(key)
        if tools_text is None:
            tools_text = canonical_json(tools)
            if len(self._tools) >= 1000:
                self._tools.clear()
            self._tools[key] = tools_text
        parts = ['{"messages":[', ",".join(texts), "]"]
        if occurrence is not None:
            parts += [',"occurrence":', canonical_json(occurrence)]
        parts += [',"response":', response_text, ',"tools":', tools_text, "}"]
        return content_hash("".join(parts))[:32]


_PLAIN = RecordBuilder(cache=False)


def from_chat_completion_pair(
    obj: Any, source: str, where: str, builder: RecordBuilder | None = None
) -> CallRecord:
    """A line holding an OpenAI chat-completions `request` body and `response` body.

    Optional top-level fields: timestamp, agent, cost_usd, latency_ms, metadata,
    conversation_id.
    """
    builder = builder or _PLAIN
    request = _require(obj, "request", dict, where)
    response = _require(obj, "response", dict, where)
    messages = _require(request, "messages", list, f"{where}, request")
    choices = _require(response, "choices", list, f"{where}, response")
    if not choices or not isinstance(choices[0], dict) or "message" not in choices[0]:
        raise InvalidRecord(where, ["field 'response.choices.0.message': missing"])
    usage = response.get("usage") or {}
    if not isinstance(usage, dict):
        raise InvalidRecord(where, ["field 'response.usage': expected dict"])
    metadata = obj.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise InvalidRecord(
            where, [f"field 'metadata': expected dict, got {type(metadata).__name__}"]
        )
    metadata = dict(metadata)
    if obj.get("id"):
        metadata.setdefault("source_id", obj["id"])
    if response.get("id"):
        metadata.setdefault("response_id", response["id"])
    if choices[0].get("finish_reason"):
        metadata.setdefault("finish_reason", choices[0]["finish_reason"])
    raw_time = obj.get("timestamp") or response.get("created")
    conversation = obj.get("conversation_id") or conversation_id_from(metadata)
    occurrence = occurrence_key(raw_time, conversation)
    if occurrence is None and response.get("id"):
        occurrence = f"response {response['id']}"
    return builder.build(
        where=where,
        occurrence=occurrence,
        source=source,
        agent=str(obj.get("agent") or metadata.get("agent") or builder.default_agent),
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


def from_finetune_chat(
    obj: Any, source: str, where: str, builder: RecordBuilder | None = None
) -> CallRecord:
    """A line in the OpenAI fine-tuning chat format: `messages` whose last one is the
    assistant's answer (the response), the rest the request; `tools` (or the older
    `functions`) the schemas. Optional: model, agent, timestamp, conversation_id, metadata.
    """
    builder = builder or _PLAIN
    messages = _require(obj, "messages", list, where)
    if len(messages) < 2:
        raise InvalidRecord(
            where, ["field 'messages': needs the request's messages and then the answer"]
        )
    last = messages[-1]
    role = last.get("role") if isinstance(last, dict) else None
    if role != "assistant":
        raise InvalidRecord(
            where,
            [
                f"field 'messages.{len(messages) - 1}.role': the last message must be the "
                f"assistant's answer, got {role!r}"
            ],
        )
    tools = obj.get("tools")
    if tools is None and isinstance(obj.get("functions"), list):
        tools = [{"type": "function", "function": f} for f in obj["functions"]]
    metadata = obj.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise InvalidRecord(
            where, [f"field 'metadata': expected dict, got {type(metadata).__name__}"]
        )
    metadata = dict(metadata)
    if "parallel_tool_calls" in obj:
        metadata.setdefault("parallel_tool_calls", obj["parallel_tool_calls"])
    raw_time = obj.get("timestamp")
    conversation = obj.get("conversation_id") or conversation_id_from(metadata)
    return builder.build(
        where=where,
        occurrence=occurrence_key(raw_time, conversation),
        source=source,
        agent=str(obj.get("agent") or metadata.get("agent") or builder.default_agent),
        timestamp=_timestamp(raw_time, where),
        model=str(obj.get("model") or metadata.get("model") or "unknown"),
        conversation_id=conversation,
        messages=messages[:-1],
        tools=tools or [],
        response=last,
        metadata=metadata,
    )
