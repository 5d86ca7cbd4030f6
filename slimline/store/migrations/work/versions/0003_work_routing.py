"""The router's decisions: one row per routed call, who answered and why, never content.

Revision ID: work_0003
Revises: work_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "work_0003"
down_revision = "work_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "routing_decisions",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("cluster_id", sa.Integer),
        sa.Column("model", sa.String(256)),
        sa.Column("version", sa.Integer),
        sa.Column("confidence", sa.Float),
        sa.Column("threshold", sa.Float),
        sa.Column("served", sa.Boolean, nullable=False),
        sa.Column("reason", sa.String(64), nullable=False, index=True),
        sa.Column("status", sa.Integer),
        sa.Column("stream", sa.Boolean, nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("slm_ms", sa.Float),
        sa.Column("completion_tokens", sa.Integer),
    )


def downgrade() -> None:
    op.drop_table("routing_decisions")
