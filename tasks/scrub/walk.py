"""Every string of a call, where it sits, and what its JSON key says it is.

`map_message`, `map_json_text`, `map_metadata` and `map_tools` call `visit(text, hint,
place)` on each string and put back what it returns, keeping everything else as it was:
JSON keys, structure and formatting (a JSON string that changed is written in the style it
came in). `hint` is the entity type its JSON key names (`email` -> EMAIL_ADDRESS) or None;
`place` is where it sits: system, user, assistant, tool_args, tool_result, metadata, tools.

Structure is evidence too: a `name` (or `full_name`, `display_name`, `holder` ...) inside an
object that describes a person (beside contact keys such as `email`, `phone`, `address`,
`dob`, `user_id`, or under a key like `customer`, `passengers`, `contact`) is a person's
name; a `name` beside `price` or `sku`, or inside a tool call's `function`, is not.
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

# the hint of a value that structure (not its own key) says is a person's name
NAME_BY_STRUCTURE = "PERSON_BY_STRUCTURE"
# keys whose string value is a person's name when their object describes a person
NAME_KEYS = frozenset({
    "name", "full_name", "fullname", "display_name", "contact_name", "holder", "holder_name",
    "account_holder", "account_holder_name", "card_holder", "cardholder", "owner_name",
    "person", "person_name", "legal_name", "preferred_name", "customer", "passenger",
    "guest_name", "patient_name", "member_name", "recipient_name", "sender_name",
    "traveler_name", "employee_name", "nickname",
})  # fmt: skip
# keys of the parts of a name object ({"name": {"first": .., "last": ..}})
NAME_PART_KEYS = frozenset({"first", "last", "middle", "given", "family", "full", "surname"})
# keys whose object (or list of objects) describes people
PERSON_ROLES = frozenset({
    "customer", "user", "passenger", "traveler", "traveller", "contact", "holder",
    "account_holder", "cardholder", "owner", "patient", "employee", "guest", "member",
    "client", "recipient", "sender", "beneficiary", "attendee", "participant", "person",
    "people", "emergency_contact", "spouse", "dependent", "applicant", "caller", "driver",
    "tenant", "student", "profile", "account",
})  # fmt: skip
# keys that never describe a person, whatever their objects hold
NOT_PERSON = frozenset({"function", "tool", "tools", "parameters", "properties", "schema"})
# hinted types whose key beside a `name` makes its object a person's
CONTACT_TYPES = frozenset({
    "EMAIL_ADDRESS", "PHONE_NUMBER", "STREET_ADDRESS", "ZIP_CODE", "DATE_OF_BIRTH", "USER_ID",
    "US_SSN", "US_PASSPORT", "PERSON",
})  # fmt: skip
CONTACT_KEYS = frozenset({"address", "contact", "contact_info", "gender", "nationality"})


def _role(key: str | None) -> str | None:
    if key is None:
        return None
    key = norm_key(key)
    return key[:-1] if key.endswith("s") and key[:-1] in PERSON_ROLES else key


def describes_person(obj: dict[str, Any], parent: str | None, hints: dict[str, str]) -> bool:
    """Does this JSON object describe a person (so its `name` is a person's name)?"""
    role = _role(parent)
    if role in NOT_PERSON:
        return False
    if role in PERSON_ROLES:
        return True
    for key in obj:
        k = norm_key(str(key))
        if hints.get(k) in CONTACT_TYPES or k in CONTACT_KEYS:
            return True
    return False


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
    value: Any,
    visit: Visit,
    hints: dict[str, str],
    place: str,
    hint: str | None = None,
    parent: str | None = None,
) -> tuple[Any, bool]:
    """(mapped value, whether anything changed) for parsed JSON; keys are kept. `parent` is
    the key the value sits under."""
    if isinstance(value, dict):
        changed = False
        out = {}
        person = describes_person(value, parent, hints)
        name_object = _role(parent) in NAME_KEYS
        for key, item in value.items():
            k = norm_key(str(key))
            item_hint = hints.get(k, hint if isinstance(item, list) else None)
            named = (person and k in NAME_KEYS) or (name_object and k in NAME_PART_KEYS)
            if item_hint is None and named and isinstance(item, str):
                item_hint = NAME_BY_STRUCTURE
            new, c = map_json(item, visit, hints, place, item_hint, str(key))
            out[key] = new
            changed |= c
        return (out, True) if changed else (value, False)
    if isinstance(value, list):
        pairs = [map_json(item, visit, hints, place, hint, parent) for item in value]
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
