"""OpenID provider (clients, grants, codes, refresh tokens, keys, consents, pairwise
subjects), the durable outbox, and profile claims on accounts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 07:52:15.259580
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import identity.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oauth_client",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("secret_digest", sa.String(length=64), nullable=True),
        sa.Column("auth_method", sa.String(length=32), nullable=False),
        sa.Column("redirect_uris", sa.JSON(), nullable=False),
        sa.Column("post_logout_redirect_uris", sa.JSON(), nullable=False),
        sa.Column("grant_types", sa.JSON(), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("application_type", sa.String(length=16), nullable=False),
        sa.Column("first_party", sa.Boolean(), nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("sector_identifier", sa.String(length=255), nullable=True),
        sa.Column("id_token_alg", sa.String(length=8), nullable=False),
        sa.Column("jwks", sa.JSON(), nullable=True),
        sa.Column("backchannel_logout_uri", sa.String(length=2000), nullable=True),
        sa.Column("resources", sa.JSON(), nullable=False),
        sa.Column("created_at", identity.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", identity.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_oauth_client")),
    )
    op.create_table(
        "oauth_revoked_access_token",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("expires_at", identity.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_oauth_revoked_access_token")),
    )
    with op.batch_alter_table("oauth_revoked_access_token", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_oauth_revoked_access_token_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "oauth_used_assertion",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("expires_at", identity.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_oauth_used_assertion")),
    )
    with op.batch_alter_table("oauth_used_assertion", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_oauth_used_assertion_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "outbox_message",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("target_url", sa.String(length=2000), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("headers_json", sa.Text(), nullable=False),
        sa.Column("created_at", identity.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", identity.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("delivered_at", identity.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_at", identity.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_message")),
    )
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbox_message_next_attempt_at"), ["next_attempt_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_outbox_message_owner"), ["owner"], unique=False)

    op.create_table(
        "signing_key",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("alg", sa.String(length=8), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("private_jwk_encrypted", sa.Text(), nullable=False),
        sa.Column("created_at", identity.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("activates_at", identity.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("retired_at", identity.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_key")),
    )
    op.create_table(
        "oauth_consent",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("granted_at", identity.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oauth_client.client_id"],
            name=op.f("fk_oauth_consent_client_id_oauth_client"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_oauth_consent_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "client_id", name=op.f("pk_oauth_consent")),
    )
    op.create_table(
        "oauth_grant",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("sid", sa.String(length=43), nullable=True),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("resource", sa.String(length=2000), nullable=True),
        sa.Column("auth_time", identity.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("amr", sa.String(length=64), nullable=False),
        sa.Column("acr_values", sa.String(length=255), nullable=True),
        sa.Column("created_at", identity.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", identity.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", identity.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oauth_client.client_id"],
            name=op.f("fk_oauth_grant_client_id_oauth_client"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_oauth_grant_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_grant")),
    )
    with op.batch_alter_table("oauth_grant", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oauth_grant_sid"), ["sid"], unique=False)
        batch_op.create_index(batch_op.f("ix_oauth_grant_user_id"), ["user_id"], unique=False)

    op.create_table(
        "subject_alias",
        sa.Column("sector", sa.String(length=255), nullable=False),
        sa.Column("sub", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_subject_alias_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("sector", "sub", name=op.f("pk_subject_alias")),
    )
    with op.batch_alter_table("subject_alias", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subject_alias_user_id"), ["user_id"], unique=False)

    op.create_table(
        "oauth_code",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("grant_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("redirect_uri", sa.String(length=2000), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("nonce", sa.String(length=255), nullable=True),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("code_challenge_method", sa.String(length=8), nullable=False),
        sa.Column("expires_at", identity.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", identity.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["grant_id"],
            ["oauth_grant.id"],
            name=op.f("fk_oauth_code_grant_id_oauth_grant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_oauth_code")),
    )
    with op.batch_alter_table("oauth_code", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oauth_code_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "oauth_refresh_token",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("grant_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("created_at", identity.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("idle_expires_at", identity.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", identity.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["grant_id"],
            ["oauth_grant.id"],
            name=op.f("fk_oauth_refresh_token_grant_id_oauth_grant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_oauth_refresh_token")),
    )
    with op.batch_alter_table("oauth_refresh_token", schema=None) as batch_op:
        batch_op.create_index("ix_oauth_refresh_token_grant_id", ["grant_id"], unique=False)

    # Existing accounts: updated_at starts as created_at, phone numbers start unverified.
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("updated_at", identity.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("phone_number", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column(
                "phone_number_verified", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch_op.add_column(sa.Column("address", sa.JSON(), nullable=True))
    op.execute("UPDATE user_account SET updated_at = created_at")
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.alter_column(
            "updated_at", existing_type=identity.db.UTCDateTime(timezone=True), nullable=False
        )
        batch_op.alter_column(
            "phone_number_verified", existing_type=sa.Boolean(), server_default=None
        )


def downgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("address")
        batch_op.drop_column("phone_number_verified")
        batch_op.drop_column("phone_number")
        batch_op.drop_column("updated_at")

    with op.batch_alter_table("oauth_refresh_token", schema=None) as batch_op:
        batch_op.drop_index("ix_oauth_refresh_token_grant_id")

    op.drop_table("oauth_refresh_token")
    with op.batch_alter_table("oauth_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_code_expires_at"))

    op.drop_table("oauth_code")
    with op.batch_alter_table("subject_alias", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subject_alias_user_id"))

    op.drop_table("subject_alias")
    with op.batch_alter_table("oauth_grant", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_grant_user_id"))
        batch_op.drop_index(batch_op.f("ix_oauth_grant_sid"))

    op.drop_table("oauth_grant")
    op.drop_table("oauth_consent")
    op.drop_table("signing_key")
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_message_owner"))
        batch_op.drop_index(batch_op.f("ix_outbox_message_next_attempt_at"))

    op.drop_table("outbox_message")
    with op.batch_alter_table("oauth_used_assertion", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_used_assertion_expires_at"))

    op.drop_table("oauth_used_assertion")
    with op.batch_alter_table("oauth_revoked_access_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_revoked_access_token_expires_at"))

    op.drop_table("oauth_revoked_access_token")
    op.drop_table("oauth_client")
