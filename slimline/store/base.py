"""What the raw and work stores share: connecting, migrating, blobs, and call rows.

A call is stored as one row plus content-addressed blobs: each message, the tools list and
the response are canonical JSON, kept once by hash and zlib-compressed. Since every call of
a conversation repeats the messages before it, and every call of an agent repeats its
system prompt and tools, most of a call's bytes are already stored when it arrives.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from sqlalchemy import Engine, Table, create_engine, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from slimline.record import CallRecord, Message, canonical_json, content_hash

_CHUNK = 500  # rows per IN (...) query; well under SQLite's variable limit


class StoreUnavailable(RuntimeError):
    """A store URL that cannot be opened; the message names the store and the masked URL."""


def masked(url: str) -> str:
    """The URL with its password replaced by ***."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def now() -> datetime:
    return datetime.now(UTC)


def connect(url: str, *, which: str) -> Engine:
    """An engine for `url`, checked by connecting once; StoreUnavailable if it cannot be reached."""
    try:
        engine = create_engine(url, future=True, pool_pre_ping=True)
    except (ArgumentError, ImportError) as exc:
        raise StoreUnavailable(f"the {which} store URL {masked(url)} is not valid: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        with engine.connect():
            pass
    except (OperationalError, SQLAlchemyError) as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise StoreUnavailable(
            f"cannot reach the {which} store at {masked(url)}: {reason}"
        ) from None
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def migrate(engine: Engine, which: str) -> None:
    """Bring the `which` ('raw' or 'work') schema to the newest revision with Alembic."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    location = resources.files("slimline.store") / "migrations" / which
    cfg.set_main_option("script_location", str(location))
    cfg.set_main_option("version_table", f"slimline_{which}_version")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")


def insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> int:
    """INSERT rows, skipping those whose unique key exists; returns how many were new."""
    if not rows:
        return 0
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    key = next(iter(table.primary_key.columns))
    stmt = dialect.insert(table).on_conflict_do_nothing().returning(key)
    # executemany: the statement is compiled once and SQLAlchemy batches the rows into
    # multi-row INSERTs itself ("insertmanyvalues"); RETURNING counts the rows really
    # inserted (rowcount is -1 for batches on psycopg)
    return len(conn.execute(stmt, list(rows)).all())


def upsert(conn: Connection, table: Table, row: dict[str, Any], key: str) -> None:
    """INSERT or UPDATE one row by its primary key column `key`."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table).values(row)
    stmt = stmt.on_conflict_do_update(
        index_elements=[key], set_={c: stmt.excluded[c] for c in row if c != key}
    )
    conn.execute(stmt)


class Blobs:
    """Content-addressed strings in one table: put returns the hash, get the text."""

    def __init__(self, table: Table, cache_size: int = 50_000):
        self.table = table
        self._cache: dict[str, str] = {}
        self._cache_size = cache_size

    def put_many(self, conn: Connection, texts: dict[str, str]) -> None:
        """Store {hash: text} pairs that are not stored yet."""
        missing = [h for h in texts if h not in self._cache]
        if not missing:
            return
        existing: set[str] = set()
        for start in range(0, len(missing), _CHUNK):
            chunk = missing[start : start + _CHUNK]
            rows = conn.execute(select(self.table.c.hash).where(self.table.c.hash.in_(chunk)))
            existing.update(r[0] for r in rows)
        rows = [
            {"hash": h, "data": zlib.compress(texts[h].encode("utf-8"), 6)}
            for h in missing
            if h not in existing
        ]
        insert_ignore(conn, self.table, rows)

    def get_many(self, conn: Connection, hashes: Iterable[str]) -> dict[str, str]:
        wanted = {h for h in hashes if h}
        out = {h: self._cache[h] for h in wanted if h in self._cache}
        missing = list(wanted - out.keys())
        for start in range(0, len(missing), _CHUNK):
            chunk = missing[start : start + _CHUNK]
            for h, data in conn.execute(
                select(self.table.c.hash, self.table.c.data).where(self.table.c.hash.in_(chunk))
            ):
                out[h] = zlib.decompress(data).decode("utf-8")
        if len(self._cache) > self._cache_size:
            self._cache.clear()
        self._cache.update(out)
        return out


def _ref(text: str, pending: dict[str, str]) -> str:
    h = content_hash(text)
    pending[h] = text
    return h


def record_to_row(
    record: CallRecord, pending_blobs: dict[str, str], memo: dict[int, str] | None = None
) -> dict[str, Any]:
    """A call row for `record`; its blobs are added to `pending_blobs` ({hash: text}).

    `memo` ({id(object): blob hash}) may be shared by the rows of ONE batch whose records
    share Message objects or tools lists (collect's builder does that): each shared object
    is then serialised once. Only valid while those records are alive and unchanged.
    """
    if memo is not None and all(type(m) is Message for m in record.messages):

        def ref(obj: Any, dump: Any) -> str:
            h = memo.get(id(obj))
            if h is None:
                h = memo[id(obj)] = _ref(canonical_json(dump()), pending_blobs)
            return h

        message_refs = [
            ref(m, lambda m=m: m.model_dump(mode="json", exclude_none=True))
            for m in record.messages
        ]
        tools_ref = (
            ref(record.tools, lambda: _dump_field(record, "tools")) if record.tools else None
        )
        response = _dump_field(record, "response")
    else:
        dump = record.model_dump(mode="json", exclude_none=True)
        message_refs = [_ref(canonical_json(m), pending_blobs) for m in dump["messages"]]
        tools_ref = _ref(canonical_json(dump["tools"]), pending_blobs) if record.tools else None
        response = dump["response"]
    return {
        "id": record.id,
        "source": record.source,
        "agent": record.agent,
        "timestamp": record.timestamp,
        "model": record.model,
        "conversation_id": record.conversation_id,
        "message_refs": message_refs,
        "tools_ref": tools_ref,
        "response_ref": _ref(canonical_json(response), pending_blobs),
        "latency_ms": record.latency_ms,
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
        "cost_usd": record.cost_usd,
        "metadata": record.metadata,
        "stored_at": now(),
    }


def _dump_field(record: CallRecord, name: str) -> Any:
    """One field as the whole record's JSON dump has it."""
    return record.model_dump(mode="json", exclude_none=True, include={name})[name]


def row_to_record(row: Any, blobs: dict[str, str]) -> CallRecord:
    """Rebuild a CallRecord from a call row and its blobs (as returned by Blobs.get_many)."""
    m = row._mapping
    return CallRecord.model_construct(
        id=m["id"],
        source=m["source"],
        agent=m["agent"],
        timestamp=_aware(m["timestamp"]),
        model=m["model"],
        conversation_id=m["conversation_id"],
        messages=[Message.model_validate_json(blobs[h]) for h in m["message_refs"]],
        tools=json.loads(blobs[m["tools_ref"]]) if m["tools_ref"] else [],
        response=Message.model_validate_json(blobs[m["response_ref"]]),
        latency_ms=m["latency_ms"],
        prompt_tokens=m["prompt_tokens"],
        completion_tokens=m["completion_tokens"],
        cost_usd=m["cost_usd"],
        metadata=m["metadata"] or {},
    )


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


class CallTable:
    """Insert and read CallRecords in one call table with its blob table."""

    def __init__(self, table: Table, blobs: Blobs):
        self.table = table
        self.blobs = blobs

    def insert(
        self,
        conn: Connection,
        records: Iterable[CallRecord],
        extra: dict[str, dict[str, Any]] | None = None,
    ) -> int:
        """Insert records whose id is not stored yet; returns the number inserted.

        `extra` maps a record id to values of the table's own further columns.
        """
        unique: dict[str, CallRecord] = {}
        for rec in records:
            unique.setdefault(rec.id, rec)
        if not unique:
            return 0
        known = self.existing_ids(conn, list(unique))
        pending: dict[str, str] = {}
        memo: dict[int, str] = {}  # records of one batch may share Message objects
        rows = []
        for rec in unique.values():
            if rec.id in known:
                continue  # stored already: not serialised again
            row = record_to_row(rec, pending, memo)
            if extra:
                row.update(extra.get(rec.id, {}))
            rows.append(row)
        self.blobs.put_many(conn, pending)
        return insert_ignore(conn, self.table, rows)

    def existing_ids(self, conn: Connection, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), _CHUNK):
            chunk = list(ids[start : start + _CHUNK])
            found.update(
                r[0]
                for r in conn.execute(select(self.table.c.id).where(self.table.c.id.in_(chunk)))
            )
        return found

    def count(self, conn: Connection) -> int:
        return conn.execute(select(func.count()).select_from(self.table)).scalar_one()

    def iter_rows(
        self,
        conn: Connection,
        *,
        after_seq: int = 0,
        ids: Sequence[str] | None = None,
        batch: int = 256,
    ) -> Iterator[tuple[Any, CallRecord]]:
        """(row, record) pairs in seq order, from after `after_seq`, optionally only `ids`."""
        t = self.table
        if ids is not None:
            for start in range(0, len(ids), _CHUNK):
                chunk = list(ids[start : start + _CHUNK])
                rows = conn.execute(select(t).where(t.c.id.in_(chunk)).order_by(t.c.seq)).all()
                yield from self._materialise(conn, rows)
            return
        last = after_seq
        while True:
            rows = conn.execute(
                select(t).where(t.c.seq > last).order_by(t.c.seq).limit(batch)
            ).all()
            if not rows:
                return
            yield from self._materialise(conn, rows)
            last = rows[-1]._mapping["seq"]

    def _materialise(
        self, conn: Connection, rows: Sequence[Any]
    ) -> Iterator[tuple[Any, CallRecord]]:
        hashes: set[str] = set()
        for r in rows:
            m = r._mapping
            hashes.update(m["message_refs"])
            hashes.add(m["response_ref"])
            if m["tools_ref"]:
                hashes.add(m["tools_ref"])
        blobs = self.blobs.get_many(conn, hashes)
        for r in rows:
            yield r, row_to_record(r, blobs)
