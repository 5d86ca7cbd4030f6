"""Routed calls as MLflow traces: one trace per call the router handles, so the MLflow
experiment's GenAI pages (traces, latency, errors) show the live traffic.

A trace is a root span `chat.completions` (who answered, why, cluster, champion version,
confidence, threshold, HTTP status) with a child span per step the call went through:
`context match`, `cluster assignment`, `slm generation` (its confidence and tokens),
`validation`, then `slm answer` or `fallback to the LLM`. No message content: no inputs or
outputs are set, only figures and names (`serve.traces: false` turns traces off).

The router times each step as it goes (`Steps`); the spans are written afterwards from a
background thread (`TraceLog`, fed by the decision log's thread) with those times, so tracing
never adds to a call's latency and a tracking store that is down costs traces, not answers.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("slimline.serve")

ROOT = "chat.completions"
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
    """Writes traces to the MLflow experiment `experiment_id` at `tracking_uri`."""

    def __init__(self, tracking_uri: str, experiment_id: str) -> None:
        self.tracking_uri = tracking_uri
        self.experiment_id = experiment_id
        self.written = 0
        self.failed = 0

    def write(self, items: list[tuple[dict[str, Any], Steps, float]]) -> None:
        """One trace per (decision row, steps, end time); a failure is counted and logged
        once per batch, never raised."""
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        for row, steps, ended in items:
            try:
                self._one(mlflow, row, steps, ended)
                self.written += 1
            except Exception as exc:
                self.failed += 1
                log.warning("routing trace not written: %s: %s", type(exc).__name__, exc)
                return

    def flush(self) -> None:
        import mlflow

        mlflow.flush_trace_async_logging()

    def _one(self, mlflow: Any, row: dict[str, Any], steps: Steps, ended: float) -> None:
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
            experiment_id=self.experiment_id,
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
        failed = (
            status is None or status >= 500 or str(row.get("reason", "")).startswith("router_error")
        )
        root.end(
            status="ERROR" if failed else "OK",
            attributes={"slimline.served": served},
            end_time_ns=steps.ns(ended),
        )


def _served_by(row: dict[str, Any]) -> str:
    if row.get("served") and row.get("model"):
        return f"slm:{row['model']}@v{row['version']}"
    return "upstream"
