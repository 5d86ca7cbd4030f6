"""The proxy's recorder: a bounded queue and a background thread that writes to the raw store.

Serving never waits for the store. A recorded call is put on the queue as the bytes that
crossed the wire and the request goes on; the writer thread parses and checks each call, turns
it into a record (or sets it aside in the quarantine, with the reason) and writes them in
batches: it waits `linger_s` after a first call for more to come, since one transaction per
call costs several times the work of a batch. While the store is slow or down the writer keeps
its batch and retries; the queue fills, and once it is full a new call is dropped, counted and
logged (never silently). `stats` has the counts.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

from slimline.record import CallRecord, InvalidRecord, canonical_json
from slimline.tasks.collect.formats import RecordBuilder, from_chat_completion_pair
from slimline.tasks.collect.stream import StreamAssembler

log = logging.getLogger("slimline.collect.proxy")


@dataclass
class Call:
    """One proxied call as it crossed the wire: the request body and the answer (its JSON
    body, or the assembler that kept a streamed one), parsed by the writer thread."""

    request: bytes
    response: bytes | StreamAssembler
    timestamp: str
    latency_ms: float
    agent: str | None = None
    conversation_id: str | None = None
    streamed: bool = False
    set_aside: str | None = None  # why the call goes to the quarantine (e.g. too big)


@dataclass
class Spans:
    """Records made from received OTLP spans, and how far span time has got."""

    records: list[CallRecord]
    last_span_time: str | None = None


@dataclass
class Quarantine:
    source: str
    location: str
    reason: str
    raw_text: str


class Recorder:
    """Queue calls with `submit`; a daemon thread writes them. `stop()` flushes what it can."""

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
        # the cache validates and serialises each distinct message once: an agent's calls
        # repeat its system prompt, its tools and the conversation so far
        self._builder = RecordBuilder(cache=True, default_agent="proxy", max_bytes=64 << 20)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slimline-recorder", daemon=True)
        self._store: Any = None
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
        """Write what is queued (for at most `timeout` seconds), then stop the thread."""
        self._deadline = time.monotonic() + timeout
        self._stop.set()
        self._thread.join(timeout + 1)
        left = self.queue.qsize()
        if left:
            self.stats["dropped"] += left
            log.warning("proxy: stopped with %d recorded calls not written to the store", left)
        if self._store is not None:
            self._store.close()

    # --- the writer thread ---------------------------------------------------------------
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
            except Exception as exc:  # the store is slow or down: keep the batch, retry
                with self._lock:
                    self.stats["store_errors"] += 1
                if not self._failing:  # once per outage, not once per retry
                    log.warning(
                        "proxy: cannot write to the raw store (%s); calls are queued and the "
                        "write is retried",
                        _short(exc),
                    )
                    self._failing = True
                self._store = None
            if self._stop.is_set() and time.monotonic() > self._deadline:
                with self._lock:
                    self.stats["dropped"] += len(items)
                log.warning("proxy: stopped with %d recorded calls not written", len(items))
                return
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _open(self) -> Any:
        if self._store is None:
            from slimline.store import RawStore

            self._store = RawStore(self.store_url)
        return self._store

    def _write(self, items: list[Any]) -> None:
        store = self._open()
        records: list[CallRecord] = []
        for item in items:
            if isinstance(item, Call):
                item = self._prepare(item)
                if isinstance(item, CallRecord):
                    records.append(item)
                    continue
            if isinstance(item, Quarantine):
                store.quarantine(item.source, item.location, item.reason, item.raw_text)
                self._count("quarantined", 1)
            elif isinstance(item, Spans) and item.records:
                mark = ("otlp:proxy", {"last_span_time": item.last_span_time})
                self._count_added(store.add_calls(item.records, watermark=mark))
        if records:
            self._count_added(store.add_calls(records))

    def _prepare(self, call: Call) -> CallRecord | Quarantine:
        """The call's record, or what goes to the quarantine instead, and why."""
        try:
            return self._parse(call)
        except Exception as exc:  # a call nobody foresaw: set aside, never retried
            reason = f"cannot be read: {type(exc).__name__}: {exc}"[:1000]
            raw = _text(call.request, self.text_bytes)
            return Quarantine("proxy", f"call at {call.timestamp}", reason, raw)

    def _parse(self, call: Call) -> CallRecord | Quarantine:
        def set_aside(reason: str, raw: bytes | str) -> Quarantine:
            location = f"call at {call.timestamp}"
            return Quarantine("proxy", location, reason, _text(raw, self.text_bytes))

        if isinstance(call.response, StreamAssembler):
            if call.set_aside:
                return set_aside(call.set_aside, call.request)
            call.response.close()
            if not call.response.choices:
                return set_aside("a stream without any chat completion chunk", b"")
            answer = call.response.response_body()
        else:
            try:
                answer = json.loads(call.response)
            except ValueError:
                return set_aside(
                    "the upstream answered 200 with a body that is not JSON", call.response
                )
            if call.set_aside:
                return set_aside(call.set_aside, call.request)
        try:
            payload = json.loads(call.request)
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or not isinstance(answer, dict):
            return set_aside("the request or the answer is not a JSON object", json.dumps(answer))
        meta = payload.get("metadata")
        metadata = dict(meta) if isinstance(meta, dict) else {}
        metadata["streamed"] = call.streamed
        line = {
            "request": payload,
            "response": answer,
            "timestamp": call.timestamp,
            "latency_ms": call.latency_ms,
            "agent": call.agent or metadata.get("agent"),
            "conversation_id": call.conversation_id,
            "metadata": metadata,
        }
        where = f"call {answer.get('id') or call.timestamp}"
        try:
            return from_chat_completion_pair(line, "proxy", where, self._builder)
        except InvalidRecord as exc:
            raw = canonical_json({"request": payload, "response": answer})
            return Quarantine("proxy", exc.where, "; ".join(exc.problems), raw)

    def _count(self, key: str, n: int) -> None:
        with self._lock:
            self.stats[key] += n

    def _count_added(self, added: Any) -> None:
        self._count("written", added.new)
        self._count("duplicates", added.duplicates)


def _text(raw: bytes | str, limit: int) -> str:
    text = raw if isinstance(raw, str) else raw[: 4 * limit].decode("utf-8", "backslashreplace")
    return text[:limit]


def _short(exc: BaseException) -> str:
    """The error's first line only: a database error's further lines hold the SQL and its
    parameters, i.e. record content, which must not reach the logs."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]
