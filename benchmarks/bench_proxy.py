"""Proxy: the logging proxy's added latency against calling the upstream LLM directly.

Three processes on loopback (127.0.0.1 only), as a user runs them:
- a fake upstream LLM (this module run as `python -m benchmarks.bench_proxy upstream ...`):
  uvicorn serving the OpenAI chat-completions protocol, JSON or server-sent events, with a
  fixed 50 ms latency. It answers each request with the logged response of the real tau2
  call the request came from (`X-Bench-Call: N`), so bodies are tau2-sized (median 36 KB
  in, tool calls or text out); a stream is one event per word (arguments in 8-character
  pieces) in five bursts 10 ms apart, the first at 10 ms, `[DONE]` at 50 ms;
- the proxy, `slimline --home DIR proxy --upstream URL --port P` in its own process, with a
  fresh SQLite raw store (the embedded default);
- the load generator, this process: httpx.AsyncClient, 20 requests in flight, 400 per
  phase, each with `Authorization: Bearer <secret>`.

Each round runs four phases, direct and through the proxy, JSON then streaming, and reports
p50/p99 (for streams: until the last byte; the first event is reported as ttfb) and
requests/s, and the proxy's figures minus direct ones of the same round. The headline is the
median over the rounds. Then the proxy is stopped (it drains its queue) and the raw store is
checked: every proxied call recorded, none dropped, the secret nowhere under the home folder.
All three share this machine's CPU cores, so the proxy competes with the load generator and
the upstream for them, as it would beside an agent on one host.

Aim (issue 18): at most 5 ms added at p50 and 50 ms at p99, JSON and streaming alike.
BENCH_PROXY_ROUNDS (default 3) and BENCH_PROXY_REQUESTS (default 400) change the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, tau2_objects

LATENCY_S = 0.05  # what the fake upstream takes per call
BURSTS = 5  # a stream arrives in this many bursts, LATENCY_S / BURSTS apart
CONCURRENCY = 20
SECRET = "sk-bench-SECRET-7f3a19"  # must reach the upstream and never the store
AIMS = {"added_p50_ms_max": 5.0, "added_p99_ms_max": 50.0}


# --- the fake upstream (its own process) ---------------------------------------------------
def _stream_events(answer: dict[str, Any], usage: dict[str, Any] | None) -> list[bytes]:
    """The SSE events of `answer` (a chat.completion), one per word or 8 argument characters."""
    head = {k: answer[k] for k in ("id", "created", "model")}
    choice = answer["choices"][0]
    message = choice["message"]

    def event(delta: dict[str, Any], finish: str | None = None) -> bytes:
        data = {
            **head,
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return b"data: " + json.dumps(data).encode() + b"\n\n"

    events = [event({"role": "assistant", "content": ""})]
    for word in re.findall(r"\s*\S+\s*", message.get("content") or ""):
        events.append(event({"content": word}))
    for n, call in enumerate(message.get("tool_calls") or []):
        first = {"index": n, "id": call["id"], "type": "function"}
        first["function"] = {"name": call["function"]["name"], "arguments": ""}
        events.append(event({"tool_calls": [first]}))
        args = call["function"]["arguments"]
        for i in range(0, len(args), 8):
            piece = {"index": n, "function": {"arguments": args[i : i + 8]}}
            events.append(event({"tool_calls": [piece]}))
    events.append(event({}, choice.get("finish_reason") or "stop"))
    if usage:
        tail = {**head, "object": "chat.completion.chunk", "choices": [], "usage": usage}
        events.append(b"data: " + json.dumps(tail).encode() + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return events


def upstream_app(responses: list[dict[str, Any]]) -> Any:
    """A bare ASGI app (no framework, so the upstream costs the shared CPU little)."""
    seen = {"requests": 0, "authorized": 0, "connections": 0}
    clients: set[Any] = set()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                event = (await receive())["type"]
                await send({"type": f"{event}.complete"})
                if event == "lifespan.shutdown":
                    return
        headers = dict(scope["headers"])
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        if scope["path"] == "/bench/stats":
            await _send_json(send, 200, seen)
            return
        if scope["path"] != "/v1/chat/completions" or scope["method"] != "POST":
            await _send_json(send, 404, {"error": {"message": "not found"}})
            return
        seen["requests"] += 1
        clients.add(tuple(scope.get("client") or ()))
        seen["connections"] = len(clients)
        seen["authorized"] += headers.get(b"authorization") == f"Bearer {SECRET}".encode()
        request = json.loads(b"".join(chunks))
        logged = responses[int(headers.get(b"x-bench-call", b"0")) % len(responses)]
        answer = {
            **logged,
            "id": f"chatcmpl-bench-{seen['requests']}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model", "bench"),
        }
        if not request.get("stream"):
            await asyncio.sleep(LATENCY_S)
            await _send_json(send, 200, answer)
            return
        wants_usage = (request.get("stream_options") or {}).get("include_usage")
        events = _stream_events(answer, answer.get("usage") if wants_usage else None)
        start = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
        per_burst = -(-len(events) // BURSTS)
        for burst in range(BURSTS):
            await asyncio.sleep(LATENCY_S / BURSTS)
            if burst == 0:
                await send({"type": "http.response.start", "status": 200, "headers": start})
            for item in events[burst * per_burst : (burst + 1) * per_burst]:
                await send({"type": "http.response.body", "body": item, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


async def _send_json(send: Any, status: int, value: Any) -> None:
    body = json.dumps(value).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def run_upstream(port: int, seconds: float) -> None:
    """Serve the fake upstream on 127.0.0.1:port; it stops itself after `seconds`."""
    import uvicorn

    responses = [obj["response"] for obj in tau2_objects()]
    # uvicorn's pure-Python defaults, whatever else is installed: the same upstream for a
    # proxy measured with or without uvloop/httptools
    config = uvicorn.Config(
        upstream_app(responses),
        host="127.0.0.1",
        port=port,
        loop="asyncio",
        http="h11",
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    timer = threading.Timer(seconds, lambda: setattr(server, "should_exit", True))
    timer.daemon = True
    timer.start()
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the SIGINT it stopped on
        server.run()


# --- the load generator ----------------------------------------------------------------------
def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _phase(base: str, bodies: list[tuple[int, bytes]], stream: bool) -> dict[str, Any]:
    """Send `bodies` to base/chat/completions from CONCURRENCY clients, each with one
    keep-alive connection (as CONCURRENCY agents with their own OpenAI client would)."""
    import httpx

    totals: list[float] = []
    firsts: list[float] = []
    errors: list[str] = []
    pending = iter(bodies)

    async def worker() -> None:
        # verify=False: plain http on loopback, and it spares each client loading the CA file
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(
            base_url=base, limits=limits, timeout=60, verify=False
        ) as client:
            await client.get("/models")  # connect before the clock starts (any answer will do)
            await connected.wait()
            for index, body in pending:
                await one(client, index, body)

    async def one(client: httpx.AsyncClient, index: int, body: bytes) -> None:
        headers = {
            "Authorization": f"Bearer {SECRET}",
            "Content-Type": "application/json",
            "X-Bench-Call": str(index),
            "X-Slimline-Agent": "bench",
        }
        started = time.perf_counter()
        first = None
        tail = b""
        async with client.stream("POST", "/chat/completions", content=body, headers=headers) as r:
            async for chunk in r.aiter_raw():
                if first is None:
                    first = time.perf_counter() - started
                tail = (tail + chunk)[-64:]
        total = time.perf_counter() - started
        done = tail.rstrip().endswith(b"[DONE]" if stream else b"}")
        if r.status_code != 200 or not done:
            errors.append(f"{r.status_code}: {tail[-60:]!r}")
            return
        totals.append(total)
        firsts.append(first or total)

    connected = asyncio.Barrier(CONCURRENCY + 1)  # the clock starts once all have connected
    tasks = [asyncio.create_task(worker()) for _ in range(CONCURRENCY)]
    await connected.wait()
    started = time.perf_counter()
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - started
    result = {
        "requests": len(bodies),
        "errors": len(errors),
        "p50_ms": round(1000 * _percentile(totals, 0.5), 2) if totals else None,
        "p99_ms": round(1000 * _percentile(totals, 0.99), 2) if totals else None,
        "max_ms": round(1000 * max(totals), 2) if totals else None,
        "rps": round(len(totals) / wall, 1),
    }
    if stream and firsts:
        result["ttfb_p50_ms"] = round(1000 * _percentile(firsts, 0.5), 2)
        result["ttfb_p99_ms"] = round(1000 * _percentile(firsts, 0.99), 2)
    if errors:
        result["first_errors"] = errors[:3]
    return result


def _bodies(
    requests: list[dict[str, Any]], start: int, n: int, stream: bool
) -> list[tuple[int, bytes]]:
    out = []
    for k in range(start, start + n):
        index = k % len(requests)
        body = {**requests[index], "stream": stream}
        if stream:
            body["stream_options"] = {"include_usage": True}
        out.append((index, json.dumps(body).encode()))
    return out


# --- the servers -------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode} before serving")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer within {timeout} s") from None
            time.sleep(0.1)


def _stop(proc: subprocess.Popen, timeout: float = 30) -> None:
    """SIGINT (a graceful stop: the proxy drains its queue), then SIGKILL if it hangs."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _cpu_s(pid: int, children: bool = False) -> float:
    """CPU seconds of the process, and of its children if asked (the proxy's writer)."""
    import psutil

    total = 0.0
    process = psutil.Process(pid)
    for p in (process, *(process.children(recursive=True) if children else ())):
        try:
            times = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _median_of(rounds: list[dict[str, Any]], key: str, field: str) -> float | None:
    values = [r[key][field] for r in rounds if r[key].get(field) is not None]
    return round(statistics.median(values), 2) if values else None


@contextlib.contextmanager
def _servers(
    home: Path, life_s: float, command: str = "proxy", health: str = "/slimline/stats"
) -> Iterator[dict[str, Any]]:
    """The fake upstream and `slimline <command>` (the proxy, or `serve`: the router), each in
    its own process on 127.0.0.1; both are stopped on the way out (and stop themselves after
    `life_s` whatever happens here). Yields the processes and their URLs."""
    up_port, port = _free_port(), _free_port()
    up_url, url = f"http://127.0.0.1:{up_port}", f"http://127.0.0.1:{port}"
    with contextlib.ExitStack() as stack:
        upstream = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.bench_proxy", "upstream", str(up_port), str(life_s)],
            cwd=REPO,
        )
        stack.callback(_stop, upstream)
        server = subprocess.Popen(
            [
                *(sys.executable, "-m", "slimline", "--home", str(home), command, "--json"),
                *("--upstream", f"{up_url}/v1", "--port", str(port)),
                *("--seconds", str(life_s)),
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        stack.callback(_stop, server)
        _wait_http(f"{up_url}/bench/stats", upstream)
        _wait_http(f"{url}{health}", server, timeout=120)
        profile = os.environ.get("BENCH_PROXY_PYSPY")
        if profile:  # sample the server while it serves (py-spy's raw format, X.<command>.txt)
            spy = subprocess.Popen(
                [
                    *(str(Path(sys.executable).with_name("py-spy")), "record"),
                    *("--pid", str(server.pid), "--threads", "--rate", "250"),
                    *("--format", "raw", "--output", profile.replace(".txt", f".{command}.txt")),
                ],
                stdout=subprocess.DEVNULL,
            )
            stack.callback(_stop, spy)
        yield {"upstream": upstream, "server": server, "up_url": up_url, "url": url}


def _measure(
    servers: dict[str, Any], name: str, bodies: list[tuple[int, bytes]], stream: bool
) -> dict[str, Any]:
    """One phase, with the CPU time each process spent per call."""
    base = f"{servers['up_url' if name == 'direct' else 'url']}/v1"
    pids = {"loadgen": os.getpid(), "upstream": servers["upstream"].pid}
    pids["proxy"] = servers["server"].pid
    cpu = {who: _cpu_s(pid, who == "proxy") for who, pid in pids.items()}
    result = asyncio.run(_phase(base, bodies, stream))
    result["cpu_ms_per_call"] = {
        who: round(1000 * (_cpu_s(pid, who == "proxy") - cpu[who]) / len(bodies), 2)
        for who, pid in pids.items()
    }
    if name == "proxy":  # calls the recorder has not written yet
        result["store_backlog"] = _get_json(f"{servers['url']}/slimline/stats")["in_queue"]
    return result


def main(out_dir: Path) -> dict[str, Any]:
    rounds_n = int(os.environ.get("BENCH_PROXY_ROUNDS", "3"))
    per_phase = int(os.environ.get("BENCH_PROXY_REQUESTS", "400"))
    requests = [obj["request"] for obj in tau2_objects()]
    sizes = sorted(len(json.dumps(r)) for r in requests)
    rounds: list[dict[str, Any]] = []
    proxied = cursor = 0
    with tempfile.TemporaryDirectory(prefix="bench-proxy-") as tmp:
        home = Path(tmp) / "home"
        with _servers(home, life_s=900) as servers:
            for stream in (False, True):  # warm-up: connections, imports, the first writes
                for name in ("direct", "proxy"):
                    warm = _measure(servers, name, _bodies(requests, cursor, 40, stream), stream)
                    proxied += 40 - warm["errors"] if name == "proxy" else 0
                    cursor += 40
            for n in range(rounds_n):
                figures: dict[str, Any] = {}
                for stream in (False, True):
                    kind = "sse" if stream else "json"
                    # alternate who goes first, so neither always meets a warmer machine
                    for name in ("direct", "proxy") if n % 2 == 0 else ("proxy", "direct"):
                        bodies = _bodies(requests, cursor, per_phase, stream)
                        cursor += per_phase
                        result = figures[f"{name}_{kind}"] = _measure(servers, name, bodies, stream)
                        proxied += per_phase - result["errors"] if name == "proxy" else 0
                    proxy, direct = figures[f"proxy_{kind}"], figures[f"direct_{kind}"]
                    for field in ("p50_ms", "p99_ms"):
                        figures[f"added_{kind}_{field}"] = round(proxy[field] - direct[field], 2)
                    figures[f"rps_ratio_{kind}"] = round(proxy["rps"] / direct["rps"], 3)
                rounds.append(figures)
                _print_round(n, figures)
            upstream_seen = _get_json(f"{servers['up_url']}/bench/stats")
        # both stopped: the proxy has written what it had queued and printed its counts
        final = json.loads(servers["server"].stdout.read() or "{}")
        from slimline.store import RawStore

        store = RawStore(f"sqlite:///{home / 'raw.db'}")
        stored, quarantined = store.count_calls(), store.count_quarantined()
        store.close()
        leaked = [
            str(p.relative_to(home))
            for p in home.rglob("*")
            if p.is_file() and SECRET.encode() in p.read_bytes()
        ]
    result = _summary(rounds, per_phase, sizes)
    result.update(
        {
            "proxied_calls": proxied,
            "stored_calls": stored,
            "quarantined": quarantined,
            "all_recorded": stored == proxied,
            "recorder_final": final,
            "upstream_requests": upstream_seen["requests"],
            "authorization_passed_on": upstream_seen["authorized"] == upstream_seen["requests"],
            "upstream_connections": upstream_seen["connections"],
            "authorization_stored_in": leaked,
        }
    )
    result["aims_met"] = (
        all(
            result[f"added_{k}_{f}"] <= AIMS[f"added_{f}_max"]
            for k in ("json", "sse")
            for f in ("p50_ms", "p99_ms")
        )
        and result["all_recorded"]
        and not leaked
    )
    print(
        f"   median of {rounds_n} rounds: JSON +{result['added_json_p50_ms']} ms p50, "
        f"+{result['added_json_p99_ms']} ms p99; SSE +{result['added_sse_p50_ms']} ms p50, "
        f"+{result['added_sse_p99_ms']} ms p99 (aim <= 5 / 50)\n"
        f"   recorded {stored} of {proxied} proxied calls (quarantined {quarantined}, "
        f"dropped {final.get('dropped')}); Authorization passed on to the upstream: "
        f"{result['authorization_passed_on']}, stored: "
        f"{'yes, in ' + ', '.join(leaked) if leaked else 'no'}"
        f"\n   aims met: {result['aims_met']}",
        flush=True,
    )
    return result


def _get_json(url: str) -> Any:
    import httpx

    return httpx.get(url, timeout=10).json()


def _print_round(n: int, f: dict[str, Any]) -> None:
    for kind in ("json", "sse"):
        d, p = f[f"direct_{kind}"], f[f"proxy_{kind}"]
        print(
            f"   round {n + 1} {kind:4}: direct p50 {d['p50_ms']} p99 {d['p99_ms']} ms "
            f"{d['rps']} rps | proxy p50 {p['p50_ms']} p99 {p['p99_ms']} ms {p['rps']} rps "
            f"(+{f[f'added_{kind}_p50_ms']} / +{f[f'added_{kind}_p99_ms']} ms; "
            f"CPU ms/call direct {d['cpu_ms_per_call']} proxy {p['cpu_ms_per_call']}, "
            f"backlog {p['store_backlog']}, "
            f"errors {d['errors']}+{p['errors']})",
            flush=True,
        )


def _summary(rounds: list[dict[str, Any]], per_phase: int, sizes: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "requests_per_phase": per_phase,
        "concurrency": CONCURRENCY,
        "upstream_latency_ms": LATENCY_S * 1000,
        "request_bytes_p50": sizes[len(sizes) // 2],
        "cpu_cores": os.cpu_count(),
        "note": "load generator, upstream and proxy share these cores",
        "rounds": rounds,
    }
    for kind in ("json", "sse"):
        for who in ("direct", "proxy"):
            for field in ("p50_ms", "p99_ms", "rps", "ttfb_p50_ms"):
                value = _median_of(rounds, f"{who}_{kind}", field)
                if value is not None:
                    out[f"{who}_{kind}_{field}"] = value
        for field in ("p50_ms", "p99_ms"):
            values = [r[f"added_{kind}_{field}"] for r in rounds]
            out[f"added_{kind}_{field}"] = round(statistics.median(values), 2)
            out[f"added_{kind}_{field}_range"] = [min(values), max(values)]
        out[f"rps_ratio_{kind}"] = round(
            statistics.median(r[f"rps_ratio_{kind}"] for r in rounds), 3
        )
    out["aims"] = AIMS
    return out


if __name__ == "__main__" and sys.argv[1:2] == ["upstream"]:
    run_upstream(int(sys.argv[2]), float(sys.argv[3]))
