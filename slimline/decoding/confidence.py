"""Confidence of one answer from the model's own token probabilities: the signals, by name.

Owns two pure things, free of any model or tokenizer:
- where the decisions of a tool call sit in an answer's text: `tool_value_char_spans` finds
  the character spans of each call's name and of every scalar value in its arguments, in
  slimline's format (`<tool_call>{"name": ..., "arguments": {...}}</tool_call>`);
  `token_spans` turns them into token index ranges given each token's character offsets;
- the signals: functions of (token probabilities, token spans) -> one float, higher = surer,
  selected by name with `confidence(probs, spans, signal=...)`.

An empty answer gets each signal's lowest value (0.0, or -inf for `mean_logprob`): there is
nothing to serve. The token probabilities are
those the model gave its chosen tokens before any grammar mask (see generate.py), so a token
the grammar forced against the model's wish shows up as a low probability.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence

from slimline.chat_format import TOOL_CALL_CLOSE, TOOL_CALL_OPEN

Span = tuple[int, int]  # [start, end), characters or tokens

DEFAULT_SIGNAL = "min_prob"

_FLOOR = 1e-12  # log of a probability the float rounded to zero


def min_prob(probs: Sequence[float], spans: Sequence[Span] = ()) -> float:
    """The lowest probability over all answer tokens."""
    return min(probs) if probs else 0.0


def tool_min_prob(probs: Sequence[float], spans: Sequence[Span] = ()) -> float:
    """The lowest probability over the tool calls' name and argument-value tokens; the
    lowest over all tokens when the answer has no such tokens (a text answer)."""
    chosen = _in_spans(probs, spans)
    return min(chosen) if chosen else min_prob(probs)


def mean_logprob(probs: Sequence[float], spans: Sequence[Span] = ()) -> float:
    """The mean log-probability per answer token (<= 0)."""
    if not probs:
        return -math.inf
    return sum(math.log(max(p, _FLOOR)) for p in probs) / len(probs)


def geo_mean_prob(probs: Sequence[float], spans: Sequence[Span] = ()) -> float:
    """The geometric mean of the answer tokens' probabilities (exp of mean_logprob)."""
    return math.exp(mean_logprob(probs)) if probs else 0.0


def tool_geo_mean_prob(probs: Sequence[float], spans: Sequence[Span] = ()) -> float:
    """The geometric mean over the tool calls' name and argument-value tokens; over all
    tokens for a text answer."""
    chosen = _in_spans(probs, spans)
    return geo_mean_prob(chosen) if chosen else geo_mean_prob(probs)


SIGNALS: dict[str, Callable[[Sequence[float], Sequence[Span]], float]] = {
    "min_prob": min_prob,
    "tool_min_prob": tool_min_prob,
    "mean_logprob": mean_logprob,
    "geo_mean_prob": geo_mean_prob,
    "tool_geo_mean_prob": tool_geo_mean_prob,
}


def confidence(
    probs: Sequence[float], spans: Sequence[Span] = (), signal: str = DEFAULT_SIGNAL
) -> float:
    """The answer's confidence by the named signal (one of SIGNALS); higher = surer."""
    try:
        fn = SIGNALS[signal]
    except KeyError:
        raise ValueError(
            f"unknown confidence signal {signal!r}; known: {sorted(SIGNALS)}"
        ) from None
    return float(fn(probs, spans))


def _in_spans(probs: Sequence[float], spans: Sequence[Span]) -> list[float]:
    picked: set[int] = set()
    for start, end in spans:
        picked.update(range(max(start, 0), min(end, len(probs))))
    return [probs[i] for i in sorted(picked)]


# --- where a tool call's decisions sit in the text ------------------------------------------
_BLOCK = re.compile(
    re.escape(TOOL_CALL_OPEN) + r"(.*?)(?:" + re.escape(TOOL_CALL_CLOSE) + r"|\Z)", re.S
)
_WS = re.compile(r"[ \t\n\r]*")
_SCALAR = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")


def tool_value_char_spans(text: str) -> list[Span]:
    """Character spans of each tool call's name and argument values (scalars, nested ones
    included; a string's span is its content without the quotes, or the quotes when empty).
    A block that is not a readable JSON object counts whole."""
    spans: list[Span] = []
    for match in _BLOCK.finditer(text):
        start = match.start(1)
        body = match.group(1)
        found: list[tuple[tuple[str, ...], Span]] = []
        try:
            _scan(body, _WS.match(body, 0).end(), (), found)
        except (ValueError, IndexError):
            if body:
                spans.append((start, start + len(body)))
            continue
        for path, (a, b) in found:
            if path == ("name",) or (path and path[0] == "arguments"):
                spans.append((start + a, start + b))
    return spans


def _scan(s: str, i: int, path: tuple[str, ...], out: list[tuple[tuple[str, ...], Span]]) -> int:
    """Read one JSON value at s[i]; record scalar spans with their key path; return its end."""
    ch = s[i]
    if ch == "{":
        i = _WS.match(s, i + 1).end()
        if s[i] == "}":
            return i + 1
        while True:
            if s[i] != '"':
                raise ValueError("expected a key")
            key, i = json.decoder.scanstring(s, i + 1)
            i = _WS.match(s, i).end()
            if s[i] != ":":
                raise ValueError("expected ':'")
            i = _scan(s, _WS.match(s, i + 1).end(), (*path, key), out)
            i = _WS.match(s, i).end()
            if s[i] == "}":
                return i + 1
            if s[i] != ",":
                raise ValueError("expected ',' or '}'")
            i = _WS.match(s, i + 1).end()
    if ch == "[":
        i = _WS.match(s, i + 1).end()
        if s[i] == "]":
            return i + 1
        while True:
            i = _WS.match(s, _scan(s, i, path, out)).end()
            if s[i] == "]":
                return i + 1
            if s[i] != ",":
                raise ValueError("expected ',' or ']'")
            i = _WS.match(s, i + 1).end()
    if ch == '"':
        _, end = json.decoder.scanstring(s, i + 1)
        out.append((path, (i + 1, end - 1) if end - i > 2 else (i, end)))
        return end
    m = _SCALAR.match(s, i)
    if not m:
        raise ValueError("expected a JSON value")
    out.append((path, (m.start(), m.end())))
    return m.end()


def token_spans(char_spans: Sequence[Span], offsets: Sequence[Span]) -> list[Span]:
    """Token index ranges [first, last + 1) of the tokens whose characters (`offsets`, one
    [start, end) per token) overlap each character span."""
    out: list[Span] = []
    for a, b in char_spans:
        hits = [k for k, (s, e) in enumerate(offsets) if s < b and e > a]
        if hits:
            out.append((hits[0], hits[-1] + 1))
    return out
