"""Operators' lifecycle of accounts and clients: ``user_account.disabled_at`` and
``disabled_reason`` (``identity users disable``), ``oauth_client.deleted_at`` (a deleted
client's row stays as a tombstone, so its id is never given to another client).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import identity.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = identity.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("disabled_at", UTC, nullable=True))
        batch_op.add_column(sa.Column("disabled_reason", sa.String(length=200), nullable=True))
    with op.batch_alter_table("oauth_client", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deleted_at", UTC, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("oauth_client", schema=None) as batch_op:
        batch_op.drop_column("deleted_at")
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("disabled_reason")
        batch_op.drop_column("disabled_at")
