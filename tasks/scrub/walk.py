"""Every string of a call, where it sits, and what its JSON key says it is.

`map_message`, `map_json_text`, `map_metadata` and `map_tools` call `visit(text, hint,
place)` on each string and put back what it returns, keeping everything else as it was:
JSON keys, structure and formatting (a JSON string that changed is written in the style it
came in). `hint` is the entity type its JSON key names (`email` -> EMAIL_ADDRESS) or None;
`place` is where it sits: system, user, assistant, tool_args, tool_result, metadata, tools.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from slimline.tasks.scrub.config import norm_key

Visit = Callable[[str, str | None, str], str]

PLACES = ("system", "user", "assistant", "tool_args", "tool_result", "metadata", "tools")
_JSON_STYLES: list[dict[str, Any]] = [
    {},
    {"ensure_ascii": False},
    {"separators": (",", ":")},
    {"separators": (",", ":"), "ensure_ascii": False},
    {"indent": 2},
    {"indent": 2, "ensure_ascii": False},
    {"indent": 4},
]
SCHEMA_TEXT_KEYS = {"description", "examples", "example", "default"}


def place_of(role: str) -> str:
    if role in ("system", "developer"):
        return "system"
    if role in ("tool", "function"):
        return "tool_result"
    return "user" if role == "user" else "assistant"


def map_message(message: dict[str, Any], visit: Visit, hints: dict[str, str]) -> dict[str, Any]:
    """A message (as a dict, OpenAI chat format) with every string it carries mapped."""
    out = dict(message)
    role = str(message.get("role", "user"))
    place = place_of(role)
    content = message.get("content")
    if isinstance(content, str):
        out["content"] = map_json_text(content, visit, hints, place)
    elif isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                part = {**part, "text": map_json_text(part["text"], visit, hints, place)}
            parts.append(part)
        out["content"] = parts
    if message.get("tool_calls"):
        out["tool_calls"] = [_map_call(call, visit, hints) for call in message["tool_calls"]]
    if isinstance(message.get("function_call"), dict):
        out["function_call"] = _map_function(message["function_call"], visit, hints)
    if isinstance(message.get("name"), str) and place != "tool_result":
        out["name"] = visit(message["name"], None, place)
    for key in ("refusal", "reasoning_content", "reasoning"):
        if isinstance(message.get(key), str):
            out[key] = visit(message[key], None, place)
    return out


def _map_call(call: Any, visit: Visit, hints: dict[str, str]) -> Any:
    if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
        return call
    return {**call, "function": _map_function(call["function"], visit, hints)}


def _map_function(function: dict[str, Any], visit: Visit, hints: dict[str, str]) -> dict:
    args = function.get("arguments")
    if not isinstance(args, str):
        return function
    return {**function, "arguments": map_json_text(args, visit, hints, "tool_args")}


def map_json_text(
    text: str, visit: Visit, hints: dict[str, str], place: str, hint: str | None = None
) -> str:
    """A string that may hold JSON: its leaves mapped if it does (structure and style kept),
    else the string itself."""
    parsed = _parse_container(text)
    if parsed is None:
        return visit(text, hint, place) if text.strip() else text
    new, changed = map_json(parsed, visit, hints, place, hint)
    if not changed:
        return text
    return dumps_like(text, parsed, new)


def map_json(
    value: Any, visit: Visit, hints: dict[str, str], place: str, hint: str | None = None
) -> tuple[Any, bool]:
    """(mapped value, whether anything changed) for parsed JSON; keys are kept."""
    if isinstance(value, dict):
        changed = False
        out = {}
        for key, item in value.items():
            item_hint = hints.get(norm_key(str(key)), hint if isinstance(item, list) else None)
            new, c = map_json(item, visit, hints, place, item_hint)
            out[key] = new
            changed |= c
        return (out, True) if changed else (value, False)
    if isinstance(value, list):
        pairs = [map_json(item, visit, hints, place, hint) for item in value]
        if any(c for _, c in pairs):
            return [v for v, _ in pairs], True
        return value, False
    if isinstance(value, str):
        new = map_json_text(value, visit, hints, place, hint)
        return new, new != value
    if isinstance(value, int) and not isinstance(value, bool) and hint:
        new = visit(str(value), hint, place)
        if new == str(value):
            return value, False
        return (int(new) if new.isdigit() and not new.startswith("0") else new), True
    return value, False


def map_metadata(metadata: dict[str, Any], visit: Visit, hints: dict[str, str]) -> dict[str, Any]:
    new, _ = map_json(metadata, visit, hints, "metadata")
    return new


def map_tools(tools: list[Any], visit: Visit) -> list[Any]:
    """Tool schemas: only their prose (descriptions, examples, defaults) is mapped; names,
    types and enums are the interface and stay."""

    def walk(node: Any, key: str | None) -> tuple[Any, bool]:
        if isinstance(node, dict):
            pairs = {k: walk(v, k) for k, v in node.items()}
            if any(c for _, c in pairs.values()):
                return {k: v for k, (v, _) in pairs.items()}, True
            return node, False
        if isinstance(node, list):
            pairs_l = [walk(v, key) for v in node]
            if any(c for _, c in pairs_l):
                return [v for v, _ in pairs_l], True
            return node, False
        if isinstance(node, str) and key in SCHEMA_TEXT_KEYS and node.strip():
            new = visit(node, None, "tools")
            return new, new != node
        return node, False

    new, _ = walk(tools, None)
    return new


def _parse_container(text: str) -> Any:
    s = text.lstrip()
    if not s or s[0] not in "{[":
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict | list) else None


def dumps_like(original: str, parsed: Any, new: Any) -> str:
    """`new` as JSON in the style `original` was written in (when it is a known style)."""
    for style in _JSON_STYLES:
        if json.dumps(parsed, **style) == original:
            return json.dumps(new, **style)
    return json.dumps(new, ensure_ascii=False)
