"""Account self-service: "keep me signed in" on browser sessions, and the browsers each account
has signed in from (``known_device``, for new-device sign-in alerts).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import identity.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = identity.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    # A server default: existing sessions are the ordinary, shorter kind.
    with op.batch_alter_table("browser_session", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("remember", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "known_device",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("device_hash", sa.String(length=64), nullable=False),
        sa.Column("first_seen_at", UTC, nullable=False),
        sa.Column("last_seen_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_known_device_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "device_hash", name=op.f("pk_known_device")),
    )


def downgrade() -> None:
    op.drop_table("known_device")
    with op.batch_alter_table("browser_session", schema=None) as batch_op:
        batch_op.drop_column("remember")
