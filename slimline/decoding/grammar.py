"""Grammars of slimline's answer format for a request's tool set, compiled with llguidance and
cached by a hash of the tool set.

An answer is free text, or tool calls, or text then tool calls, where every tool call is
`<tool_call>{"name": "<one of the request's tools>", "arguments": {<JSON valid against that
tool's parameters schema>}}</tool_call>` written as slimline's chat_format writes it
(`json.dumps(..., separators=(", ", ": "))`), calls separated by one newline and nothing after
the last. Free text may not contain `<tool_call>` except as the start of a constrained call,
so no unconstrained call can slip through as text.

Schemas in the wild are messy. Each tool's `parameters` is normalised (missing → any object,
no `type` → object, `strict`: objects with `properties` and no `additionalProperties` get
`additionalProperties: false`, as OpenAI's strict mode does); llguidance's lenient mode ignores
keywords it does not implement; a tool whose schema it still rejects falls back to any JSON
object for its arguments, logged once, and the request is served all the same.

`tool_call_lark(tools)` is the grammar text (Lark, llguidance's dialect), usable as is by any
llguidance-backed server; `ToolGrammars.matcher(tools)` gives a fresh matcher for one answer.
A `CallRule` narrows it as a request's `tool_choice` and `parallel_tool_calls` ask: tool calls
only (no text; "required" or a named function), and at most one call.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import threading
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from slimline.chat_format import TOOL_CALL_CLOSE, TOOL_CALL_OPEN

log = logging.getLogger(__name__)

ITEM_SEPARATOR, KEY_SEPARATOR = ", ", ": "  # chat_format.assistant_text's json.dumps style
_JSON_OPTIONS = {
    "item_separator": ITEM_SEPARATOR,
    "key_separator": KEY_SEPARATOR,
    "whitespace_flexible": False,
    "lenient": True,
}
ANY_OBJECT: dict[str, Any] = {"type": "object"}
_warned: set[str] = set()


@dataclass(frozen=True)
class CallRule:
    """What a request allows beside its tools: `required` (tool calls only, no text: OpenAI's
    `tool_choice` "required" or a named function) and `parallel` (more than one call)."""

    required: bool = False
    parallel: bool = True


FREE = CallRule()  # text, or text then any number of calls: what evaluation decodes with


def tool_functions(tools: list[dict[str, Any]] | None) -> list[tuple[str, dict[str, Any]]]:
    """(name, raw parameters schema) of each OpenAI-format tool with a name, first one wins."""
    out: dict[str, dict[str, Any]] = {}
    for tool in tools or []:
        fn = tool.get("function", tool) if isinstance(tool, dict) else None
        name = fn.get("name") if isinstance(fn, dict) else None
        if isinstance(name, str) and name and name not in out:
            params = fn.get("parameters")
            out[name] = params if isinstance(params, dict) else ANY_OBJECT
    return list(out.items())


def normalize_schema(schema: dict[str, Any], *, strict: bool = True) -> dict[str, Any]:
    """An arguments schema the grammar can use: always an object, tightened when `strict`."""
    if schema.get("type", "object") != "object" and schema.get("type") != ["object"]:
        return dict(ANY_OBJECT)  # arguments are a JSON object whatever the schema claims
    out = copy.deepcopy(schema)
    out.pop("x-guidance", None)
    out.setdefault("type", "object")
    if strict:
        _close_objects(out)
    return out


def _close_objects(node: Any) -> None:
    """additionalProperties: false on every subschema with properties that says nothing."""
    if not isinstance(node, dict):
        return
    if isinstance(node.get("properties"), dict) and "additionalProperties" not in node:
        node["additionalProperties"] = False
    for key in ("properties", "$defs", "definitions", "patternProperties"):
        if isinstance(node.get(key), dict):
            for sub in node[key].values():
                _close_objects(sub)
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        if isinstance(node.get(key), list):
            for sub in node[key]:
                _close_objects(sub)
    for key in ("items", "additionalProperties", "not", "if", "then", "else"):
        _close_objects(node.get(key))


def _call_rule(name: str, schema: dict[str, Any]) -> str:
    head = "{" + json.dumps("name") + KEY_SEPARATOR + json.dumps(name, ensure_ascii=False)
    head += ITEM_SEPARATOR + json.dumps("arguments") + KEY_SEPARATOR
    body = json.dumps({**schema, "x-guidance": _JSON_OPTIONS}, ensure_ascii=False)
    return f"{json.dumps(head)} %json {body} {json.dumps('}' + TOOL_CALL_CLOSE)}"


def tool_call_lark(
    tools: list[dict[str, Any]], *, strict: bool = True, rule: CallRule = FREE
) -> str:
    """The answer grammar for `tools` (llguidance's Lark); raises ValueError without tools."""
    functions = [(n, normalize_schema(s, strict=strict)) for n, s in tool_functions(tools)]
    return _lark(functions, rule)


def _start(rule: CallRule) -> str:
    calls = " (SEP call)*" if rule.parallel else ""
    if rule.required:
        return f"start: {json.dumps(TOOL_CALL_OPEN)} call{calls}"
    return f"start: TEXT | head call{calls}"


def _lark(functions: list[tuple[str, dict[str, Any]]], rule: CallRule = FREE) -> str:
    if not functions:
        raise ValueError("no tool with a name: nothing to constrain")
    calls = " | ".join(f"call_{i}" for i in range(len(functions)))
    lines = [
        "%llguidance {}",
        _start(rule),
        f"head[lazy]: /(?s:.*){TOOL_CALL_OPEN}/",
        f"SEP: {json.dumps(chr(10) + TOOL_CALL_OPEN)}",
        f"TEXT: /(?s:.*)/ & ~/(?s:.*){TOOL_CALL_OPEN}(?s:.*)/",
        f"call: {calls}",
    ]
    lines += [f"call_{i}: {_call_rule(n, s)}" for i, (n, s) in enumerate(functions)]
    return "\n".join(lines) + "\n"


def tool_set_key(
    tools: list[dict[str, Any]] | None, *, strict: bool = True, rule: CallRule = FREE
) -> str:
    """A hash of what the grammar depends on: tool names, their schemas, strictness, rule."""
    extra = [] if rule == FREE else [rule.required, rule.parallel]
    canon = json.dumps([tool_functions(tools), strict, *extra], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canon.encode()).hexdigest()


@dataclass
class GrammarStats:
    """What the cache did: compiles (with their seconds), hits, tools that fell back."""

    compiles: int = 0
    hits: int = 0
    compile_seconds: float = 0.0
    fallbacks: int = 0


class ToolGrammars:
    """Compiled answer grammars for one tokenizer, cached by tool-set hash (LRU)."""

    def __init__(self, tokenizer: Any, *, max_entries: int = 256, strict: bool = True) -> None:
        import llguidance.hf

        from slimline.decoding.tokens import stop_token_ids

        self.ll_tokenizer = llguidance.hf.from_tokenizer(
            tokenizer, eos_token=stop_token_ids(tokenizer)
        )
        self.vocab_size = self.ll_tokenizer.vocab_size
        self.strict = strict
        self.max_entries = max_entries
        self.stats = GrammarStats()
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def matcher(self, tools: list[dict[str, Any]] | None, rule: CallRule = FREE) -> Any | None:
        """A fresh llguidance matcher for one answer to a request offering `tools` under
        `rule`; None when the request offers no usable tool (then the answer is free text)."""
        if not tool_functions(tools):
            return None
        key = tool_set_key(tools, strict=self.strict, rule=rule)
        with self._lock:
            proto = self._cache.get(key)
            if proto is not None:
                self._cache.move_to_end(key)
                self.stats.hits += 1
                return proto.deep_copy()
        started = time.perf_counter()
        proto = self._compile(tools, rule)
        with self._lock:
            self.stats.compiles += 1
            self.stats.compile_seconds += time.perf_counter() - started
            self._cache[key] = proto
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
        return proto.deep_copy()

    def _compile(self, tools: list[dict[str, Any]] | None, rule: CallRule = FREE) -> Any:
        from llguidance import LLMatcher

        functions = [(n, normalize_schema(s, strict=self.strict)) for n, s in tool_functions(tools)]
        matcher = LLMatcher(self.ll_tokenizer, _lark(functions, rule), log_level=0)
        if not matcher.is_error():
            return matcher
        # find the tools whose schema llguidance rejects; their arguments become any object
        fixed = []
        for name, schema in functions:
            grammar = LLMatcher.grammar_from_json_schema({**schema, "x-guidance": _JSON_OPTIONS})
            error = LLMatcher.validate_grammar(grammar, self.ll_tokenizer)
            if error and not error.startswith("WARNING"):
                self.stats.fallbacks += 1
                _warn_once(name, schema, error)
                schema = dict(ANY_OBJECT)
            fixed.append((name, schema))
        matcher = LLMatcher(self.ll_tokenizer, _lark(fixed, rule), log_level=0)
        if matcher.is_error():  # not a schema after all: constrain names, not arguments
            log.warning(
                "tool-call grammar rejected (%s); arguments unconstrained",
                matcher.get_error().splitlines()[0],
            )
            anything = [(n, ANY_OBJECT) for n, _ in fixed]
            matcher = LLMatcher(self.ll_tokenizer, _lark(anything, rule))
        return matcher


def _warn_once(name: str, schema: dict[str, Any], error: str) -> None:
    key = hashlib.sha256(json.dumps([name, schema], sort_keys=True).encode()).hexdigest()
    if key not in _warned:
        _warned.add(key)
        log.warning(
            "tool %s: its parameters schema is not supported (%s); its arguments are "
            "constrained to any JSON object",
            name,
            error.splitlines()[0] if error else "?",
        )


_by_tokenizer: weakref.WeakKeyDictionary[Any, ToolGrammars] = weakref.WeakKeyDictionary()
_by_tokenizer_lock = threading.Lock()


def tool_grammars(tokenizer: Any) -> ToolGrammars:
    """The shared grammar cache of `tokenizer` (built on first use, ~0.5 s)."""
    with _by_tokenizer_lock:
        grammars = _by_tokenizer.get(tokenizer)
        if grammars is None:
            grammars = _by_tokenizer[tokenizer] = ToolGrammars(tokenizer)
        return grammars
