"""Decoding benchmarks (slimline/decoding) on this machine's CPU, all from one run:

- compile: per distinct tau2 tool set, the grammar's compile time (llguidance matcher
  construction, then the first mask, where it builds its lexer lazily), and a cache hit
  (the hash of the tool set, then a copy of the compiled matcher); the tokenizer's one-off
  wrapping for llguidance;
- mask: the grammar's CPU cost per token (mask computed + token consumed) over every logged
  tau2 answer run through its own request's grammar, text and tool-call answers apart;
- generate: SmolLM2-135M greedy on real tau2 prompts, free and constrained by the request's
  tools, alternated (free, constrained, free, constrained) so both see the same machine;
  CPU seconds (process time, torch on one thread) per generated token of each, the lowest
  of ROUNDS rounds, and the overhead in percent: on a shared machine wall time swings
  several fold between rounds, and with several torch threads so does CPU time (OpenMP
  threads spin while they wait); wall figures are reported beside.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks.common import tau2_objects

PROMPTS = 8
MAX_NEW_TOKENS = 32
BATCH = 4
PROMPT_TOOLS = 3
ROUNDS = 2


def _tool_sets(objs: list[dict[str, Any]]) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    out: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    for obj in objs:
        tools = obj["request"].get("tools") or []
        key = hashlib.sha256(json.dumps(tools, sort_keys=True).encode()).hexdigest()[:12]
        out.setdefault(key, (obj["agent"], tools))
    return out


def _compile(tokenizer: Any, objs: list[dict[str, Any]]) -> dict[str, Any]:
    from slimline.decoding.grammar import ToolGrammars, tool_set_key

    started = time.perf_counter()
    grammars = ToolGrammars(tokenizer)
    result: dict[str, Any] = {"tokenizer_wrap_s": round(time.perf_counter() - started, 3)}
    for agent, tools in _tool_sets(objs).values():
        started = time.perf_counter()
        matcher = grammars.matcher(tools)
        built = time.perf_counter()
        matcher.compute_bitmask()
        first_mask = time.perf_counter()
        hits = []
        for _ in range(20):
            t0 = time.perf_counter()
            grammars.matcher(tools)
            hits.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        tool_set_key(tools)
        key_s = time.perf_counter() - t0
        result[agent] = {
            "tools": len(tools),
            "schema_bytes": len(json.dumps(tools)),
            "compile_ms": round(1000 * (built - started), 2),
            "first_mask_ms": round(1000 * (first_mask - built), 2),
            "cache_hit_ms_median": round(1000 * statistics.median(hits), 3),
            "of_which_hash_ms": round(1000 * key_s, 3),
        }
    result["cache"] = grammars.stats.__dict__
    return result


def _masks(tokenizer: Any, objs: list[dict[str, Any]]) -> dict[str, Any]:
    from slimline.chat_format import assistant_text
    from slimline.decoding import stop_token_ids
    from slimline.decoding.grammar import tool_grammars
    from slimline.record import Message

    grammars, stop = tool_grammars(tokenizer), stop_token_ids(tokenizer)[0]
    per_token: dict[str, list[float]] = {"text": [], "tool_calls": []}
    accepted = 0
    for obj in objs:
        message = Message.model_validate(obj["response"]["choices"][0]["message"])
        ids = tokenizer(assistant_text(message), add_special_tokens=False)["input_ids"] + [stop]
        matcher = grammars.matcher(obj["request"]["tools"])
        ok = True
        started = time.thread_time()  # CPU time: the machine is shared
        for token in ids:
            matcher.compute_bitmask()
            ok = ok and matcher.consume_token(token)
        per_token["tool_calls" if message.tool_calls else "text"].append(
            (time.thread_time() - started) / len(ids)
        )
        accepted += ok
    return {
        "answers": len(objs),
        "accepted_by_their_grammar": accepted,
        **{
            f"{kind}_ms_per_token": {
                "answers": len(v),
                "mean": round(1000 * statistics.mean(v), 4),
                "p99": round(1000 * sorted(v)[int(0.99 * (len(v) - 1))], 4),
            }
            for kind, v in per_token.items()
        },
    }


def _prompts(objs: list[dict[str, Any]]) -> tuple[list[list[dict[str, str]]], list[Any]]:
    """PROMPTS real telecom calls, short enough that decoding, not the prompt, dominates:
    the system prompt's first line, the request's first PROMPT_TOOLS tools in slimline's
    format, one example lookup (so that the base model answers with tool calls too), and
    the call's last user message. The constraint uses the request's whole tool set."""
    from slimline.chat_format import to_plain_messages
    from slimline.record import Message

    example = [
        {"role": "user", "content": "My phone number is 555-000-1111. Please find my account."},
        {"role": "assistant", "content": None, "tool_calls": [_EXAMPLE_CALL]},
        {"role": "tool", "tool_call_id": "c1", "content": '{"customer_id": "C1001"}'},
        {"role": "assistant", "content": "Found you. Anything else?"},
    ]
    calls = [o for o in objs if o["agent"] == "tau2-telecom"]
    prompts, tools = [], []
    for obj in calls[:: max(len(calls) // PROMPTS, 1)][:PROMPTS]:
        messages = [Message.model_validate(m) for m in obj["request"]["messages"]]
        user = next(m for m in reversed(messages) if m.role == "user")
        system = Message(role="system", content=messages[0].text().splitlines()[0])
        shown = obj["request"]["tools"][:PROMPT_TOOLS]
        conversation = [system, *(Message.model_validate(m) for m in example), user]
        prompts.append(to_plain_messages(conversation, shown))
        tools.append(obj["request"]["tools"])
    return prompts, tools


_EXAMPLE_CALL = {
    "id": "c1",
    "type": "function",
    "function": {
        "name": "get_customer_by_phone",
        "arguments": json.dumps({"phone_number": "555-000-1111"}),
    },
}


def _generate(objs: list[dict[str, Any]]) -> dict[str, Any]:
    import torch

    from slimline.decoding import generate, render_prompt
    from slimline.models import DEFAULT_BASE_MODEL, load_model

    model, tokenizer = load_model(DEFAULT_BASE_MODEL)
    prompts, tools = _prompts(objs)
    lengths = [len(tokenizer(render_prompt(tokenizer, p))["input_ids"]) for p in prompts]
    runs: dict[str, list[tuple[Any, float]]] = {"free": [], "constrained": []}
    generate(model, tokenizer, prompts[:1], max_new_tokens=2, batch_size=1, tools=tools[:1])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # CPU time is work done, not OpenMP threads spinning
    try:
        for _ in range(ROUNDS):
            for mode in runs:
                cpu = time.process_time()
                gen = generate(
                    model,
                    tokenizer,
                    prompts,
                    max_new_tokens=MAX_NEW_TOKENS,
                    batch_size=BATCH,
                    tools=tools if mode == "constrained" else None,
                )
                runs[mode].append((gen, time.process_time() - cpu))
    finally:
        torch.set_num_threads(threads)

    def per_token(seconds: float, gen: Any) -> float:
        return seconds / max(sum(gen.new_tokens), 1)

    wall = {m: min(per_token(g.seconds, g) for g, _ in runs[m]) for m in runs}
    cpu = {m: min(per_token(c, g) for g, c in runs[m]) for m in runs}
    constrained = min(runs["constrained"], key=lambda r: per_token(r[0].seconds, r[0]))[0]
    grammar = per_token(constrained.grammar_seconds, constrained)
    return {
        "model": DEFAULT_BASE_MODEL,
        "prompts": len(prompts),
        "prompt_tokens_median": statistics.median(lengths),
        "max_new_tokens": MAX_NEW_TOKENS,
        "torch_threads": 1,
        "batch_size": BATCH,
        "free_cpu_s_per_token": round(cpu["free"], 4),
        "constrained_cpu_s_per_token": round(cpu["constrained"], 4),
        "cpu_overhead_pct": round(100 * (cpu["constrained"] / cpu["free"] - 1), 1),
        "free_wall_s_per_token": round(wall["free"], 4),
        "constrained_wall_s_per_token": round(wall["constrained"], 4),
        "grammar_wall_ms_per_generated_token": round(1000 * grammar, 3),
        "cpu_ms_added_per_token": round(1000 * (cpu["constrained"] - cpu["free"]), 2),
        "answers_with_tool_calls": {
            m: sum("<tool_call>" in t for t in runs[m][0][0].texts) for m in runs
        },
        "all_rounds_wall_s": {m: [round(g.seconds, 2) for g, _ in runs[m]] for m in runs},
        "all_rounds_cpu_s": {m: [round(c, 2) for _, c in runs[m]] for m in runs},
    }


def _dora(objs: list[dict[str, Any]]) -> dict[str, Any]:
    """A DoRA adapter (r=16, all linear layers, random weights) on SmolLM2-135M, the same
    prompts decoded with its weight norms cached for the call (what `generate` does) and
    without (PEFT's default), alternated; CPU seconds per token, the lowest of ROUNDS."""
    import contextlib
    import importlib

    import torch
    from peft import LoraConfig, get_peft_model

    from slimline.models import DEFAULT_BASE_MODEL, load_model

    module = importlib.import_module("slimline.decoding.generate")
    model, tokenizer = load_model(DEFAULT_BASE_MODEL)
    torch.manual_seed(0)
    config = LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", use_dora=True,
                        init_lora_weights=False, task_type="CAUSAL_LM")  # fmt: skip
    model = get_peft_model(model, config)
    prompts, tools = _prompts(objs)
    prompts, tools = prompts[:BATCH], tools[:BATCH]
    cached_for_the_call = module._dora_cached
    runs: dict[str, list[tuple[Any, float]]] = {"cached": [], "uncached": []}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(ROUNDS):
            for mode in runs:
                if mode == "uncached":  # the baseline: PEFT as it comes
                    module._dora_cached = lambda model: contextlib.nullcontext()
                cpu = time.process_time()
                try:
                    gen = module.generate(
                        model, tokenizer, prompts, batch_size=BATCH,
                        max_new_tokens=MAX_NEW_TOKENS, tools=tools,
                    )  # fmt: skip
                finally:
                    module._dora_cached = cached_for_the_call
                runs[mode].append((gen, time.process_time() - cpu))
    finally:
        torch.set_num_threads(threads)
    cpu = {m: min(c / max(sum(g.new_tokens), 1) for g, c in runs[m]) for m in runs}
    return {
        "model": DEFAULT_BASE_MODEL,
        "prompts": len(prompts),
        "max_new_tokens": MAX_NEW_TOKENS,
        "torch_threads": 1,
        "cached_cpu_s_per_token": round(cpu["cached"], 4),
        "uncached_cpu_s_per_token": round(cpu["uncached"], 4),
        "speedup": round(cpu["uncached"] / cpu["cached"], 2),
        "same_answers": runs["cached"][0][0].texts == runs["uncached"][0][0].texts,
    }


def main(out_dir: Path) -> dict[str, Any]:
    from slimline.models import DEFAULT_BASE_MODEL, load_tokenizer

    objs = tau2_objects()
    tokenizer = load_tokenizer(DEFAULT_BASE_MODEL)
    result = {
        "compile": _compile(tokenizer, objs),
        "mask": _masks(tokenizer, objs),
        "generate": _generate(objs),
        "dora": _dora(objs),
    }
    print(json.dumps(result, indent=2))
    return result
