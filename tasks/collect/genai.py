"""The GenAI semantic conventions' ways of writing a call's messages, read as OpenAI chat
messages. Input is a span's decoded attributes and its events as (name, attributes) pairs.

Forms read (whichever the instrumentation used):
- the current conventions: `gen_ai.input.messages`, `gen_ai.output.messages` (messages made
  of typed `parts`), `gen_ai.system_instructions`, `gen_ai.tool.definitions`, structured or
  as JSON strings, on the span or on a `gen_ai.client.inference.operation.details` event;
- the per-message events of v1.36 and before: `gen_ai.system.message`,
  `gen_ai.user.message`, `gen_ai.assistant.message`, `gen_ai.tool.message`, `gen_ai.choice`;
- the oldest: `gen_ai.prompt` / `gen_ai.completion` (JSON on `gen_ai.content.prompt` /
  `gen_ai.content.completion` events or on the span), and the flattened
  `gen_ai.prompt.0.role`, `gen_ai.completion.0.tool_calls.0.name`, ... attributes.
"""

from __future__ import annotations

import json
import re
from typing import Any

INFERENCE_OPERATIONS = {"chat", "text_completion", "generate_content", "completion"}
OLD_MESSAGE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
_FLAT = re.compile(r"^gen_ai\.(prompt|completion)\.(\d+)\.(.+)$")
Event = tuple[str, dict[str, Any]]


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
        texts, extra, calls, reasoning, results = [], [], [], [], 0
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
                results += 1
            elif kind == "reasoning":
                reasoning.append(str(part.get("content", "")))
            elif isinstance(part, dict):
                extra.append(part)
        if results and not (texts or calls or extra or reasoning):
            continue  # only tool results (in a tool or a user message), already appended
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


def tool_schemas(value: Any) -> list[dict[str, Any]]:
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


def flat_functions(attrs: dict[str, Any]) -> list[dict[str, Any]]:
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


def without_finish(message: Any) -> tuple[Any, Any]:
    """A message without the finish reason some forms put on it, and that reason."""
    if not isinstance(message, dict):
        return message, None
    rest = {k: v for k, v in message.items() if k not in ("_finish_reason", "finish_reason")}
    return rest, message.get("_finish_reason") or message.get("finish_reason")


def is_inference_span(attrs: dict[str, Any], events: list[Event]) -> bool:
    """Whether a span is an LLM call (not an HTTP, tool-execution or agent span)."""
    op = attrs.get("gen_ai.operation.name")
    if op is not None:
        return str(op) in INFERENCE_OPERATIONS
    if any(k.startswith(("gen_ai.input.messages", "gen_ai.prompt")) for k in attrs):
        return True
    names = {name for name, _ in events}
    return bool(names & (set(OLD_MESSAGE_EVENTS) | {"gen_ai.content.prompt", "gen_ai.choice"}))


def span_messages(attrs: dict[str, Any], events: list[Event]) -> tuple[list, list]:
    """(input messages, output messages) of a span, OpenAI-shaped, from whichever form."""
    merged = dict(attrs)
    for name, event_attrs in events:  # the details event carries the same attributes
        if name in ("gen_ai.client.inference.operation.details", "gen_ai.content"):
            merged.update(event_attrs)
    if "gen_ai.input.messages" in merged or "gen_ai.output.messages" in merged:
        inputs = messages_from_parts(_json(merged.get("gen_ai.input.messages", [])))
        outputs = messages_from_parts(_json(merged.get("gen_ai.output.messages", [])))
        system = _json(merged.get("gen_ai.system_instructions"))
        if system and not any(m.get("role") == "system" for m in inputs if isinstance(m, dict)):
            parts = system if isinstance(system, list) else [{"type": "text", "content": system}]
            inputs = messages_from_parts([{"role": "system", "parts": parts}]) + inputs
        return inputs, outputs
    old = [(n, a) for n, a in events if n in OLD_MESSAGE_EVENTS or n == "gen_ai.choice"]
    if old:
        inputs, outputs = [], []
        for name, event_attrs in old:
            msg = _old_event_message(name, event_attrs)
            (outputs if name == "gen_ai.choice" else inputs).append(msg)
        return inputs, outputs
    prompt, completion = merged.get("gen_ai.prompt"), merged.get("gen_ai.completion")
    for _, event_attrs in events:
        prompt = event_attrs.get("gen_ai.prompt", prompt)
        completion = event_attrs.get("gen_ai.completion", completion)
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
