"""Serve: the router's added latency on the fallback path against calling the upstream
directly, and what a champion costs to answer on this machine's CPU.

1. Fallback path: the fake upstream LLM of bench_proxy (50 ms per call, tau2-sized bodies
   and answers, its own process), `slimline serve --upstream URL` in its own process on a
   fresh home (no champion: every call is decided and forwarded through the proxy's relay,
   recorded in the raw store, its decision in the work store), the logging proxy alone
   (`slimline proxy`) beside it, and 20 clients in flight, JSON then streaming: direct,
   through the proxy and through the router, interleaved for BENCH_SERVE_ROUNDS (3) rounds.
   Medians of p50/p99, requests/s and CPU per request (the server's processes), and the
   proxy's and router's figures minus the direct ones. Then `trace_cost`: the CPU the
   router's trace writer spends per trace.
2. The context check every call pays once champions serve: the keyed hash of a tau2
   request's raw system prompt and tools against a champion's raw keys, per call.
3. A champion's answer: SmolLM2-135M (the default base) with a LoRA adapter (r=16, all
   linear layers, as PEFT initialises it: it answers as the base does) in the router's local
   backend, on tau2 airline calls with their distilled context left out, tool calls under
   the grammar of the request's tools: latency per answer alone and 4 together (batched),
   tokens/s, and the memory the backend adds with 1 and with 4 adapters loaded (the
   process's RSS; the base model is loaded once, before the first adapter).

Aim (issue 18): at most 5 ms added at p50 and 50 ms at p99 on the fallback path.
BENCH_SERVE_REQUESTS (default 200), BENCH_SERVE_ROUNDS (3) and BENCH_SERVE_TOKENS (default
32) change the run;
BENCH_SERVE_TRACES_AB=N adds N rounds of the fallback phase with the router's MLflow traces
on, then off (`SLIMLINE_SERVE__TRACES`), to show what tracing costs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.bench_proxy import AIMS, _bodies, _cpu_s, _phase, _servers
from benchmarks.common import tau2_objects


def fallback(requests: list[dict[str, Any]], n: int, rounds: int = 3) -> dict[str, Any]:
    """Direct, the logging proxy alone and the router, JSON then SSE, interleaved for
    `rounds` rounds (the load other jobs put on the machine hits all three alike); the
    medians over the rounds, and the router's figures minus the direct ones."""
    out: dict[str, Any] = {"rounds": rounds}
    runs: dict[str, list[dict[str, Any]]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp,
        _servers(Path(tmp) / "router", 900, "serve", "/slimline/router") as router,
        _servers(Path(tmp) / "proxy", 900) as proxy,
    ):
        # warm up: the first calls pay for lazy imports and first connections
        for s in (router, proxy):
            for stream in (False, True):
                asyncio.run(_phase(f"{s['url']}/v1", _bodies(requests, n, 40, stream), stream))
        for r in range(rounds):
            for kind, stream in (("json", False), ("sse", True)):
                bodies = _bodies(requests, 0, n, stream)
                line = []
                order = [
                    ("direct", router["up_url"], None),
                    ("proxy", proxy["url"], proxy["server"]),
                    ("router", router["url"], router["server"]),
                ]
                # each goes first, second and last in turn: what one leaves behind (its
                # writer still storing calls) falls on the next
                for who, base, server in order[r % 3 :] + order[: r % 3]:
                    cpu = _cpu_s(server.pid, children=True) if server else 0.0
                    m = asyncio.run(_phase(f"{base}/v1", bodies, stream))
                    if server:  # its processes: event loop, the recorder's writer, traces'
                        time.sleep(1.0)  # the decision log and the writers catch up
                        cpu = _cpu_s(server.pid, children=True) - cpu
                        m["cpu_ms_per_request"] = round(1000 * cpu / len(bodies), 2)
                    runs.setdefault(f"{who}_{kind}", []).append(m)
                    line.append(f"{who} {m['p50_ms']}/{m['p99_ms']} ms {m['rps']} req/s")
                print(f"   round {r + 1} {kind} p50/p99: " + " | ".join(line), flush=True)
        time.sleep(1.0)  # the decision log writes every 0.5 s
        with _get(f"{router['url']}/slimline/router") as state:
            out["router_state"] = state
    for key, ms in runs.items():
        out[key] = {
            field: round(statistics.median(m[field] for m in ms), 2)
            for field in ("p50_ms", "p99_ms", "rps", "cpu_ms_per_request")
            if all(m.get(field) is not None for m in ms)
        }
        out[key]["errors"] = sum(m["errors"] for m in ms)
    for kind in ("json", "sse"):
        for who in ("proxy", "router"):
            for field in ("p50_ms", "p99_ms"):
                added = out[f"{who}_{kind}"][field] - out[f"direct_{kind}"][field]
                out[f"{who}_added_{kind}_{field}"] = round(added, 2)
        out[f"added_{kind}_p50_ms"] = out[f"router_added_{kind}_p50_ms"]
        out[f"added_{kind}_p99_ms"] = out[f"router_added_{kind}_p99_ms"]
        print(
            f"   {kind}, medians of {rounds}: added p50/p99 router "
            f"+{out[f'added_{kind}_p50_ms']}/+{out[f'added_{kind}_p99_ms']} ms, proxy alone "
            f"+{out[f'proxy_added_{kind}_p50_ms']}/+{out[f'proxy_added_{kind}_p99_ms']} ms; "
            f"CPU per request router {out[f'router_{kind}'].get('cpu_ms_per_request')} ms, "
            f"proxy {out[f'proxy_{kind}'].get('cpu_ms_per_request')} ms",
            flush=True,
        )
    return out


@contextlib.contextmanager
def _get(url: str) -> Iterator[Any]:
    import httpx

    yield httpx.get(url, timeout=10).json()


def trace_cost(n: int = 100) -> dict[str, Any]:
    """CPU the trace writer process spends per routed call's trace (a fallback's: root and two
    steps), written in batches of 10 every 0.5 s as the decision log hands them over, to a
    fresh SQLite tracking store."""
    import mlflow

    from slimline.tasks.serve.traces import Steps, TraceLog

    with tempfile.TemporaryDirectory(prefix="bench-serve-traces-") as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        mlflow.set_tracking_uri(uri)
        traces = TraceLog(uri, mlflow.create_experiment("bench-traces"))
        traces.start()
        row = {"served": False, "reason": "no_champion", "status": 200, "stream": False}
        cpu = _cpu_s(traces._process.pid)
        for _ in range(n // 10):
            batch = []
            for _ in range(10):
                steps = Steps()
                steps.add("context match", steps.started, {"slimline.verdict": "no_champion"})
                steps.add("fallback to the LLM", steps.started, {"slimline.reason": "no_champion"})
                batch.append((row, steps, time.perf_counter()))
            traces.write(batch)
            time.sleep(0.5)
        traces.flush()
        cpu = _cpu_s(traces._process.pid) - cpu
        traces.close()
    return {"traces": n, "writer_cpu_ms_per_trace": round(1000 * cpu / n, 1)}


def context_check(records: list[Any]) -> dict[str, Any]:
    """Per call: the keyed hash of the raw context compared with a champion's raw keys."""
    from slimline.prompt import context_key, system_prompt_of

    keys = {context_key("bench-secret", "another agent", [])}
    started = time.perf_counter()
    for r in records:
        _ = context_key("bench-secret", system_prompt_of(r), r.tools) in keys
    ms = 1000 * (time.perf_counter() - started) / len(records)
    return {"calls": len(records), "ms_per_call": round(ms, 3)}


def _rss_mib() -> float:
    import psutil

    return round(psutil.Process().memory_info().rss / 2**20, 1)


def champion_answers(records: list[Any], tokens: int) -> dict[str, Any]:
    from peft import LoraConfig, get_peft_model

    from slimline.models import DEFAULT_BASE_MODEL, load_model
    from slimline.prompt import distilled_context, prompt_messages
    from slimline.tasks.serve.champions import Champion
    from slimline.tasks.serve.local import Job, LocalBackend
    from slimline.tasks.serve.openai import ChatRequest

    context = distilled_context(records)
    out: dict[str, Any] = {"base_model": DEFAULT_BASE_MODEL, "max_new_tokens": tokens}
    with tempfile.TemporaryDirectory(prefix="bench-serve-adapters-") as tmp:
        champions = []
        model, _ = load_model(DEFAULT_BASE_MODEL)
        cfg = LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM")
        peft = get_peft_model(model, cfg)
        for k in range(4):
            folder = Path(tmp) / f"a{k}"
            peft.save_pretrained(folder)
            context.save(folder, DEFAULT_BASE_MODEL)
            champions.append(Champion(f"bench-{k}", 1, k, DEFAULT_BASE_MODEL, folder, context, 0.0))
        del peft, model
        rss0 = _rss_mib()
        backend = LocalBackend(max_batch=4, batch_wait_ms=20)
        backend.load(champions[0])
        out["rss_mib_1_adapter"] = _rss_mib() - rss0  # low: the allocator reuses freed pages
        worker = backend.workers[DEFAULT_BASE_MODEL]
        weights = sum(p.numel() * p.element_size() for p in worker.model.parameters())
        out["weights_mib_base_and_1_adapter"] = round(weights / 2**20, 1)
        for c in champions[1:]:
            backend.load(c)
        out["rss_mib_4_adapters"] = _rss_mib() - rss0
        weights = sum(p.numel() * p.element_size() for p in worker.model.parameters())
        out["weights_mib_base_and_4_adapters"] = round(weights / 2**20, 1)
        out["rss_mib_per_extra_adapter"] = round(
            (out["rss_mib_4_adapters"] - out["rss_mib_1_adapter"]) / 3, 1
        )
        tok = backend.tokenizer(champions[0])

        def job(record: Any) -> Job:
            request = ChatRequest.from_record(record)
            prompt = prompt_messages(record, context, tok, 1024)
            return Job(champions[0].adapter, prompt, request.grammar_tools, request.rule,
                       tokens, champions[0].signal)  # fmt: skip

        backend.answer(champions[0], job(records[0]), 600)  # warm-up (grammar, caches)
        alone = []
        generated = 0
        for record in records[1:5]:
            started = time.perf_counter()
            answer, _ = backend.answer(champions[0], job(record), 600)
            alone.append(time.perf_counter() - started)
            generated += len(answer.token_ids)
        out["alone_ms_p50"] = round(1000 * statistics.median(alone), 1)
        out["alone_tokens_per_s"] = round(generated / sum(alone), 2)
        results: list[Any] = []

        def ask(record: Any) -> None:
            results.append(backend.answer(champions[0], job(record), 600)[0])

        started = time.perf_counter()
        threads = [threading.Thread(target=ask, args=(r,)) for r in records[5:9]]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
        out["batch4_wall_ms"] = round(1000 * wall, 1)
        out["batch4_tokens_per_s"] = round(sum(len(a.token_ids) for a in results) / wall, 2)
        backend.stop()
    return out


def main(out_dir: Path) -> dict[str, Any]:
    from slimline.tasks.collect.formats import from_chat_completion_pair

    n = int(os.environ.get("BENCH_SERVE_REQUESTS", "200"))
    tokens = int(os.environ.get("BENCH_SERVE_TOKENS", "32"))
    objects = tau2_objects()
    result: dict[str, Any] = {"requests_per_phase": n, "concurrency": 20, "aims": AIMS}
    print("   fallback path (no champion: every call forwarded)", flush=True)
    rounds = int(os.environ.get("BENCH_SERVE_ROUNDS", "3"))
    result["fallback"] = fallback([o["request"] for o in objects], n, rounds)
    if os.environ.get("BENCH_SERVE_TRACES_AB"):  # the MLflow traces' cost, rounds alternated
        rounds: dict[str, list[dict[str, Any]]] = {"on": [], "off": []}
        for _ in range(int(os.environ["BENCH_SERVE_TRACES_AB"])):
            for label, flag in (("on", "true"), ("off", "false")):
                os.environ["SLIMLINE_SERVE__TRACES"] = flag
                r = fallback([o["request"] for o in objects], n, 1)
                rounds[label].append({k: v for k, v in r.items() if k.startswith("added_")})
                print(f"   traces {label}: {json.dumps(rounds[label][-1])}", flush=True)
        os.environ.pop("SLIMLINE_SERVE__TRACES")
        result["traces_ab"] = rounds
    result["trace_cost"] = trace_cost()
    print(f"   traces: {result['trace_cost']['writer_cpu_ms_per_trace']} ms CPU each", flush=True)
    records = [from_chat_completion_pair(o, "tau2", f"line {i}") for i, o in enumerate(objects)]
    result["context_check"] = context_check(records[:400])
    print(f"   context check: {result['context_check']['ms_per_call']} ms per call", flush=True)
    airline = [r for r in records if r.agent == "tau2-airline"][:9]
    result["champion"] = champion_answers(airline, tokens)
    print(f"   champion: {json.dumps(result['champion'])}", flush=True)
    return result
