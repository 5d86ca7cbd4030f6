"""The proxy's recorder: a bounded queue, and a thread that hands batches to the writer process.

Serving never waits for the store. A recorded call is put on the queue as the bytes that
crossed the wire and the request goes on. The recorder's thread takes calls off the queue in
batches (after a first call it waits `linger_s` for more: one transaction per call costs
several times the work of a batch) and sends each batch to the writer process (writer.py),
which parses, checks and stores them, so none of that work holds the GIL the event loop needs.
The thread mostly waits on the pipe.

While the store is slow or down the writer answers with the error and the thread keeps its
batch and retries (logged once per outage); the queue fills, and once it is full a new call is
dropped, counted and logged (never silently). A writer process that dies is started again and
the batch retried (what it had stored already counts as duplicates). `stats` has the counts.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from slimline.tasks.collect import writer
from slimline.tasks.collect.writer import Call, Quarantine, Spans

__all__ = ["Call", "Quarantine", "Recorder", "Spans"]

log = logging.getLogger("slimline.collect.proxy")


class WriterFailed(RuntimeError):
    """The writer process could not write a batch (the message is one line, no content)."""


class _WriterProcess:
    """The writer process and the pipe to it; one batch at a time."""

    def __init__(self, store_url: str, text_bytes: int):
        # spawn, not fork: the proxy has threads (fork would copy their locks mid-use)
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self.process = context.Process(
            target=writer.serve,
            args=(child, store_url, text_bytes),
            name="slimline-writer",
            daemon=True,
        )
        self.process.start()
        child.close()

    def write(self, items: list[Any], out_of_time: Callable[[], bool]) -> dict[str, Any]:
        """The writer's counts for `items`. Waits as long as the store takes, unless
        `out_of_time()` says the proxy is stopping and may wait no longer (TimeoutError)."""
        try:
            self._conn.send(items)
            while not self._conn.poll(0.25):
                if not self.process.is_alive():
                    raise WriterFailed(f"the writer process exited ({self.process.exitcode})")
                if out_of_time():
                    raise TimeoutError("the writer did not finish before the proxy stopped")
            return self._conn.recv()
        except (EOFError, OSError) as exc:
            raise WriterFailed(f"the writer process is gone ({type(exc).__name__})") from None

    def close(self, timeout: float) -> None:
        with contextlib.suppress(OSError):  # gone already
            self._conn.send(None)
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self._conn.close()


class Recorder:
    """Queue calls with `submit`; a thread hands them to the writer process. `stop()` writes
    what it can."""

    def __init__(
        self,
        store_url: str,
        *,
        maxsize: int,
        batch_size: int = 200,
        linger_s: float = 0.05,
        text_bytes: int = 65_536,
    ):
        self.store_url = store_url
        self.batch_size = batch_size
        self.linger_s = linger_s
        self.text_bytes = text_bytes  # how much of a set-aside body the quarantine keeps
        self.queue: queue.Queue[Any] = queue.Queue(maxsize=maxsize)
        self.stats = {
            "queued": 0,
            "written": 0,
            "duplicates": 0,
            "quarantined": 0,
            "dropped": 0,
            "store_errors": 0,
        }
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slimline-recorder", daemon=True)
        self._writer: _WriterProcess | None = None
        self._lock = threading.Lock()
        self._failing = False
        self._deadline = 0.0

    def start(self) -> None:
        self._thread.start()

    def submit(self, item: Call | Spans | Quarantine) -> bool:
        """Queue an item without waiting; False (counted and logged) when the queue is full."""
        try:
            self.queue.put_nowait(item)
        except queue.Full:
            with self._lock:
                self.stats["dropped"] += 1
                dropped = self.stats["dropped"]
            log.warning(
                "proxy: the raw store is not keeping up and the queue of %d is full: a recorded "
                "call was dropped (%d dropped so far)",
                self.queue.maxsize,
                dropped,
            )
            return False
        with self._lock:
            self.stats["queued"] += 1
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued (for at most `timeout` seconds), then stop the thread and the
        writer process."""
        self._deadline = time.monotonic() + timeout
        self._stop.set()
        self._thread.join(timeout + 2)
        left = self.queue.qsize()
        if left:
            self._count("dropped", left)
            log.warning("proxy: stopped with %d recorded calls not written to the store", left)
        if self._writer is not None:
            self._writer.close(timeout=5)
            self._writer = None

    # --- the recorder's thread -----------------------------------------------------------
    def _run(self) -> None:
        while not (self._stop.is_set() and self.queue.empty()):
            try:
                first = self.queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if self.queue.qsize() < self.batch_size and not self._stop.is_set():
                time.sleep(self.linger_s)  # let a batch gather
            items = [first]
            while len(items) < self.batch_size:
                try:
                    items.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            self._write_with_retry(items)

    def _write_with_retry(self, items: list[Any]) -> None:
        delay = 0.2
        while True:
            try:
                self._write(items)
                if self._failing:
                    log.warning("proxy: the raw store answers again; queued calls are written")
                    self._failing = False
                return
            except TimeoutError:
                break  # stopping, and out of time
            except WriterFailed as exc:  # the store is slow or down: keep the batch, retry
                self._count("store_errors", 1)
                if not self._failing:  # once per outage, not once per retry
                    log.warning(
                        "proxy: cannot write to the raw store (%s); calls are queued and the "
                        "write is retried",
                        exc,
                    )
                    self._failing = True
            if self._out_of_time():
                break
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        self._count("dropped", len(items))
        log.warning("proxy: stopped with %d recorded calls not written", len(items))
        if self._writer is not None:  # it may still be busy with them: stop it
            self._writer.close(timeout=0)
            self._writer = None

    def _write(self, items: list[Any]) -> None:
        if self._writer is None or not self._writer.process.is_alive():
            self._writer = _WriterProcess(self.store_url, self.text_bytes)
        try:
            counts = self._writer.write(items, self._out_of_time)
        except WriterFailed:
            self._writer.close(timeout=0)
            self._writer = None
            raise
        with self._lock:
            for key in ("written", "duplicates", "quarantined"):
                self.stats[key] += counts[key]
        if counts["error"]:
            raise WriterFailed(counts["error"])

    def writer_process(self) -> multiprocessing.process.BaseProcess | None:
        """The writer process now running, if any."""
        writer = self._writer
        return writer.process if writer is not None else None

    def _out_of_time(self) -> bool:
        return self._stop.is_set() and time.monotonic() > self._deadline

    def _count(self, key: str, n: int) -> None:
        with self._lock:
            self.stats[key] += n
