"""The router's side of the OpenAI chat-completions protocol: a request read into what
routing needs, and a small model's answer written back as OpenAI writes it (one JSON
object, or server-sent events when the request asked for a stream).

A request that is not a chat-completions JSON object with messages raises `BadRequest`,
answered with OpenAI's error shape (400). What the small model cannot honour sends the
request upstream (`ChatRequest.unsupported`): several choices (`n` > 1), `tool_choice`
"none", a `response_format`, log probabilities. `tool_choice` "required" or a named
function, and `parallel_tool_calls: false`, narrow the answer's grammar (`CallRule`).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from slimline.chat_format import ParsedResponse
from slimline.decoding.grammar import FREE, CallRule
from slimline.prompt import system_prompt_of
from slimline.record import CallRecord, InvalidRecord

EMPTY_RESPONSE = {"role": "assistant", "content": ""}


class BadRequest(ValueError):
    """Not a chat-completions request; the message says why."""


ROLES = {"system", "developer", "user", "assistant", "tool", "function"}


@dataclass
class ChatRequest:
    """One chat-completions request as routing sees it."""

    body: dict[str, Any]
    _record: CallRecord | None = None  # built on first use (most calls never need it)
    agent: str | None = None
    stream: bool = False
    include_usage: bool = False
    rule: CallRule = FREE
    grammar_tools: list[dict[str, Any]] | None = None  # the tools an answer may call
    max_tokens: int | None = None
    unsupported: str | None = None  # why the small model must not answer it

    @property
    def record(self) -> CallRecord:
        """The request's messages and tools as a CallRecord (its response empty); raises
        BadRequest when a message is not one OpenAI's protocol allows."""
        if self._record is None:
            try:
                self._record = CallRecord.build(
                    where="request",
                    id="live",  # never stored: no content hash needed
                    conversation_id="live",
                    source="router",
                    agent=self.agent or "unknown",
                    timestamp=datetime.now(UTC),
                    model=str(self.body.get("model") or "unknown"),
                    messages=self.body["messages"],
                    tools=self.body.get("tools") or [],
                    response=EMPTY_RESPONSE,
                )
            except InvalidRecord as exc:
                raise BadRequest("; ".join(exc.problems)) from None
        return self._record

    def context(self) -> tuple[str, list[dict[str, Any]]]:
        """(system prompt, tools) read straight from the body, as `prompt.system_prompt_of`
        reads them from a record: the first system or developer message's text."""
        if self._record is not None:
            return system_prompt_of(self._record), self._record.tools
        for m in self.body.get("messages") or []:
            if m.get("role") in ("system", "developer"):
                content = m.get("content")
                if isinstance(content, list):
                    content = "\n".join(
                        str(p.get("text", "")) for p in content if isinstance(p, dict)
                    )
                return content or "", self.body.get("tools") or []
        return "", self.body.get("tools") or []

    @classmethod
    def from_record(cls, record: CallRecord) -> ChatRequest:
        """A logged call's request (replay): its messages and tools, nothing else asked."""
        body = {"model": record.model, "messages": [], "tools": record.tools}
        return cls(body=body, _record=record, grammar_tools=record.tools or None)


def _tool_choice(body: dict[str, Any], tools: list[dict[str, Any]]) -> tuple[Any, Any, Any]:
    """(rule, tools an answer may call, why unsupported) from tool_choice/parallel_tool_calls."""
    parallel = body.get("parallel_tool_calls") is not False
    choice = body.get("tool_choice")
    if choice in (None, "auto"):
        return CallRule(required=False, parallel=parallel), tools or None, None
    if choice == "none":
        return FREE, None, "tool_choice none"
    if choice == "required":
        return CallRule(required=True, parallel=parallel), tools or None, None
    name = ((choice or {}).get("function") or {}).get("name") if isinstance(choice, dict) else None
    if not isinstance(name, str):
        raise BadRequest(f"tool_choice {choice!r} is not one OpenAI knows")
    named = [t for t in tools if (t.get("function") or t).get("name") == name]
    if not named:
        raise BadRequest(f"tool_choice names {name!r}, which is not among the request's tools")
    return CallRule(required=True, parallel=parallel), named, None


def parse_request(raw: bytes, agent: str | None = None) -> ChatRequest:
    """Read a request body; raises BadRequest when it is not a chat-completions request."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    messages, tools = body.get("messages"), body.get("tools") or []
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty list")
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise BadRequest("'tools' must be a list of objects")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise BadRequest(f"'messages.{i}' must be an object with a role of {sorted(ROLES)}")
    rule, grammar_tools, unsupported = _tool_choice(body, tools)
    if (body.get("n") or 1) != 1:
        unsupported = "n > 1"
    elif body.get("response_format") not in (None, {"type": "text"}):
        unsupported = "response_format"
    elif body.get("logprobs"):
        unsupported = "logprobs"
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    options = body.get("stream_options") or {}
    return ChatRequest(
        body=body,
        agent=agent,
        stream=bool(body.get("stream")),
        include_usage=bool(isinstance(options, dict) and options.get("include_usage")),
        rule=rule,
        grammar_tools=grammar_tools,
        max_tokens=int(limit) if isinstance(limit, int) and limit > 0 else None,
        unsupported=unsupported,
    )


def error_body(message: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    """OpenAI's error shape."""
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _calls(parsed: ParsedResponse) -> list[dict[str, Any]]:
    return [
        {
            "id": "call_" + secrets.token_hex(12),
            "type": "function",
            "function": {
                "name": c["name"],
                "arguments": json.dumps(c["arguments"], ensure_ascii=False),
            },
        }
        for c in parsed.tool_calls
    ]


def message_of(parsed: ParsedResponse) -> tuple[dict[str, Any], str]:
    """(the assistant message, finish_reason) of a parsed answer."""
    message: dict[str, Any] = {"role": "assistant", "content": parsed.text or None}
    if parsed.tool_calls:
        message["tool_calls"] = _calls(parsed)
        return message, "tool_calls"
    message["content"] = parsed.text
    return message, "stop"


def completion(
    request: ChatRequest, parsed: ParsedResponse, prompt_tokens: int, completion_tokens: int
) -> dict[str, Any]:
    """The answer as a `chat.completion` object."""
    message, finish = message_of(parsed)
    return {
        "id": "chatcmpl-" + secrets.token_hex(12),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(request.body.get("model") or "slimline"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": usage(prompt_tokens, completion_tokens),
    }


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def stream_events(
    request: ChatRequest,
    parsed: ParsedResponse,
    prompt_tokens: int,
    completion_tokens: int,
    piece: int = 16,
) -> list[bytes]:
    """The answer as server-sent `chat.completion.chunk` events, ending with `[DONE]`: the
    role, the text in pieces, each tool call (its name, then its arguments in pieces), the
    finish reason, and the usage when `stream_options.include_usage` asked for it."""
    whole = completion(request, parsed, prompt_tokens, completion_tokens)
    message, finish = whole["choices"][0]["message"], whole["choices"][0]["finish_reason"]
    head = {k: whole[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}

    def event(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
        return f"data: {json.dumps({**head, 'choices': [choice]})}\n\n".encode()

    out = [event({"role": "assistant", "content": ""})]
    text = message.get("content") or ""
    out += [event({"content": text[i : i + piece]}) for i in range(0, len(text), piece)]
    for index, call in enumerate(message.get("tool_calls") or []):
        fn = call["function"]
        first = {"index": index, "id": call["id"], "type": "function"}
        out.append(event({"tool_calls": [first | {"function": {"name": fn["name"],
                                                                "arguments": ""}}]}))  # fmt: skip
        args = fn["arguments"]
        for i in range(0, len(args), piece):
            part = {"index": index, "function": {"arguments": args[i : i + piece]}}
            out.append(event({"tool_calls": [part]}))
    out.append(event({}, finish))
    if request.include_usage:
        tail = {**head, "choices": [], "usage": whole["usage"]}
        out.append(f"data: {json.dumps(tail)}\n\n".encode())
    out.append(b"data: [DONE]\n\n")
    return out
