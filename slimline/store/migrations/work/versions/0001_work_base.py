"""The work store from nothing: scrubbed calls, clusters, assignments, embeddings, runs.

Revision ID: work_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "work_0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "work_blobs",
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "scrubbed_calls",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("source", sa.String(512), nullable=False),
        sa.Column("agent", sa.String(256), nullable=False, index=True),
        sa.Column("timestamp", TZ, nullable=False, index=True),
        sa.Column("model", sa.String(256), nullable=False),
        sa.Column("conversation_id", sa.String(256), nullable=False, index=True),
        sa.Column("message_refs", sa.JSON, nullable=False),
        sa.Column("tools_ref", sa.String(64)),
        sa.Column("response_ref", sa.String(64), nullable=False),
        sa.Column("latency_ms", sa.Float),
        sa.Column("prompt_tokens", sa.Integer),
        sa.Column("completion_tokens", sa.Integer),
        sa.Column("cost_usd", sa.Float),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("stored_at", TZ, nullable=False),
        sa.Column("raw_seq", sa.Integer, nullable=False, index=True),
        sa.Column("scrub_run_id", sa.String(64)),
    )
    op.create_table(
        "clusters",
        sa.Column("cluster_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("slug", sa.String(256), nullable=False, unique=True),
        sa.Column("label", sa.String(512), nullable=False),
        sa.Column("keywords", sa.JSON, nullable=False),
        sa.Column("top_tools", sa.JSON, nullable=False),
        sa.Column("stats", sa.JSON, nullable=False),
        sa.Column("model_version", sa.Integer, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "cluster_assignments",
        sa.Column("call_id", sa.String(64), primary_key=True),
        sa.Column("cluster_id", sa.Integer, nullable=False, index=True),
        sa.Column("probability", sa.Float),
        sa.Column("model_version", sa.Integer, nullable=False),
        sa.Column("assigned_at", TZ, nullable=False),
    )
    op.create_table(
        "embedding_cache",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("vector", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("stage", sa.String(64), nullable=False, index=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("finished_at", TZ),
        sa.Column("summary", sa.JSON, nullable=False),
    )
    op.create_table(
        "work_state",
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("value", sa.JSON, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )


def downgrade() -> None:
    for name in (
        "work_state",
        "runs",
        "embedding_cache",
        "cluster_assignments",
        "clusters",
        "scrubbed_calls",
        "work_blobs",
    ):
        op.drop_table(name)
