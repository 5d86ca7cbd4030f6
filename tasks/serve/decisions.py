"""The router's decision log: one row per routed call in the work store (`routing_decisions`:
cluster, champion version, confidence, threshold, served or why not, status, latency), never
any message content. Rows are queued by the event loop and written in batches by a thread,
so a slow store never slows an answer; `WorkStore.routing_summary` reads the live figures.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

log = logging.getLogger("slimline.serve")

SERVED = "served"


class DecisionLog:
    """Queues decisions and writes them to a WorkStore every `flush_s` seconds, and each as
    an MLflow trace when `traces` is set (traces.py)."""

    def __init__(
        self, work: Any, flush_s: float = 0.5, maxsize: int = 100_000, traces: Any = None
    ) -> None:
        self.work = work
        self.traces = traces
        self.flush_s = flush_s
        self.queue: queue.Queue[tuple[dict[str, Any], Any]] = queue.Queue(maxsize)
        self.written = 0
        self.dropped = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slimline-decisions", daemon=True)

    def start(self) -> None:
        if self.traces is not None:
            self.traces.start()
        self._thread.start()

    def add(self, row: dict[str, Any], timeline: Any = None) -> None:
        """Queue a decision's row; `timeline` (traces.Steps, end time) makes its trace."""
        try:
            self.queue.put_nowait((row, timeline))
        except queue.Full:
            self.dropped += 1

    def flush(self) -> None:
        items = []
        while True:
            try:
                items.append(self.queue.get_nowait())
            except queue.Empty:
                break
        if not items:
            return
        rows = [row for row, _ in items]
        try:
            self.work.add_decisions(rows)
            self.written += len(rows)
        except Exception as exc:  # the store is down: the figures miss these, serving goes on
            self.dropped += len(rows)
            log.warning("routing decisions not written (%d): %s", len(rows), exc)
        if self.traces is not None:
            self.traces.write([(r, *t) for r, t in items if t is not None])

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
        if self.traces is not None:
            self.traces.close()
