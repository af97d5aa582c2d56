"""Consent center: the append-only ledger, the current-state projection, the gap-free
feed counter, webhook subscriptions, and the outbox reference column.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 08:36:38.945094
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import identity.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consent_feed_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_consent_feed_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_feed_head")),
    )
    op.create_table(
        "consent_record",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("feed_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("purpose_version", sa.String(length=16), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("collected_at", identity.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", identity.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", identity.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("text_hash", sa.String(length=64), nullable=True),
        sa.Column("ip_hash", sa.String(length=32), nullable=True),
        sa.Column("user_agent", sa.String(length=200), nullable=True),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_record")),
        sa.UniqueConstraint("feed_seq", name=op.f("uq_consent_record_feed_seq")),
    )
    with op.batch_alter_table("consent_record", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_record_subject"), ["subject"], unique=False)

    op.create_table(
        "consent_state",
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("purpose_version", sa.String(length=16), nullable=False),
        sa.Column("decided_at", identity.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", identity.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column(
            "record_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["consent_record.id"],
            name=op.f("fk_consent_state_record_id_consent_record"),
        ),
        sa.PrimaryKeyConstraint("subject", "purpose", name=op.f("pk_consent_state")),
    )
    op.create_table(
        "webhook_subscription",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.Column("purposes", sa.JSON(), nullable=False),
        sa.Column("created_at", identity.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", identity.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oauth_client.client_id"],
            name=op.f("fk_webhook_subscription_client_id_oauth_client"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscription")),
    )
    with op.batch_alter_table("webhook_subscription", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_subscription_client_id"), ["client_id"], unique=False
        )

    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ref", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_outbox_message_ref"), ["ref"], unique=False)

    # The change feed starts at 0 (see identity.consent.models.ConsentFeedHead).
    op.bulk_insert(
        sa.table("consent_feed_head", sa.column("id", sa.Integer), sa.column("seq", sa.Integer)),
        [{"id": 1, "seq": 0}],
    )


def downgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_message_ref"))
        batch_op.drop_column("ref")

    with op.batch_alter_table("webhook_subscription", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_subscription_client_id"))

    op.drop_table("webhook_subscription")
    op.drop_table("consent_state")
    with op.batch_alter_table("consent_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_record_subject"))

    op.drop_table("consent_record")
    op.drop_table("consent_feed_head")
