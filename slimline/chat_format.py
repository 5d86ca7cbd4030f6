"""slimline's one text format for tools and tool calls, shared by training, evaluation and serving.

Many small models' chat templates (SmolLM2's among them) know nothing of tools. slimline
turns an OpenAI-format conversation into plain role/content messages that any chat template
renders:
- tool schemas go into the system message, one compact JSON per line after a `# Tools` header;
- an assistant tool call becomes `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`
  (one per call, on its own line, after any text);
- a tool result stays a `tool` message whose content is the result text.

`parse_response` reads a generated completion back into text and tool calls, tolerating what
small models get wrong (missing closing tag, arguments given as a JSON string, trailing text).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from slimline.record import Message

TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"
TOOLS_HEADER = "# Tools"


def tool_line(tool: dict[str, Any]) -> str:
    """One tool schema as a compact JSON line (the `function` part of an OpenAI tool)."""
    fn = tool.get("function", tool)
    return json.dumps(
        {k: fn[k] for k in ("name", "description", "parameters") if k in fn},
        separators=(",", ":"),
        ensure_ascii=False,
    )


def system_text(system: str, tools: list[dict[str, Any]]) -> str:
    """The system message content: the prompt, then the tools section if there are tools."""
    parts = [system.strip()] if system.strip() else []
    if tools:
        parts.append(TOOLS_HEADER + "\n" + "\n".join(tool_line(t) for t in tools))
    return "\n\n".join(parts)


def _arguments(raw: str) -> Any:
    try:
        return json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        return raw  # keep what the teacher sent, verbatim


def assistant_text(message: Message) -> str:
    """An assistant message as text: its content, then one <tool_call> line per call."""
    lines = [message.text().strip()] if message.text().strip() else []
    for call in message.tool_calls or []:
        body = {"name": call.function.name, "arguments": _arguments(call.function.arguments)}
        lines.append(
            TOOL_CALL_OPEN
            + json.dumps(body, ensure_ascii=False, separators=(", ", ": "))
            + TOOL_CALL_CLOSE
        )
    return "\n".join(lines)


def to_plain_messages(
    messages: list[Message],
    tools: list[dict[str, Any]],
    *,
    system_override: str | None = None,
) -> list[dict[str, str]]:
    """OpenAI-format messages as role/content pairs in slimline's format.

    `system_override` replaces the system prompt and the tools section (e.g. "" when the
    cluster's constant context is distilled into an adapter): the override is used as is.
    """
    out: list[dict[str, str]] = []
    system_seen = False
    for m in messages:
        if m.role in ("system", "developer"):
            if system_seen:
                out.append({"role": "system", "content": m.text()})
                continue
            system_seen = True
            content = system_text(m.text(), tools) if system_override is None else system_override
            if content:
                out.append({"role": "system", "content": content})
        elif m.role == "assistant":
            out.append({"role": "assistant", "content": assistant_text(m)})
        elif m.role in ("tool", "function"):
            out.append({"role": "tool", "content": m.text()})
        else:
            out.append({"role": "user", "content": m.text()})
    if not system_seen:
        content = system_text("", tools) if system_override is None else system_override
        if content:
            out.insert(0, {"role": "system", "content": content})
    return out


@dataclass
class ParsedResponse:
    """A completion read back: its text and its tool calls (name, parsed arguments)."""

    text: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    invalid_calls: int = 0  # <tool_call> blocks that were not valid JSON with a name

    @property
    def is_tool_call(self) -> bool:
        return bool(self.tool_calls) or self.invalid_calls > 0

    @property
    def all_calls_valid(self) -> bool:
        return self.invalid_calls == 0


# a block ends at its closing tag, at the next opening tag (a model that forgot to close
# one), or at the end of the text
_CALL = re.compile(
    re.escape(TOOL_CALL_OPEN)
    + r"(.*?)(?:"
    + re.escape(TOOL_CALL_CLOSE)
    + r"|(?="
    + re.escape(TOOL_CALL_OPEN)
    + r")|\Z)",
    re.DOTALL,
)


def _decode_call(body: str) -> dict[str, Any] | None:
    body = body.strip()
    try:
        obj, _ = json.JSONDecoder().raw_decode(body)
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        return None
    args = obj.get("arguments", {})
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            return None
    return {"name": obj["name"], "arguments": args}


def parse_response(text: str) -> ParsedResponse:
    """Read a generated completion in slimline's format."""
    calls, invalid = [], 0
    for match in _CALL.finditer(text):
        decoded = _decode_call(match.group(1))
        if decoded is None:
            invalid += 1
        else:
            calls.append(decoded)
    plain = _CALL.sub("", text).strip()
    return ParsedResponse(text=plain, tool_calls=calls, invalid_calls=invalid)


def reference_calls(message: Message) -> list[dict[str, Any]]:
    """The teacher's tool calls as (name, parsed arguments), the form parse_response returns."""
    return [
        {"name": c.function.name, "arguments": _arguments(c.function.arguments)}
        for c in message.tool_calls or []
    ]


def parameter_schemas(tools: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """{function name: its parameters JSON schema} of an OpenAI tool list."""
    out = {}
    for tool in tools or []:
        fn = tool.get("function", tool)
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            out[fn["name"]] = fn.get("parameters") or {}
    return out


def call_is_valid(call: dict[str, Any], schemas: dict[str, dict[str, Any]]) -> bool:
    """A parsed call with object arguments; when tools are known, a known name whose
    required arguments are all present."""
    args = call.get("arguments")
    if not isinstance(args, dict):
        return False
    if not schemas:
        return True
    if call["name"] not in schemas:
        return False
    required = schemas[call["name"]].get("required") or []
    return all(key in args for key in required)
