"""The raw store: calls as collected (with their PII), quarantine, ingest watermarks.

The ONLY place raw PII may exist. Collect writes it; scrub reads it; nothing else does.
Rows older than the retention limit are purged with `purge_older_than`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Connection

from slimline.record import CallRecord, content_hash
from slimline.store import schema as s
from slimline.store.base import Blobs, CallTable, connect, insert_ignore, migrate, now, upsert


@dataclass(frozen=True)
class AddResult:
    new: int
    duplicates: int


@dataclass(frozen=True)
class QuarantinedLine:
    seq: int
    source: str
    location: str
    reason: str
    raw_text: str


class RawStore:
    """Raw calls, quarantine and watermarks in one database (SQLite file or PostgreSQL)."""

    def __init__(self, url: str):
        self.url = url
        self.engine = connect(url, which="raw")
        migrate(self.engine, "raw")
        self.calls = CallTable(s.raw_calls, Blobs(s.raw_blobs))

    def close(self) -> None:
        self.engine.dispose()

    # --- calls ---------------------------------------------------------------------------
    def add_calls(
        self, records: Sequence[CallRecord], watermark: tuple[str, Any] | None = None
    ) -> AddResult:
        """Store records not stored yet, and move `watermark` (source, value) in the same
        transaction, so a crash never leaves the watermark ahead of the data."""
        with self.engine.begin() as conn:
            new = self.calls.insert(conn, records)
            if watermark is not None:
                self._set_watermark(conn, *watermark)
        return AddResult(new=new, duplicates=len(records) - new)

    def count_calls(self) -> int:
        with self.engine.connect() as conn:
            return self.calls.count(conn)

    def iter_calls(self, after_seq: int = 0) -> Iterator[tuple[int, CallRecord]]:
        """(seq, record) pairs with seq > after_seq, oldest first."""
        with self.engine.connect() as conn:
            for row, rec in self.calls.iter_rows(conn, after_seq=after_seq):
                yield row._mapping["seq"], rec

    def get_calls(self, ids: Sequence[str]) -> list[CallRecord]:
        with self.engine.connect() as conn:
            return [rec for _, rec in self.calls.iter_rows(conn, ids=ids)]

    def max_seq(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(s.raw_calls.c.seq))).scalar() or 0

    def purge_older_than(self, days: int) -> int:
        """Delete raw calls whose timestamp is older than `days`, and blobs left unreferenced."""
        cutoff = now() - timedelta(days=days)
        with self.engine.begin() as conn:
            gone = conn.execute(delete(s.raw_calls).where(s.raw_calls.c.timestamp < cutoff))
            if gone.rowcount:
                self._collect_garbage(conn)
        return gone.rowcount or 0

    def _collect_garbage(self, conn: Connection) -> None:
        live: set[str] = set()
        c = s.raw_calls.c
        for refs, tools, resp in conn.execute(select(c.message_refs, c.tools_ref, c.response_ref)):
            live.update(refs)
            live.add(resp)
            if tools:
                live.add(tools)
        stored = [h for (h,) in conn.execute(select(s.raw_blobs.c.hash))]
        dead = [h for h in stored if h not in live]
        for start in range(0, len(dead), 500):
            conn.execute(
                delete(s.raw_blobs).where(s.raw_blobs.c.hash.in_(dead[start : start + 500]))
            )
        self.calls.blobs._cache.clear()

    # --- quarantine ----------------------------------------------------------------------
    def quarantine(self, source: str, location: str, reason: str, raw_text: str) -> bool:
        """Set a line aside with the reason; True if it was not quarantined before."""
        fingerprint = content_hash(f"{source}\x00{location}\x00{raw_text}")
        row = {
            "source": source,
            "location": location,
            "reason": reason,
            "raw_text": raw_text,
            "fingerprint": fingerprint,
            "stored_at": now(),
        }
        with self.engine.begin() as conn:
            return insert_ignore(conn, s.quarantine, [row]) == 1

    def count_quarantined(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(s.quarantine)).scalar_one()

    def list_quarantined(self, limit: int | None = None) -> list[QuarantinedLine]:
        q = s.quarantine.c
        stmt = select(q.seq, q.source, q.location, q.reason, q.raw_text).order_by(q.seq)
        if limit:
            stmt = stmt.limit(limit)
        with self.engine.connect() as conn:
            return [QuarantinedLine(*row) for row in conn.execute(stmt)]

    # --- watermarks and keys -------------------------------------------------------------
    def get_watermark(self, source: str) -> Any | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(s.ingest_watermarks.c.value).where(s.ingest_watermarks.c.source == source)
            ).scalar()

    def set_watermark(self, source: str, value: Any) -> None:
        with self.engine.begin() as conn:
            self._set_watermark(conn, source, value)

    def _set_watermark(self, conn: Connection, source: str, value: Any) -> None:
        upsert(
            conn,
            s.ingest_watermarks,
            {"source": source, "value": value, "updated_at": now()},
            key="source",
        )

    def secret(self, name: str) -> str:
        """A random secret kept beside the raw data, created on first use (e.g. the HMAC key
        that surrogates are derived from: whoever lacks the raw store cannot reverse them)."""
        with self.engine.begin() as conn:
            insert_ignore(conn, s.raw_secrets, [{"name": name, "value": secrets.token_hex(32)}])
            return conn.execute(
                select(s.raw_secrets.c.value).where(s.raw_secrets.c.name == name)
            ).scalar_one()
