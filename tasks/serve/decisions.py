"""The router's decision log: one row per routed call in the work store (`routing_decisions`:
cluster, champion version, confidence, threshold, served or why not, status, latency), never
any message content. Rows are queued by the event loop and written in batches by a thread,
so a slow store never slows an answer; `summary` reads the live figures back.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from typing import Any

log = logging.getLogger("slimline.serve")

SERVED = "served"


class DecisionLog:
    """Queues decisions and writes them to a WorkStore every `flush_s` seconds."""

    def __init__(self, work: Any, flush_s: float = 0.5, maxsize: int = 100_000) -> None:
        self.work = work
        self.flush_s = flush_s
        self.queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize)
        self.written = 0
        self.dropped = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slimline-decisions", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def add(self, row: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(row)
        except queue.Full:
            self.dropped += 1

    def flush(self) -> None:
        rows = []
        while True:
            try:
                rows.append(self.queue.get_nowait())
            except queue.Empty:
                break
        if not rows:
            return
        try:
            self.work.add_decisions(rows)
            self.written += len(rows)
        except Exception as exc:  # the store is down: the figures miss these, serving goes on
            self.dropped += len(rows)
            log.warning("routing decisions not written (%d): %s", len(rows), exc)

    def _run(self) -> None:
        while not self._stop.wait(self.flush_s):
            self.flush()
        self.flush()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
        else:
            self.flush()


def summary(work: Any) -> dict[str, Any]:
    """Live figures from the decision log: calls routed, served, the live served share,
    fallbacks by reason, and per cluster."""
    rows = work.routing_counts()
    routed = sum(r["calls"] for r in rows)
    served = sum(r["calls"] for r in rows if r["served"])
    reasons: Counter[str] = Counter()
    clusters: dict[int, dict[str, int]] = {}
    for r in rows:
        if not r["served"]:
            reasons[r["reason"]] += r["calls"]
        if r["cluster_id"] is not None:
            c = clusters.setdefault(int(r["cluster_id"]), {"routed": 0, "served": 0})
            c["routed"] += r["calls"]
            c["served"] += r["calls"] if r["served"] else 0
    return {
        "routed_calls": routed,
        "live_served": served,
        "live_served_share": round(served / routed, 6) if routed else 0.0,
        "fallbacks": dict(sorted(reasons.items())),
        "live_clusters": {
            str(cid): {**c, "served_share": round(c["served"] / c["routed"], 6)}
            for cid, c in sorted(clusters.items())
        },
    }
