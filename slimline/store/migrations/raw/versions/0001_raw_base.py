"""The raw store from nothing: raw calls and their blobs, quarantine, watermarks, keys.

Revision ID: raw_0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "raw_0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def call_columns() -> list[sa.Column]:
    return [
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
    ]


def upgrade() -> None:
    op.create_table(
        "raw_blobs",
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table("raw_calls", *call_columns())
    op.create_table(
        "quarantine",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(512), nullable=False),
        sa.Column("location", sa.String(512), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("raw_text", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
        sa.Column("stored_at", TZ, nullable=False),
    )
    op.create_table(
        "ingest_watermarks",
        sa.Column("source", sa.String(1024), primary_key=True),
        sa.Column("value", sa.JSON, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "raw_secrets",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("value", sa.String(512), nullable=False),
    )
    op.create_table(
        "scrub_cache",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for name in (
        "scrub_cache",
        "raw_secrets",
        "ingest_watermarks",
        "quarantine",
        "raw_calls",
        "raw_blobs",
    ):
        op.drop_table(name)
