"""Anonymous first-party ids in use, the accounts that presented them, and the purpose a
resolving service is registered for.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 01:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import identity.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = identity.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "anonymous_subject",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("expires_at", UTC, nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("linked_at", UTC, nullable=True),
        sa.Column("unlinked_at", UTC, nullable=True),
        sa.Column("expired_at", UTC, nullable=True),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oauth_client.client_id"],
            name=op.f("fk_anonymous_subject_client_id_oauth_client"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_anonymous_subject_user_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_anonymous_subject")),
    )
    with op.batch_alter_table("anonymous_subject", schema=None) as batch_op:
        for column in ("client_id", "expires_at", "user_id"):
            batch_op.create_index(batch_op.f(f"ix_anonymous_subject_{column}"), [column])
    op.create_table(
        "anonymous_presentation",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("presented_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["key"],
            ["anonymous_subject.key"],
            name=op.f("fk_anonymous_presentation_key_anonymous_subject"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_anonymous_presentation_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", "user_id", name=op.f("pk_anonymous_presentation")),
    )
    with op.batch_alter_table("oauth_client", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resolve_purpose", sa.String(length=64), nullable=True))
    with op.batch_alter_table("oauth_code", schema=None) as batch_op:
        batch_op.add_column(sa.Column("anon_id", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("oauth_code", schema=None) as batch_op:
        batch_op.drop_column("anon_id")
    with op.batch_alter_table("oauth_client", schema=None) as batch_op:
        batch_op.drop_column("resolve_purpose")
    op.drop_table("anonymous_presentation")
    op.drop_table("anonymous_subject")
