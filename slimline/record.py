"""The one record type every stage speaks: `CallRecord`, one LLM call an agent made.

A record holds the request as the agent sent it (OpenAI chat format: messages, tool
schemas), the response message, and what the call cost. Its `id` is a content hash of
the canonical request and response, so ingesting the same call twice changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]


class InvalidRecord(ValueError):
    """A record that cannot become a CallRecord; the message names the record and the field."""

    def __init__(self, where: str, problems: list[str]):
        self.where = where
        self.problems = problems
        super().__init__(f"{where}: " + "; ".join(problems))


class FunctionCall(BaseModel):
    """The function an assistant asked for; `arguments` is a JSON string, as OpenAI sends it."""

    model_config = ConfigDict(extra="allow")
    name: str
    arguments: str = "{}"


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str | None = None
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(BaseModel):
    """One chat message. Unknown OpenAI fields are kept, so nothing a source sent is lost."""

    model_config = ConfigDict(extra="allow")
    role: Role
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None

    def text(self) -> str:
        """The message's text, with content parts joined."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(str(p.get("text", "")) for p in self.content if isinstance(p, dict))


class CallRecord(BaseModel):
    """One LLM call: request (messages + tools), response, and what it cost."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="content hash of the canonical request+response")
    source: str = Field(description="where the call was collected from (file, proxy, otlp)")
    agent: str = Field(description="the agent or application that made the call")
    timestamp: datetime = Field(description="when the call was answered (UTC)")
    model: str = Field(description="the model the agent called")
    conversation_id: str = Field(description="the conversation the call belongs to")
    messages: list[Message] = Field(min_length=1)
    tools: list[dict[str, Any]] = Field(default_factory=list, description="JSON tool schemas")
    response: Message
    # finite numbers only: JSON has no NaN or Infinity, and the export must stay JSON
    latency_ms: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    prompt_tokens: int | None = Field(default=None, ge=0)
    completion_tokens: int | None = Field(default=None, ge=0)
    cost_usd: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("latency_ms", "cost_usd", mode="before")
    @classmethod
    def _finite(cls, value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            name = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
            raise ValueError(f"{name} is not a number: JSON has no NaN or Infinity")
        return value

    @field_validator("metadata")
    @classmethod
    def _finite_metadata(cls, value: dict[str, Any]) -> dict[str, Any]:
        where = _non_finite(value, "metadata")
        if where:
            raise ValueError(f"{where} is NaN or Infinity: JSON has no such number")
        return value

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @field_validator("response")
    @classmethod
    def _assistant(cls, value: Message) -> Message:
        if value.role != "assistant":
            raise ValueError(f"the response must be an assistant message, not {value.role!r}")
        return value

    @property
    def is_tool_call(self) -> bool:
        return bool(self.response.tool_calls)

    @classmethod
    def build(
        cls, *, where: str = "record", occurrence: str | None = None, **fields: Any
    ) -> CallRecord:
        """Validate `fields` into a record, computing `id` and `conversation_id` if absent.

        `occurrence` is what the source says about when and where the call happened (its
        own timestamp and conversation id): it enters the id, so two identical calls made
        at different times stay two records, while the same logged call ingested twice is
        one. Raises InvalidRecord naming `where` and each bad field.
        """
        try:
            messages = [Message.model_validate(m) for m in fields.get("messages") or []]
            response = Message.model_validate(fields.get("response"))
        except ValidationError as exc:
            raise InvalidRecord(where, describe_errors(exc)) from None
        fields.setdefault("id", call_id(messages, fields.get("tools") or [], response, occurrence))
        if not fields.get("conversation_id") and messages:
            fields["conversation_id"] = derive_conversation_id(fields.get("agent", ""), messages)
        return parse_record(fields, where)


def _non_finite(value: Any, path: str) -> str | None:
    """The path of the first NaN or infinite float inside `value`, if any."""
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _non_finite(item, f"{path}.{key}")
        if found:
            return found
    return None


def parse_record(data: dict[str, Any], where: str = "record") -> CallRecord:
    """Validate a dict into a CallRecord, or raise InvalidRecord naming `where` and the fields."""
    try:
        return CallRecord.model_validate(data)
    except ValidationError as exc:
        raise InvalidRecord(where, describe_errors(exc)) from None


def describe_errors(exc: ValidationError) -> list[str]:
    """Pydantic errors as 'field.path: problem' strings."""
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(record)"
        out.append(f"field '{loc}': {err['msg']}")
    return out


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the form hashes are taken of."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(text: str) -> str:
    """sha256 hex of a string; the key of content-addressed blobs."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _dump(message: Message) -> dict[str, Any]:
    return message.model_dump(mode="json", exclude_none=True)


def call_id(
    messages: list[Message],
    tools: list[dict[str, Any]],
    response: Message,
    occurrence: str | None = None,
) -> str:
    """Content id of a call: hash of the canonical request (messages, tools), the response,
    and the source's occurrence key (see CallRecord.build) when it has one."""
    body: dict[str, Any] = {
        "messages": [_dump(m) for m in messages],
        "tools": tools,
        "response": _dump(response),
    }
    if occurrence is not None:
        body["occurrence"] = occurrence
    return content_hash(canonical_json(body))[:32]


def derive_conversation_id(agent: str, messages: list[Message]) -> str:
    """A conversation id for sources that have none: the agent, system prompt and first user turn.

    Every call of a conversation repeats that prefix, so all its calls share the id.
    """
    system = next((m.text() for m in messages if m.role in ("system", "developer")), "")
    first_user = next((m.text() for m in messages if m.role == "user"), "")
    return "conv-" + content_hash(canonical_json([agent, system, first_user]))[:24]
