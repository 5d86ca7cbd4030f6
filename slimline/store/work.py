"""The work store: everything derived from the raw calls, and never any raw PII.

Scrubbed calls (each keeps the raw call's id and the raw row's seq, the scrub watermark),
the calls scrub set aside (id, seq and reason only), clusters and cluster assignments,
cached embeddings, and run bookkeeping per stage.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import func, select

from slimline.record import CallRecord
from slimline.store import schema as s
from slimline.store.base import Blobs, CallTable, connect, insert_ignore, migrate, now, upsert


class WorkStore:
    """Scrubbed calls, clusters, runs and stage state (SQLite file or PostgreSQL)."""

    def __init__(self, url: str):
        self.url = url
        self.engine = connect(url, which="work")
        migrate(self.engine, "work")
        self.calls = CallTable(s.scrubbed_calls, Blobs(s.work_blobs))

    def close(self) -> None:
        self.engine.dispose()

    # --- scrubbed calls ------------------------------------------------------------------
    def add_scrubbed(
        self,
        records: Sequence[tuple[int, CallRecord]],
        scrub_run_id: str | None = None,
        quarantined: Sequence[tuple[int, str, str]] = (),
    ) -> int:
        """Store scrubbed records, each with the seq of its raw row, and in the same
        transaction the calls set aside as (raw seq, call id, reason); returns how many
        scrubbed records were new."""
        extra = {rec.id: {"raw_seq": seq, "scrub_run_id": scrub_run_id} for seq, rec in records}
        with self.engine.begin() as conn:
            rows = [
                {
                    "call_id": call_id,
                    "raw_seq": seq,
                    "reason": reason,
                    "scrub_run_id": scrub_run_id,
                    "stored_at": now(),
                }
                for seq, call_id, reason in quarantined
            ]
            if rows:
                insert_ignore(conn, s.scrub_quarantine, rows)
            return self.calls.insert(conn, [rec for _, rec in records], extra=extra)

    def scrub_quarantined(self) -> list[dict[str, Any]]:
        """The calls scrub set aside: call_id, raw_seq, reason, scrub_run_id, stored_at."""
        q = s.scrub_quarantine
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(q).order_by(q.c.raw_seq))]

    def count_scrub_quarantined(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(s.scrub_quarantine)).scalar_one()

    def scrub_watermark(self) -> int:
        """The newest raw seq scrub is done with, scrubbed or set aside: it resumes after."""
        q = s.scrub_quarantine
        with self.engine.connect() as conn:
            set_aside = conn.execute(select(func.max(q.c.raw_seq))).scalar() or 0
        return max(self.max_raw_seq(), set_aside)

    def count_scrubbed(self) -> int:
        with self.engine.connect() as conn:
            return self.calls.count(conn)

    def max_raw_seq(self) -> int:
        """The newest raw seq already scrubbed: scrub resumes after it."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(s.scrubbed_calls.c.raw_seq))).scalar() or 0

    def iter_scrubbed(
        self, ids: Sequence[str] | None = None, after_seq: int = 0
    ) -> Iterator[CallRecord]:
        with self.engine.connect() as conn:
            for _, rec in self.calls.iter_rows(conn, ids=ids, after_seq=after_seq):
                yield rec

    # --- clusters ------------------------------------------------------------------------
    def count_clusters(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(s.clusters)).scalar_one()

    def clusters(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(s.clusters).order_by(s.clusters.c.cluster_id))
            return [dict(r._mapping) for r in rows]

    def save_cluster(self, row: dict[str, Any]) -> None:
        """Insert or update one cluster row (all columns of `clusters` but the timestamps)."""
        with self.engine.begin() as conn:
            existing = conn.execute(
                select(s.clusters.c.created_at).where(s.clusters.c.cluster_id == row["cluster_id"])
            ).scalar()
            full = {**row, "created_at": existing or now(), "updated_at": now()}
            upsert(conn, s.clusters, full, key="cluster_id")

    def assign(self, assignments: Sequence[dict[str, Any]]) -> None:
        """Insert or update cluster assignments: call_id, cluster_id, probability, model_version."""
        with self.engine.begin() as conn:
            for a in assignments:
                upsert(conn, s.cluster_assignments, {**a, "assigned_at": now()}, key="call_id")

    def assignments(self) -> dict[str, int]:
        """{call_id: cluster_id} for every assigned call (UNCLUSTERED for outliers)."""
        with self.engine.connect() as conn:
            c = s.cluster_assignments.c
            return dict(conn.execute(select(c.call_id, c.cluster_id)).all())

    def members(self, *, unclustered: bool = False) -> dict[int, list[str]]:
        """{cluster_id: its call ids, sorted}; the outliers (UNCLUSTERED) only when asked."""
        out: dict[int, list[str]] = {}
        for call_id, cluster_id in self.assignments().items():
            if unclustered or cluster_id != s.UNCLUSTERED:
                out.setdefault(int(cluster_id), []).append(call_id)
        return {cid: sorted(ids) for cid, ids in out.items()}

    def cluster_calls(self, cluster_id: int) -> list[CallRecord]:
        """The scrubbed calls of one cluster, oldest first."""
        ids = self.members(unclustered=cluster_id == s.UNCLUSTERED).get(cluster_id, [])
        records = list(self.iter_scrubbed(ids=ids)) if ids else []
        return sorted(records, key=lambda r: (r.timestamp, r.id))

    # --- runs and state ------------------------------------------------------------------
    def start_run(self, stage: str, run_id: str | None = None) -> str:
        run_id = run_id or uuid.uuid4().hex
        with self.engine.begin() as conn:
            row = {
                "run_id": run_id,
                "stage": stage,
                "status": "running",
                "started_at": now(),
                "finished_at": None,
                "summary": {},
            }
            upsert(conn, s.runs, row, key="run_id")
        return run_id

    def finish_run(self, run_id: str, summary: dict[str, Any], status: str = "completed") -> None:
        with self.engine.begin() as conn:
            conn.execute(
                s.runs.update()
                .where(s.runs.c.run_id == run_id)
                .values(status=status, finished_at=now(), summary=summary)
            )

    def runs(self, stage: str | None = None) -> list[dict[str, Any]]:
        stmt = select(s.runs).order_by(s.runs.c.started_at)
        if stage:
            stmt = stmt.where(s.runs.c.stage == stage)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    # --- the router's decisions ----------------------------------------------------------
    def add_decisions(self, rows: Sequence[dict[str, Any]]) -> None:
        """Store routing decisions (columns of `routing_decisions`; `at` defaults to now)."""
        if not rows:
            return
        with self.engine.begin() as conn:
            conn.execute(s.routing_decisions.insert(), [{"at": now(), **r} for r in rows])

    def decisions(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The latest routing decisions, newest first."""
        stmt = select(s.routing_decisions).order_by(s.routing_decisions.c.seq.desc())
        if limit:
            stmt = stmt.limit(limit)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(stmt)]

    def routing_counts(self) -> list[dict[str, Any]]:
        """(cluster_id, served, reason, calls) over every routing decision."""
        t = s.routing_decisions.c
        stmt = select(t.cluster_id, t.served, t.reason, func.count()).group_by(
            t.cluster_id, t.served, t.reason
        )
        with self.engine.connect() as conn:
            return [
                {"cluster_id": c, "served": bool(sv), "reason": r, "calls": int(n)}
                for c, sv, r, n in conn.execute(stmt)
            ]

    def routing_summary(self) -> dict[str, Any]:
        """Live figures of the router's decisions: calls routed, served by a small model, the
        live served share, fallbacks by reason, and per cluster (routed, served, share)."""
        rows = self.routing_counts()
        routed = sum(r["calls"] for r in rows)
        served = sum(r["calls"] for r in rows if r["served"])
        fallbacks: dict[str, int] = {}
        clusters: dict[int, dict[str, Any]] = {}
        for r in rows:
            if not r["served"]:
                fallbacks[r["reason"]] = fallbacks.get(r["reason"], 0) + r["calls"]
            if r["cluster_id"] is not None:
                c = clusters.setdefault(int(r["cluster_id"]), {"routed": 0, "served": 0})
                c["routed"] += r["calls"]
                c["served"] += r["calls"] if r["served"] else 0
        for c in clusters.values():
            c["served_share"] = round(c["served"] / c["routed"], 6)
        return {
            "routed_calls": routed,
            "live_served_calls": served,
            "live_served_share": round(served / routed, 6) if routed else 0.0,
            "fallbacks": dict(sorted(fallbacks.items())),
            "live_clusters": {str(k): v for k, v in sorted(clusters.items())},
        }

    def get_state(self, name: str, default: Any = None) -> Any:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(s.work_state.c.value).where(s.work_state.c.name == name)
            ).scalar()
        return default if value is None else value

    def set_state(self, name: str, value: Any) -> None:
        with self.engine.begin() as conn:
            upsert(conn, s.work_state, {"name": name, "value": value, "updated_at": now()}, "name")
