"""Routed calls as MLflow traces, so the MLflow experiment's GenAI pages (traces, latency,
errors) show the live traffic: every call a champion answered or tried, and a sample
(`serve.traces_sample`) of those no champion took up, since a trace costs its writer ~30 ms
of CPU in MLflow's SQL store (benchmarks/bench_serve.py `trace_cost`).

A trace is a root span `chat.completions` (who answered, why, cluster, champion version,
confidence, threshold, HTTP status) with a child span per step the call went through:
`context match`, `cluster assignment`, `slm generation` (its confidence and tokens),
`validation`, then `slm answer` or `fallback to the LLM`. No message content: no inputs or
outputs are set, only figures and names (`serve.traces: false` turns traces off).

The router times each step as it goes (`Steps`); the spans are written afterwards, with
those times, by a writer PROCESS (`TraceLog`, fed by the decision log's thread): building and
exporting spans is Python work that, in the router's process, would hold the GIL the event
loop needs (measured: p99 added latency 148 ms with spans written in a thread against 21 ms
without traces; docs/serve.md). A tracking store that is down costs traces, never answers.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import queue
import time
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("slimline.serve")

ROOT = "chat.completions"
# the writer's scheduling priority: on a busy machine its spans wait, not the router's calls
WRITER_NICE = 10
# span types MLflow's UI knows: a step's name -> its type
SPAN_TYPES = {
    "context match": "PARSER",
    "cluster assignment": "RETRIEVER",
    "slm generation": "LLM",
    "validation": "PARSER",
    "slm answer": "CHAIN",
    "fallback to the LLM": "LLM",
}


@dataclass
class Steps:
    """A call's timeline: wall-clock start, and each step's (name, start, end, attributes) in
    `time.perf_counter()` seconds."""

    wall_ns: int = field(default_factory=time.time_ns)
    started: float = field(default_factory=time.perf_counter)
    steps: list[tuple[str, float, float, dict[str, Any]]] = field(default_factory=list)

    def add(self, name: str, start: float, attributes: dict[str, Any] | None = None) -> None:
        """The step `name` began at `start` and ends now."""
        self.steps.append((name, start, time.perf_counter(), attributes or {}))

    def ns(self, t: float) -> int:
        return self.wall_ns + int((t - self.started) * 1e9)


class TraceLog:
    """Hands traces to a writer process that writes them to the MLflow experiment
    `experiment_id` at `tracking_uri` (started on the first write)."""

    def __init__(self, tracking_uri: str, experiment_id: str) -> None:
        self.tracking_uri = tracking_uri
        self.experiment_id = experiment_id
        self._ctx = multiprocessing.get_context("spawn")
        self._queue: Any = None
        self._done: Any = None
        self._process: Any = None
        self.sent = 0
        self.dropped = 0

    def start(self, ready_s: float = 120.0) -> None:
        """Start the writer now and wait until it has imported MLflow and opened the tracking
        store (the router does at its start: those take seconds of CPU that should not land
        on the first calls)."""
        if self._process is None:
            self._start()
            try:
                self._done.get(timeout=ready_s)
            except queue.Empty:
                log.warning("routing traces: the writer was not ready within %.0f s", ready_s)

    def _start(self) -> None:
        self._queue, self._done = self._ctx.Queue(10_000), self._ctx.Queue()
        self._process = self._ctx.Process(
            target=_writer,
            args=(self.tracking_uri, self.experiment_id, self._queue, self._done),
            name="slimline-traces",
            daemon=True,
        )
        self._process.start()

    def write(self, items: list[tuple[dict[str, Any], Steps, float]]) -> None:
        """Queue one trace per (decision row, steps, end time); never blocks or raises."""
        if not items:
            return
        if self._process is None:
            self._start()
        try:
            self._queue.put_nowait(items)
            self.sent += len(items)
        except queue.Full:
            self.dropped += len(items)

    def flush(self, timeout: float = 60.0) -> None:
        """Wait until every trace queued so far is written and exported."""
        if self._process is None or not self._process.is_alive():
            return
        self._queue.put("flush")
        try:
            self._done.get(timeout=timeout)
        except queue.Empty:
            log.warning("routing traces: the writer did not flush within %.0f s", timeout)

    def close(self) -> None:
        """Flush and stop the writer process."""
        if self._process is None:
            return
        self.flush()
        self._queue.put(None)
        self._process.join(15)
        if self._process.is_alive():
            self._process.terminate()
        self._process = None


def _writer(tracking_uri: str, experiment_id: str, inbox: Any, done: Any) -> None:
    """The writer process: traces from `inbox` until None; "flush" exports and answers."""
    with contextlib.suppress(OSError):  # behind the router's event loop when CPU is short
        os.nice(WRITER_NICE)
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    try:  # open the store now, not on the first trace
        mlflow.MlflowClient().get_experiment(experiment_id)
    except Exception as exc:
        log.warning("routing traces: the tracking store is not ready: %s", exc)
    done.put("ready")
    failed = 0
    while True:
        item = inbox.get()
        if item is None:
            break
        if item == "flush":
            mlflow.flush_trace_async_logging()
            done.put(True)
            continue
        for row, steps, ended in item:
            try:
                _write_one(mlflow, experiment_id, row, steps, ended)
            except Exception as exc:
                failed += 1
                if failed == 1 or failed % 1000 == 0:
                    log.warning("routing traces not written (%d): %s", failed, exc)
    mlflow.flush_trace_async_logging()


def _write_one(
    mlflow: Any, experiment_id: str, row: dict[str, Any], steps: Steps, ended: float
) -> None:
    served = bool(row.get("served"))
    attributes = {
        "slimline.served_by": _served_by(row),
        "slimline.reason": row.get("reason") or "",
        "slimline.stream": bool(row.get("stream")),
        "http.status_code": row.get("status"),
    }
    for key in ("cluster_id", "model", "version", "confidence", "threshold"):
        if row.get(key) is not None:
            attributes[f"slimline.{key}"] = row[key]
    root = mlflow.start_span_no_context(
        name=ROOT,
        span_type="CHAIN",
        attributes=attributes,
        experiment_id=experiment_id,
        start_time_ns=steps.wall_ns,
    )
    for name, start, end, extra in steps.steps:
        child = mlflow.start_span_no_context(
            name=name,
            span_type=SPAN_TYPES.get(name, "UNKNOWN"),
            parent_span=root,
            attributes=extra,
            start_time_ns=steps.ns(start),
        )
        child.end(end_time_ns=steps.ns(end))
    status = row.get("status")
    reason = str(row.get("reason", ""))
    failed = status is None or status >= 500 or reason.startswith("router_error")
    root.end(
        status="ERROR" if failed else "OK",
        attributes={"slimline.served": served},
        end_time_ns=steps.ns(ended),
    )


def _served_by(row: dict[str, Any]) -> str:
    if row.get("served") and row.get("model"):
        return f"slm:{row['model']}@v{row['version']}"
    return "upstream"
