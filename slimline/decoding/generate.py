"""Greedy, batched decoding of chat prompts with a causal LM, each answer with the model's own
token probabilities and a confidence; and a teacher-forced scorer of given answers.

The prompts arrive as chat messages (role/content, the exact prompt training used); the
tokenizer's chat template renders them with the generation prompt appended. Prompts are
sorted by length and left-padded in batches; results come back in the order of the prompts.

Per answer (`Answer`): its token ids (up to, not including, the stop token), the probability
the model gave each chosen token (softmax of the raw logits, before any grammar mask: the
logits `generate(output_logits=True)` returns, no second forward pass), the probability of
ending there (`end_prob`, all stop tokens together; None when cut at `max_new_tokens`), the
token spans of its tool calls' names and argument values, and its confidence by a named
signal (confidence.py). When a request offers tools, its tool calls are decoded under the
grammar of its tool set (grammar.py). `score_answers` gives the same figures for answers
given as text or token ids, in one forward pass per batch (a champion's logged answer).
A PeftModel's named adapter is made active for the call and the previous one restored.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from slimline.chat_format import TOOL_CALL_OPEN
from slimline.decoding.confidence import (
    DEFAULT_SIGNAL,
    Span,
    confidence,
    token_spans,
    tool_value_char_spans,
)
from slimline.decoding.tokens import render_prompt, stop_token_ids

Messages = list[dict[str, str]]
Tools = list[dict[str, Any]]


@dataclass
class Answer:
    """One answer and the model's own view of it."""

    text: str
    token_ids: list[int]
    token_probs: list[float]
    end_prob: float | None  # probability of stopping right after it; None: cut at the limit
    spans: list[Span]  # token ranges of the tool calls' names and argument values
    confidence: float


@dataclass
class Generation:
    """The completions of one model on a list of prompts, and how long they took."""

    texts: list[str]
    new_tokens: list[int]
    seconds: float
    answers: list[Answer] = field(default_factory=list)
    grammar_seconds: float = 0.0  # of `seconds`, spent applying tool-call grammars

    @property
    def latency_ms(self) -> float:
        """Wall time per call (batched), in milliseconds."""
        return 1000.0 * self.seconds / max(len(self.texts), 1)

    @property
    def tokens_per_s(self) -> float:
        return sum(self.new_tokens) / self.seconds if self.seconds > 0 else 0.0

    @property
    def confidences(self) -> list[float]:
        return [a.confidence for a in self.answers]


def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Messages],
    *,
    max_new_tokens: int,
    batch_size: int,
    tools: Sequence[Tools | None] | None = None,
    adapter: str | None = None,
    signal: str = DEFAULT_SIGNAL,
    rules: Sequence[Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Generation:
    """Greedy completions of `prompts`, `batch_size` at a time. `tools[i]` (OpenAI format) is
    the tool set prompt i's request offers: its tool calls are constrained to it; None or []
    leaves that answer free. `rules[i]` (a grammar.CallRule; default: text or any calls) is
    what the request's `tool_choice` allows. `adapter` names the PeftModel adapter to use.
    `progress(done, total)` is called after each batch."""
    import torch
    from transformers import LogitsProcessorList

    if tools is not None and len(tools) != len(prompts):
        raise ValueError(f"{len(tools)} tool sets for {len(prompts)} prompts")
    texts = [render_prompt(tokenizer, p) for p in prompts]
    lengths = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])
    answers: list[Answer | None] = [None] * len(texts)
    stops = stop_token_ids(tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]
    grammars = None
    if tools is not None and any(tools):
        from slimline.decoding.grammar import tool_grammars

        grammars = tool_grammars(tokenizer)
    step = max(batch_size, 1)
    grammar_seconds = 0.0
    started = time.perf_counter()
    with _left_padding(tokenizer), _active_adapter(model, adapter), _dora_cached(model):
        model.eval()
        device = next(model.parameters()).device
        for start in range(0, len(order), step):
            batch = order[start : start + step]
            enc = tokenizer(
                [texts[i] for i in batch],
                return_tensors="pt",
                padding=True,
                add_special_tokens=False,
            ).to(device)
            processors = LogitsProcessorList()
            if grammars is not None:
                from slimline.decoding.constrain import GrammarConstraint

                grammar_started = time.perf_counter()
                matchers = [
                    grammars.matcher(tools[i], *([rules[i]] if rules else []))  # type: ignore[index]
                    for i in batch
                ]
                grammar_seconds += time.perf_counter() - grammar_started
                if any(m is not None for m in matchers):
                    processors.append(GrammarConstraint(matchers, stops, grammars.vocab_size))
            with torch.inference_mode():
                out = model.generate(
                    **enc,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    num_beams=1,
                    pad_token_id=pad_id,
                    eos_token_id=stops,
                    logits_processor=processors,
                    output_logits=True,
                    return_dict_in_generate=True,
                )
            grammar_seconds += sum(getattr(p, "seconds", 0.0) for p in processors)
            new = out.sequences[:, enc["input_ids"].shape[1] :]
            chosen, ended = _step_probs(out.logits, new, stops)
            for row, i in enumerate(batch):
                ids = new[row].tolist()
                end = next((k for k, t in enumerate(ids) if t in stops), len(ids))
                end_prob = ended[row][end] if end < len(ids) else None
                answers[i] = make_answer(tokenizer, ids[:end], chosen[row][:end], end_prob, signal)
            if progress is not None:
                progress(min(start + step, len(order)), len(order))
    seconds = time.perf_counter() - started
    done = [a for a in answers if a is not None]
    texts, counts = [a.text for a in done], [len(a.token_ids) for a in done]
    return Generation(texts, counts, seconds, done, grammar_seconds)


def score_answers(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Messages],
    answers: Sequence[str | Sequence[int]],
    *,
    batch_size: int = 8,
    adapter: str | None = None,
    signal: str = DEFAULT_SIGNAL,
) -> list[Answer]:
    """The model's probabilities of given answers (text, or token ids as generated) to
    `prompts`, teacher-forced: one forward pass per batch, same figures as `generate`.
    A text is tokenized the tokenizer's way, which may split it otherwise than the model
    generated it; pass the generated ids to score exactly what was generated."""
    import torch

    if len(answers) != len(prompts):
        raise ValueError(f"{len(answers)} answers for {len(prompts)} prompts")
    stops = stop_token_ids(tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]
    prompt_ids = [
        tokenizer(render_prompt(tokenizer, p), add_special_tokens=False)["input_ids"]
        for p in prompts
    ]
    answer_ids = [
        tokenizer(a, add_special_tokens=False)["input_ids"] if isinstance(a, str) else list(a)
        for a in answers
    ]
    order = sorted(range(len(prompts)), key=lambda i: len(prompt_ids[i]) + len(answer_ids[i]))
    out: list[Answer | None] = [None] * len(prompts)
    step = max(batch_size, 1)
    with _active_adapter(model, adapter), torch.inference_mode():
        model.eval()
        device = next(model.parameters()).device
        for start in range(0, len(order), step):
            batch = order[start : start + step]
            seqs = [prompt_ids[i] + answer_ids[i] for i in batch]
            width = max(len(s) for s in seqs)
            ids = torch.tensor([[pad_id] * (width - len(s)) + s for s in seqs], device=device)
            mask = torch.tensor(
                [[0] * (width - len(s)) + [1] * len(s) for s in seqs], device=device
            )
            positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)
            keep = max(len(answer_ids[i]) for i in batch) + 1
            logits = model(
                input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep
            ).logits
            logprobs = torch.log_softmax(logits.float(), dim=-1)
            for row, i in enumerate(batch):
                n = len(answer_ids[i])
                rows = logprobs[row, keep - n - 1 :]  # predicts each answer token, then the end
                target = torch.tensor(answer_ids[i], device=device, dtype=torch.long)
                probs = rows[:n].gather(-1, target[:, None]).squeeze(-1).exp().tolist()
                end_prob = float(rows[n, stops].exp().sum())
                out[i] = make_answer(tokenizer, answer_ids[i], probs, end_prob, signal)
    return [a for a in out if a is not None]


def make_answer(
    tokenizer: Any,
    ids: list[int],
    probs: list[float],
    end_prob: float | None,
    signal: str = DEFAULT_SIGNAL,
) -> Answer:
    """An Answer from its token ids and probabilities: text, tool-value spans, confidence."""
    text = tokenizer.decode(ids, skip_special_tokens=True)
    spans: list[Span] = []
    if TOOL_CALL_OPEN in text:
        spans = token_spans(tool_value_char_spans(text), token_offsets(tokenizer, ids))
    return Answer(text, list(ids), list(probs), end_prob, spans, confidence(probs, spans, signal))


def token_offsets(tokenizer: Any, ids: Sequence[int]) -> list[Span]:
    """Each token's [start, end) characters in `tokenizer.decode(ids, skip_special_tokens=
    True)`, from the lengths of the decoded prefixes (never decreasing)."""
    offsets, previous = [], 0
    for k in range(1, len(ids) + 1):
        length = max(len(tokenizer.decode(ids[:k], skip_special_tokens=True)), previous)
        offsets.append((previous, length))
        previous = length
    return offsets


def _step_probs(
    logits: Sequence[Any], new: Any, stops: list[int]
) -> tuple[list[list[float]], list[list[float]]]:
    """Per row and step: the probability of the chosen token, and of any stop token, from
    the raw logits of each step."""
    import torch

    chosen, ended = [], []
    for k, step_logits in enumerate(logits):
        logprobs = torch.log_softmax(step_logits.float(), dim=-1)
        chosen.append(logprobs.gather(-1, new[:, k : k + 1]).squeeze(-1).exp())
        ended.append(logprobs[:, stops].exp().sum(-1))
    if not chosen:
        return [[] for _ in range(new.shape[0])], [[] for _ in range(new.shape[0])]
    return torch.stack(chosen, 1).tolist(), torch.stack(ended, 1).tolist()


@contextmanager
def _left_padding(tokenizer: Any) -> Iterator[None]:
    previous = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        yield
    finally:
        tokenizer.padding_side = previous


_dora_lock = threading.Lock()
_dora_users = 0


@contextmanager
def _dora_cached(model: Any) -> Iterator[None]:
    """DoRA adapters recompute their full weight's norm at every forward pass: 2.2x the CPU
    per token of decoding with it cached (benchmarks/bench_decoding.py `dora`). PEFT caches
    it, and the adapter's weight, when its module-wide flag is on; on for the block
    (counted, since each router base decodes in its own thread), and this model's caches
    dropped at its end, so no cache outlives the weights it was computed from (an adapter
    loaded again under the same name)."""
    layers = [m for m in model.modules() if hasattr(m, "_dora_cache")]
    if not layers:
        yield
        return
    from peft.tuners.lora import dora

    global _dora_users
    with _dora_lock:
        _dora_users += 1
        dora.ENABLE_DORA_CACHING = True
    try:
        yield
    finally:
        with _dora_lock:
            _dora_users -= 1
            if _dora_users == 0:
                dora.ENABLE_DORA_CACHING = False
        for layer in layers:
            layer._cache_clear()


@contextmanager
def _active_adapter(model: Any, adapter: str | None) -> Iterator[None]:
    """Make `adapter` the PeftModel's active adapter for the block; restore the previous."""
    if adapter is None:
        yield
        return
    try:
        previous = model.active_adapter  # a PeftModel
    except (AttributeError, ValueError):
        try:
            previous = model.active_adapters()  # transformers' own PEFT integration
        except (AttributeError, ValueError):
            raise ValueError(
                f"adapter {adapter!r} asked for, but the model has no adapters"
            ) from None
    model.set_adapter(adapter)
    try:
        yield
    finally:
        model.set_adapter(previous)
