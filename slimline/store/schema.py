"""The store's schema: every table of the raw store and the work store, in one place.

Two databases, on purpose:
- the raw store holds calls as collected, with their PII; nothing else may read it but
  collect and scrub;
- the work store holds everything derived (scrubbed calls, clusters, run bookkeeping).

Table names are distinct across both, so one PostgreSQL database can host them together.
Large repeated strings (system prompts, tool schemas, earlier messages) live once each in a
content-addressed blob table, zlib-compressed; calls hold their hashes. Migrations under
`migrations/` create exactly these tables; change both together.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

raw_metadata = MetaData()
work_metadata = MetaData()


def _blob_table(name: str, metadata: MetaData) -> Table:
    return Table(
        name,
        metadata,
        Column("hash", String(64), primary_key=True),
        Column("data", LargeBinary, nullable=False),  # zlib(utf-8 text)
    )


def _call_table(name: str, metadata: MetaData, *extra: Column) -> Table:
    """Calls as rows: scalar fields as columns, messages/tools/response as blob hashes."""
    return Table(
        name,
        metadata,
        Column("seq", Integer, primary_key=True, autoincrement=True),
        Column("id", String(64), nullable=False, unique=True),
        Column("source", String(512), nullable=False),
        Column("agent", String(256), nullable=False, index=True),
        Column("timestamp", DateTime(timezone=True), nullable=False, index=True),
        Column("model", String(256), nullable=False),
        Column("conversation_id", String(256), nullable=False, index=True),
        Column("message_refs", JSON, nullable=False),  # list of blob hashes, one per message
        Column("tools_ref", String(64), nullable=True),  # blob hash of the tools list
        Column("response_ref", String(64), nullable=False),
        Column("latency_ms", Float),
        Column("prompt_tokens", Integer),
        Column("completion_tokens", Integer),
        Column("cost_usd", Float),
        Column("metadata", JSON, nullable=False),
        Column("stored_at", DateTime(timezone=True), nullable=False),
        *extra,
    )


# --- raw store -------------------------------------------------------------------------
raw_blobs = _blob_table("raw_blobs", raw_metadata)
raw_calls = _call_table("raw_calls", raw_metadata)

quarantine = Table(
    "quarantine",
    raw_metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("source", String(512), nullable=False),
    Column("location", String(512), nullable=False),  # e.g. "line 17" or "span 3fa2..."
    Column("reason", Text, nullable=False),
    Column("raw_text", Text, nullable=False),
    Column("fingerprint", String(64), nullable=False, unique=True),  # source+location+text
    Column("stored_at", DateTime(timezone=True), nullable=False),
)

ingest_watermarks = Table(
    "ingest_watermarks",
    raw_metadata,
    Column("source", String(1024), primary_key=True),
    Column("value", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

raw_secrets = Table(  # keys that must stay beside the raw data (e.g. the surrogate HMAC key)
    "raw_secrets",
    raw_metadata,
    Column("name", String(128), primary_key=True),
    Column("value", String(512), nullable=False),
)

scrub_cache = Table(  # keyed by hash(scrub config + raw string): holds a raw-derived key
    "scrub_cache",
    raw_metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# --- work store ------------------------------------------------------------------------
work_blobs = _blob_table("work_blobs", work_metadata)
scrubbed_calls = _call_table(
    "scrubbed_calls",
    work_metadata,
    Column("raw_seq", Integer, nullable=False, index=True),  # seq in raw_calls: the watermark
    Column("scrub_run_id", String(64)),
)

scrub_quarantine = Table(  # calls scrub could not scrub: their id and why, never content
    "scrub_quarantine",
    work_metadata,
    Column("call_id", String(64), primary_key=True),
    Column("raw_seq", Integer, nullable=False, index=True),  # counts for the scrub watermark
    Column("reason", Text, nullable=False),
    Column("scrub_run_id", String(64)),
    Column("stored_at", DateTime(timezone=True), nullable=False),
)

clusters = Table(
    "clusters",
    work_metadata,
    Column("cluster_id", Integer, primary_key=True, autoincrement=False),
    Column("slug", String(256), nullable=False, unique=True),
    Column("label", String(512), nullable=False),
    Column("keywords", JSON, nullable=False),
    Column("top_tools", JSON, nullable=False),
    Column("stats", JSON, nullable=False),  # calls, shares, median tokens ...
    Column("model_version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

UNCLUSTERED = -1

cluster_assignments = Table(
    "cluster_assignments",
    work_metadata,
    Column("call_id", String(64), primary_key=True),
    Column("cluster_id", Integer, nullable=False, index=True),  # UNCLUSTERED for outliers
    Column("probability", Float),
    Column("model_version", Integer, nullable=False),
    Column("assigned_at", DateTime(timezone=True), nullable=False),
)

embedding_cache = Table(
    "embedding_cache",
    work_metadata,
    Column("key", String(64), primary_key=True),  # hash(model id + text)
    Column("vector", LargeBinary, nullable=False),  # float32 bytes
)

runs = Table(
    "runs",
    work_metadata,
    Column("run_id", String(64), primary_key=True),
    Column("stage", String(64), nullable=False, index=True),
    Column("status", String(32), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("summary", JSON, nullable=False),
)

work_state = Table(  # small named values: watermarks of derived stages, last model versions
    "work_state",
    work_metadata,
    Column("name", String(256), primary_key=True),
    Column("value", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

routing_decisions = Table(  # the router's decisions (tasks/serve): who answered, why; no content
    "routing_decisions",
    work_metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("cluster_id", Integer),  # None: not assigned (no champion's context matched)
    Column("model", String(256)),  # the champion's registered model, when one was asked
    Column("version", Integer),
    Column("confidence", Float),
    Column("threshold", Float),
    Column("served", Boolean, nullable=False),  # answered by the small model
    Column("reason", String(64), nullable=False, index=True),  # "served" or why not
    Column("status", Integer),  # the HTTP status the caller got
    Column("stream", Boolean, nullable=False),
    Column("latency_ms", Float, nullable=False),  # the router's whole answer
    Column("slm_ms", Float),  # of it, the small model's generation
    Column("completion_tokens", Integer),
)
