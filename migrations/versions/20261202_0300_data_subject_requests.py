"""The register of data subject requests (access exports and erasures, with their tombstones).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import identity.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = identity.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "dsr_request",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_at", UTC, nullable=False),
        sa.Column("scheduled_for", UTC, nullable=True),
        sa.Column("due_at", UTC, nullable=False),
        sa.Column("executed_at", UTC, nullable=True),
        sa.Column("cancelled_at", UTC, nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("requested_by", sa.String(length=128), nullable=False),
        sa.Column("executed_by", sa.String(length=128), nullable=True),
        sa.Column("cancelled_by", sa.String(length=128), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dsr_request")),
    )
    with op.batch_alter_table("dsr_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dsr_request_subject"), ["subject"])
        batch_op.create_index("ix_dsr_request_status_due_at", ["status", "due_at"])
        batch_op.create_index(
            "uq_dsr_request_pending",
            ["subject", "kind"],
            unique=True,
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )


def downgrade() -> None:
    op.drop_table("dsr_request")
