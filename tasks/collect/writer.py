"""The proxy's writer process: it turns the calls the proxy relayed into raw-store records and
writes them, away from the proxy's event loop.

Parsing a call's 30 KB request body, validating its messages, hashing and serialising them and
the SQLite transaction cost as much CPU as relaying the call, and in the proxy's own process
every bit of it holds the GIL that the event loop needs to answer the next request. So the
recorder (recorder.py) sends batches through a pipe to this process, which owns the raw store
connection and the record builder's message cache, and answers each batch with its counts.

Here a call goes from the bytes that crossed the wire to a record, or to the quarantine with
the reason: an answer that is not JSON, a request over the size limit, a stream without any
chat completion chunk, a request or answer that is not a JSON object, a record that does not
validate. A store error ends the batch and is answered with its first line only (the rest of a
database error holds SQL parameters, i.e. record content), and the recorder retries the batch.
"""

from __future__ import annotations

import contextlib
import json
import signal
from dataclasses import dataclass
from typing import Any

from slimline.record import CallRecord, InvalidRecord, canonical_json
from slimline.tasks.collect.formats import RecordBuilder, from_chat_completion_pair
from slimline.tasks.collect.stream import StreamAssembler


@dataclass
class Call:
    """One proxied call as it crossed the wire: the request body and the answer (its JSON
    body, or the assembler that kept a streamed one), both parsed here."""

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


class Writer:
    """Writes batches of Call, Spans and Quarantine items to the raw store."""

    def __init__(self, store_url: str, text_bytes: int):
        self.store_url = store_url
        self.text_bytes = text_bytes  # how much of a set-aside body the quarantine keeps
        # the cache validates and serialises each distinct message once: an agent's calls
        # repeat its system prompt, its tools and the conversation so far
        self._builder = RecordBuilder(cache=True, default_agent="proxy", max_bytes=64 << 20)
        self._store: Any = None

    def write(self, items: list[Any]) -> dict[str, Any]:
        """Write `items`; the counts, and `error` (one line) when the store failed part way."""
        counts: dict[str, Any] = {"written": 0, "duplicates": 0, "quarantined": 0, "error": None}
        try:
            self._write(items, counts)
        except Exception as exc:  # the store is slow or down: the recorder retries the batch
            counts["error"] = short_error(exc)
            self.close()
        return counts

    def close(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            with contextlib.suppress(Exception):  # a store that failed: nothing more to do
                store.close()

    def _write(self, items: list[Any], counts: dict[str, Any]) -> None:
        if self._store is None:
            from slimline.store import RawStore

            self._store = RawStore(self.store_url)
        store = self._store
        records: list[CallRecord] = []
        for item in items:
            if isinstance(item, Call):
                item = self.prepare(item)
                if isinstance(item, CallRecord):
                    records.append(item)
                    continue
            if isinstance(item, Quarantine):
                store.quarantine(item.source, item.location, item.reason, item.raw_text)
                counts["quarantined"] += 1
            elif isinstance(item, Spans) and item.records:
                mark = ("otlp:proxy", {"last_span_time": item.last_span_time})
                _add(counts, store.add_calls(item.records, watermark=mark))
        if records:
            _add(counts, store.add_calls(records))

    def prepare(self, call: Call) -> CallRecord | Quarantine:
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


def serve(conn: Any, store_url: str, text_bytes: int) -> None:
    """The writer process: answer each batch received on `conn` with its counts, until None
    (or the pipe closes: the proxy is gone)."""
    # Ctrl-C reaches the whole process group: the proxy stops first and says when to stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    writer = Writer(store_url, text_bytes)
    try:
        while True:
            try:
                items = conn.recv()
            except EOFError:
                break
            if items is None:
                break
            conn.send(writer.write(items))
    finally:
        writer.close()


def short_error(exc: BaseException) -> str:
    """The error's first line only: a database error's further lines hold the SQL and its
    parameters, i.e. record content, which must not reach the logs."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def _add(counts: dict[str, Any], added: Any) -> None:
    counts["written"] += added.new
    counts["duplicates"] += added.duplicates


def _text(raw: bytes | str, limit: int) -> str:
    text = raw if isinstance(raw, str) else raw[: 4 * limit].decode("utf-8", "backslashreplace")
    return text[:limit]
