"""The SFT dataset of one cluster: the split, the distilled context, compaction, the examples.

An example is TRL's conversational prompt-completion pair: `prompt` = the request's messages
in slimline's chat format (slimline/chat_format.py), `completion` = the teacher's response as
one assistant message, so the loss falls on the completion only.

Compaction makes a call fit the training window (`max_seq_len`):
- the cluster's constant context (the system prompt and tool schemas that nearly every call
  repeats) is *distilled into the adapter*: prompts whose context equals it leave it out; the
  adapter is stored with its text and hash, so a router strips it from live requests;
- the history is trimmed from the oldest turns, keeping the system message (if any) and the
  latest turns, and never separating an assistant's tool call from its tool results; a turn
  that alone is too long is cut, keeping its end (or a system message's start).

Evaluation and serving build prompts with the same `prompt_messages`, so an adapter sees at
evaluation exactly the prompt it was trained on (same `reserve`: the tokens left for the
completion). Conversations are split whole (FACTS.md: each call repeats the conversation so
far, so a split by call leaks the answers).
"""

from __future__ import annotations

import json
import math
import weakref
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from slimline import chat_format
from slimline.record import CallRecord, canonical_json, content_hash

DEFAULT_RESERVE = 256  # tokens kept free for the completion (tau2 responses: p90 187)
CONTEXT_FILE = "distilled_context.json"  # how the context is stored beside an adapter
TRIM_MARK = "[…]"


# --- the split ----------------------------------------------------------------------------
def _unit_score(conversation_id: str, seed: int) -> float:
    """A conversation's place in [0, 1): fixed for a given id and seed."""
    return int(content_hash(f"{seed}:{conversation_id}")[:13], 16) / 16**13


def split_by_conversation(
    records: list[CallRecord], eval_fraction: float, seed: int = 0
) -> tuple[list[CallRecord], list[CallRecord]]:
    """(train, eval): every conversation wholly on one side, decided by a hash of its id.

    A conversation goes to eval when its score (hash of seed and conversation id) is below
    `eval_fraction`, so its side never changes as new conversations arrive night after night.
    With two or more conversations and 0 < eval_fraction < 1 each side gets at least one
    (the lowest-scoring conversation moves to eval, or the highest to train). Record order
    is kept on both sides.
    """
    if not 0.0 <= eval_fraction <= 1.0:
        raise ValueError(f"eval_fraction must be within [0, 1], got {eval_fraction}")
    scores = {c: _unit_score(c, seed) for c in {r.conversation_id for r in records}}
    held = {c for c, s in scores.items() if s < eval_fraction}
    if len(scores) >= 2 and 0.0 < eval_fraction < 1.0:
        ranked = sorted(scores, key=lambda c: (scores[c], c))
        if not held:
            held = {ranked[0]}
        elif len(held) == len(scores):
            held.discard(ranked[-1])
    train = [r for r in records if r.conversation_id not in held]
    evaluation = [r for r in records if r.conversation_id in held]
    return train, evaluation


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

    def matches(self, record: CallRecord) -> bool:
        """Whether `record`'s system prompt and tools render to this context."""
        if system_prompt_of(record) == self.system_prompt and record.tools == self.tools:
            return True  # the common case, without rendering 30 KB of tool schemas
        return context_text(record) == self.text

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DistilledContext:
        ctx = cls(**data)
        if content_hash(ctx.text) != ctx.hash:
            raise ValueError(f"distilled context: hash {ctx.hash[:12]} does not match its text")
        return ctx

    def save(self, folder: str | Path) -> Path:
        """Write it beside an adapter (CONTEXT_FILE in `folder`)."""
        path = Path(folder) / CONTEXT_FILE
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1))
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
    return DistilledContext(
        text=text,
        hash=content_hash(text),
        system_prompt=system_prompt_of(rec),
        tools=list(rec.tools),
        share=round(n / len(records), 4),
    )


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


def _plain_prompt(record: CallRecord, context: DistilledContext | None) -> tuple[list, bool]:
    """(the whole request as plain messages, whether the context was left out)."""
    distilled = context is not None and context.matches(record)
    plain = chat_format.to_plain_messages(
        record.messages, record.tools, system_override="" if distilled else None
    )
    return plain, distilled


def _fit(plain: list, record: CallRecord, tokenizer: Any, max_seq_len: int, reserve: int) -> list:
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
    plain, _ = _plain_prompt(record, context)
    return _fit(plain, record, tokenizer, max_seq_len, reserve)


def completion_messages(record: CallRecord) -> list[dict[str, str]]:
    """The teacher's response as the one assistant message the adapter learns to write."""
    return [{"role": "assistant", "content": chat_format.assistant_text(record.response)}]


# --- the dataset --------------------------------------------------------------------------
def _median(values: list[int]) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    mid = len(s) // 2
    return float(s[mid]) if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def _p90(values: list[int]) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return float(s[max(0, math.ceil(0.9 * len(s)) - 1)])


@dataclass
class DatasetBuild:
    """A cluster's SFT examples and what compaction did to them."""

    examples: list[dict[str, list[dict[str, str]]]]  # {"prompt": [...], "completion": [...]}
    record_ids: list[str]  # the record behind each example, in order
    digest: str  # content hash of the examples
    max_seq_len: int
    context_hash: str | None
    tokens_before: list[int] = field(repr=False, default_factory=list)  # full request + response
    tokens_after: list[int] = field(repr=False, default_factory=list)  # prompt + completion
    dropped: int = 0  # examples whose completion alone does not fit max_seq_len
    dropped_ids: list[str] = field(default_factory=list)
    distilled: int = 0  # examples whose prompt left the distilled context out
    trimmed: int = 0  # examples whose history was trimmed or cut

    @property
    def tokens_before_median(self) -> float:
        return _median(self.tokens_before)

    @property
    def tokens_before_p90(self) -> float:
        return _p90(self.tokens_before)

    @property
    def tokens_after_median(self) -> float:
        return _median(self.tokens_after)

    @property
    def tokens_after_p90(self) -> float:
        return _p90(self.tokens_after)

    @property
    def tokens_after_max(self) -> int:
        return max(self.tokens_after, default=0)

    def stats(self) -> dict[str, float]:
        """Figures to log (MLflow metrics, reports)."""
        return {
            "examples": len(self.examples),
            "dropped": self.dropped,
            "distilled": self.distilled,
            "trimmed": self.trimmed,
            "tokens_before_median": self.tokens_before_median,
            "tokens_before_p90": self.tokens_before_p90,
            "tokens_after_median": self.tokens_after_median,
            "tokens_after_p90": self.tokens_after_p90,
            "tokens_after_max": self.tokens_after_max,
        }


def build_dataset(
    records: list[CallRecord],
    context: DistilledContext | None,
    tokenizer: Any,
    max_seq_len: int,
    reserve: int = DEFAULT_RESERVE,
) -> DatasetBuild:
    """One example per record, each fitting `max_seq_len` tokens under the chat template.

    Prompts are built with `reserve` (as evaluation and serving build them); a completion
    longer than the reserve takes the room it needs from the history instead. A record whose
    completion cannot fit even beside the shortest prompt is dropped and counted.
    """
    counter = token_counter(tokenizer)
    examples, ids, before, after, dropped_ids = [], [], [], [], []
    distilled = trimmed = 0
    for record in records:
        completion = completion_messages(record)
        plain, left_out = _plain_prompt(record, context)
        full = counter.estimate(plain) + counter.estimate(completion) + counter.fixed
        if left_out and context is not None and context.text:
            full += counter.text(context.text) + counter.per_message
        need = counter.estimate(completion)
        try:
            prompt = _fit(plain, record, tokenizer, max_seq_len, max(reserve, need))
            total = counter.exact(prompt + completion, generation_prompt=False)
            if total > max_seq_len:  # the estimate of the completion fell short
                extra = max(reserve, need) + total - max_seq_len
                prompt = _fit(plain, record, tokenizer, max_seq_len, extra)
                total = counter.exact(prompt + completion, generation_prompt=False)
            if total > max_seq_len:
                raise ValueError(f"record {record.id}: {total} tokens after compaction")
        except ValueError:
            dropped_ids.append(record.id)
            continue
        distilled += bool(left_out and context is not None and context.text)
        trimmed += prompt != (plain or [EMPTY_TURN])
        examples.append({"prompt": prompt, "completion": completion})
        ids.append(record.id)
        before.append(full)
        after.append(total)
    return DatasetBuild(
        examples=examples,
        record_ids=ids,
        digest=content_hash(canonical_json(examples)),
        max_seq_len=max_seq_len,
        context_hash=context.hash if context is not None else None,
        tokens_before=before,
        tokens_after=after,
        dropped=len(dropped_ids),
        dropped_ids=dropped_ids,
        distilled=distilled,
        trimmed=trimmed,
    )
