"""Upstream identities: an external OpenID provider's subject linked to an account.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import identity.db

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = identity.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "upstream_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("sub", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("last_used_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_upstream_identity_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upstream_identity")),
        sa.UniqueConstraint("provider", "sub", name=op.f("uq_upstream_identity_provider")),
    )
    with op.batch_alter_table("upstream_identity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_upstream_identity_user_id"), ["user_id"])


def downgrade() -> None:
    with op.batch_alter_table("upstream_identity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_upstream_identity_user_id"))
    op.drop_table("upstream_identity")
