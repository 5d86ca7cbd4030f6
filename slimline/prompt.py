"""The prompt an adapter sees, built alike by training, evaluation and serving.

- The cluster's constant context (the system prompt and tool schemas that nearly every call
  repeats) is *distilled into the adapter*: `distilled_context` picks it, prompts whose
  context equals it leave it out, and the adapter is stored with it (`CONTEXT_FILE`: its
  text and hash), so that evaluation and the router strip it from the calls they answer.
- Live requests are raw while adapters learn from scrubbed calls, and scrub may rewrite an
  identifier inside a system prompt, so the router recognises the context by a keyed hash of
  its RAW text (`context_key`: HMAC-SHA256 under a secret kept in the raw store): scrub
  stamps each call with it (metadata `slimline.context_key`), and the distilled context
  keeps the keys of the calls it stands for (`raw_keys`). Without the raw store's secret
  the key says nothing about the text.
- `prompt_messages` turns a call into role/content messages in slimline's chat format
  (slimline/chat_format.py) that fit `max_seq_len - reserve` tokens under the tokenizer's
  chat template: the history is trimmed from the oldest turns, keeping the system message
  (if any) and the latest turns, never separating an assistant's tool call from its tool
  results; a turn that alone is too long is cut, keeping its end (or a system message's
  start). `completion_messages` is the teacher's answer as the one assistant message an
  adapter learns to write.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import weakref
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from slimline import chat_format
from slimline.record import CallRecord, canonical_json, content_hash

CONTEXT_SECRET = "context-key"  # the raw store's secret that context keys are made with
CONTEXT_KEY_FIELD = "slimline.context_key"  # a scrubbed call's metadata: its raw context's key
DEFAULT_RESERVE = 256  # tokens kept free for the completion (tau2 responses: p90 187)
CONTEXT_FILE = "distilled_context.json"  # how the context is stored beside an adapter
TRIM_MARK = "[…]"


# --- the distilled context ----------------------------------------------------------------
def system_prompt_of(record: CallRecord) -> str:
    """The record's system prompt: its first system (or developer) message, or ''."""
    return next((m.text() for m in record.messages if m.role in ("system", "developer")), "")


def context_text(record: CallRecord) -> str:
    """The record's constant context as slimline renders it: system prompt + tools section."""
    return chat_format.system_text(system_prompt_of(record), record.tools)


@dataclass
class DistilledContext:
    """The cluster's constant context, learnt by the adapter instead of read from the prompt."""

    text: str  # chat_format.system_text(system_prompt, tools)
    hash: str  # content_hash(text): what a router compares to strip it
    system_prompt: str
    tools: list[dict]
    share: float = 1.0  # share of the cluster's calls that carry exactly this context
    raw_keys: list[str] = field(default_factory=list)  # context keys of its raw calls

    def matches(self, record: CallRecord) -> bool:
        """Whether `record`'s system prompt and tools render to this context."""
        if system_prompt_of(record) == self.system_prompt and record.tools == self.tools:
            return True  # the common case, without rendering 30 KB of tool schemas
        return context_text(record) == self.text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DistilledContext:
        """The context from its saved form (other keys, e.g. `base_model`, are ignored)."""
        known = {"text", "hash", "system_prompt", "tools", "share", "raw_keys"}
        ctx = cls(**{k: v for k, v in data.items() if k in known})
        if content_hash(ctx.text) != ctx.hash:
            raise ValueError(f"distilled context: hash {ctx.hash[:12]} does not match its text")
        return ctx

    def save(self, folder: str | Path, base_model: str | None = None) -> Path:
        """Write it beside an adapter (CONTEXT_FILE in `folder`), with the adapter's base
        model when given."""
        data = self.to_dict() | ({"base_model": base_model} if base_model else {})
        path = Path(folder) / CONTEXT_FILE
        path.write_text(json.dumps(data, ensure_ascii=False, indent=1))
        return path

    @classmethod
    def load(cls, folder: str | Path) -> DistilledContext | None:
        """The context stored beside an adapter, or None when it has none."""
        path = Path(folder) / CONTEXT_FILE
        return cls.from_dict(json.loads(path.read_text())) if path.exists() else None


def distilled_context(records: list[CallRecord]) -> DistilledContext:
    """The most common (system prompt, tools) pair of the cluster's calls, with its share."""
    if not records:
        raise ValueError("distilled_context: the cluster has no records")
    counts: Counter[str] = Counter()
    first: dict[str, CallRecord] = {}
    for r in records:
        key = canonical_json([system_prompt_of(r), r.tools])
        counts[key] += 1
        first.setdefault(key, r)
    key, n = min(counts.items(), key=lambda kv: (-kv[1], content_hash(kv[0])))
    rec = first[key]
    text = context_text(rec)
    raw_keys = {
        r.metadata[CONTEXT_KEY_FIELD]
        for r in records
        if isinstance(r.metadata.get(CONTEXT_KEY_FIELD), str)
        and canonical_json([system_prompt_of(r), r.tools]) == key
    }
    return DistilledContext(
        text=text,
        hash=content_hash(text),
        system_prompt=system_prompt_of(rec),
        tools=list(rec.tools),
        share=round(n / len(records), 4),
        raw_keys=sorted(raw_keys),
    )


def context_key(secret: str, system_prompt: str, tools: list[dict[str, Any]]) -> str:
    """The keyed hash of a raw context (see the module docstring), of its canonical JSON, so
    that the order of keys in the tool schemas does not matter."""
    text = canonical_json([system_prompt, tools])
    return hmac.new(secret.encode(), text.encode("utf-8"), hashlib.sha256).hexdigest()


def record_context_key(secret: str, record: CallRecord) -> str:
    """`context_key` of a (raw) call's system prompt and tools."""
    return context_key(secret, system_prompt_of(record), record.tools)


# --- counting tokens ----------------------------------------------------------------------
class TokenCounter:
    """Exact token counts under a tokenizer's chat template, plus cached per-text counts
    (the messages of a conversation repeat in each of its calls) for quick estimates."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self._cache: dict[str, int] = {}
        one = [{"role": "user", "content": "x"}]
        single = self.exact(one, generation_prompt=False)
        self.per_message = max(1, self.exact(one * 2, False) - single - self.text("x"))
        # what the template adds around the messages: a default system prompt, the
        # generation prompt (an overestimate when the prompt has a system message)
        self.fixed = max(0, self.exact(one) - self.text("x") - self.per_message)

    def exact(self, messages: list[dict[str, str]], generation_prompt: bool = True) -> int:
        """Tokens of `messages` rendered by the chat template, as TRL tokenizes them."""
        out = self.tokenizer.apply_chat_template(
            messages, tokenize=True, return_dict=True, add_generation_prompt=generation_prompt
        )
        return len(out["input_ids"])

    def text(self, text: str) -> int:
        """Tokens of a plain text (cached)."""
        if text not in self._cache:
            if len(self._cache) > 200_000:
                self._cache.clear()
            self._cache[text] = len(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        return self._cache[text]

    def estimate(self, messages: list[dict[str, str]]) -> int:
        """Tokens of `messages` in a prompt, from the per-text counts (within a few tokens)."""
        return sum(self.text(m["content"]) + self.per_message for m in messages)


_counters: weakref.WeakKeyDictionary[Any, TokenCounter] = weakref.WeakKeyDictionary()


def token_counter(tokenizer: Any) -> TokenCounter:
    """The (cached) TokenCounter of `tokenizer`."""
    try:
        counter = _counters.get(tokenizer)
        if counter is None:
            counter = _counters[tokenizer] = TokenCounter(tokenizer)
        return counter
    except TypeError:  # a tokenizer that cannot be weakly referenced
        return TokenCounter(tokenizer)


# --- compaction ---------------------------------------------------------------------------
SLACK = 32  # estimates within this many tokens of the budget are settled by exact counts
EMPTY_TURN = {"role": "user", "content": ""}  # a prompt with no message left (chat templates
# need one): the first call of an agent that speaks first, its context distilled


def _turns(messages: list[dict[str, str]]) -> tuple[list[int], list[list[int]]]:
    """(indexes of system messages, turns as lists of indexes): a tool result joins the turn
    of the assistant call before it, so trimming never separates them."""
    pinned: list[int] = []
    turns: list[list[int]] = []
    for i, m in enumerate(messages):
        if m["role"] == "system":
            pinned.append(i)
        elif m["role"] == "tool" and turns:
            turns[-1].append(i)
        else:
            turns.append([i])
    return pinned, turns


def fit_messages(
    messages: list[dict[str, str]], tokenizer: Any, budget: int
) -> list[dict[str, str]]:
    """The latest turns of `messages` (and every system message) within `budget` tokens,
    counted with the chat template and the generation prompt; a lone turn too long for the
    budget is cut (see `_shorten`)."""
    counter = token_counter(tokenizer)
    if not messages:
        messages = [dict(EMPTY_TURN)]
    pinned, turns = _turns(messages)

    def pick(k: int) -> list[dict[str, str]]:
        keep = set(pinned).union(i for t in turns[len(turns) - k :] for i in t)
        return [dict(m) for i, m in enumerate(messages) if i in keep]

    base = counter.fixed + counter.estimate([messages[i] for i in pinned])
    sizes: list[int] = []  # estimated tokens of the latest turns, newest first
    for turn in reversed(turns):
        sizes.append(counter.estimate([messages[i] for i in turn]))
        if base + sum(sizes) > budget + SLACK:
            break
    k = 0
    while k < len(sizes) and base + sum(sizes[: k + 1]) <= budget:
        k += 1
    k = max(k, min(1, len(turns)))
    size = counter.exact(pick(k))
    while k > 1 and size > budget:
        k -= 1
        size = counter.exact(pick(k))
    while k < len(sizes) and base + sum(sizes[: k + 1]) <= budget + SLACK:
        bigger = counter.exact(pick(k + 1))
        if bigger > budget:
            break
        k, size = k + 1, bigger
    out = pick(k)
    return out if size <= budget else _shorten(out, counter, budget)


def _cut(counter: TokenCounter, text: str, keep: int, keep_end: bool) -> str:
    if keep <= 0:
        return TRIM_MARK
    ids = counter.tokenizer(text, add_special_tokens=False)["input_ids"]
    kept = ids[-keep:] if keep_end else ids[:keep]
    body = counter.tokenizer.decode(kept, skip_special_tokens=False)
    return TRIM_MARK + body if keep_end else body + TRIM_MARK


def _shorten(out: list[dict[str, str]], counter: TokenCounter, budget: int) -> list[dict[str, str]]:
    """Cut the longest messages until `out` fits: a system message keeps its start, any other
    message its end (the latest part of a tool result or user turn)."""
    for _ in range(len(out) * 4 + 8):
        excess = counter.exact(out) - budget
        if excess <= 0:
            return out
        i = max(range(len(out)), key=lambda j: counter.text(out[j]["content"]))
        size = counter.text(out[i]["content"])
        if size <= 2:
            break
        keep = size - excess - 4
        out[i]["content"] = _cut(counter, out[i]["content"], keep, out[i]["role"] != "system")
    raise ValueError(
        f"the chat template alone needs more than {budget} tokens: raise max_seq_len or "
        "lower the reserve"
    )


def plain_prompt(record: CallRecord, context: DistilledContext | None) -> tuple[list, bool]:
    """(the whole request as plain messages, whether the context was left out)."""
    distilled = context is not None and context.matches(record)
    plain = chat_format.to_plain_messages(
        record.messages, record.tools, system_override="" if distilled else None
    )
    return plain, distilled


def fit_prompt(
    plain: list, record: CallRecord, tokenizer: Any, max_seq_len: int, reserve: int
) -> list:
    """`plain` (a record's plain messages) fitted to `max_seq_len - reserve` tokens."""
    budget = max_seq_len - reserve
    if budget <= 0:
        raise ValueError(
            f"record {record.id}: max_seq_len {max_seq_len} leaves no room beside {reserve} "
            "tokens for the completion"
        )
    try:
        return fit_messages(plain, tokenizer, budget)
    except ValueError as exc:
        raise ValueError(f"record {record.id}: {exc}") from None


def prompt_messages(
    record: CallRecord,
    context: DistilledContext | None,
    tokenizer: Any,
    max_seq_len: int,
    reserve: int = DEFAULT_RESERVE,
) -> list[dict[str, str]]:
    """The record's request as plain role/content messages that fit `max_seq_len - reserve`
    tokens (with the generation prompt): the distilled context left out when the record
    carries it, the oldest turns trimmed. Raises ValueError (naming the record) when not
    even a cut-down last turn fits."""
    plain, _ = plain_prompt(record, context)
    return fit_prompt(plain, record, tokenizer, max_seq_len, reserve)


def completion_messages(record: CallRecord) -> list[dict[str, str]]:
    """The teacher's response as the one assistant message the adapter learns to write."""
    return [{"role": "assistant", "content": chat_format.assistant_text(record.response)}]
