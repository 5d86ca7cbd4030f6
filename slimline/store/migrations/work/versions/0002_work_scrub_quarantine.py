"""The work store's scrub quarantine: calls scrub set aside, by id, with the reason only.

Revision ID: work_0002
Revises: work_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "work_0002"
down_revision = "work_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scrub_quarantine",
        sa.Column("call_id", sa.String(64), primary_key=True),
        sa.Column("raw_seq", sa.Integer, nullable=False, index=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("scrub_run_id", sa.String(64)),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("scrub_quarantine")
