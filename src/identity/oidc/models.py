"""Provider tables. Codes, refresh tokens and client secrets are stored only as SHA-256 digests."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from identity.db import Base, UTCDateTime


class OAuthClient(Base):
    __tablename__ = "oauth_client"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    secret_digest: Mapped[str | None] = mapped_column(String(64))
    auth_method: Mapped[str] = mapped_column(String(32))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON)
    grant_types: Mapped[list[str]] = mapped_column(JSON)
    scope: Mapped[str] = mapped_column(Text)  # the scopes this client may ask for
    application_type: Mapped[str] = mapped_column(String(16))  # web | native | service
    first_party: Mapped[bool] = mapped_column(Boolean)
    subject_type: Mapped[str] = mapped_column(String(16))  # public | pairwise
    sector_identifier: Mapped[str | None] = mapped_column(String(255))
    id_token_alg: Mapped[str] = mapped_column(String(8))
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # for private_key_jwt
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(2000))
    # Where the sign-in page links "back to the shop" and the consent screen links the
    # client's privacy policy (RFC 7591 §2): registered by an operator, never taken from a request.
    client_uri: Mapped[str | None] = mapped_column(String(2000))
    policy_uri: Mapped[str | None] = mapped_column(String(2000))
    resources: Mapped[list[str]] = mapped_column(JSON)  # RFC 8707 audiences it may request
    # Audiences this client serves as a resource server: it may introspect tokens for them.
    resource_server_for: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    # The purpose a service resolves anonymous ids for (identity:resolve), e.g. personalization.
    resolve_purpose: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Deleted (``identity clients delete``): the row stays as a tombstone so that its id, which
    # audit entries, consent records and anonymous ids name, never passes to another client.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Grant(Base):
    """One authorization of a client by a user: the family every code and token descends from.

    Revoking the grant (code reuse, refresh-token reuse, logout of a session-bound grant,
    withdrawn consent) makes every token issued under it inactive.
    """

    __tablename__ = "oauth_grant"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    client_id: Mapped[str] = mapped_column(ForeignKey("oauth_client.client_id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    sid: Mapped[str | None] = mapped_column(String(43), index=True)
    scope: Mapped[str] = mapped_column(Text)
    resource: Mapped[str | None] = mapped_column(String(2000))
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime())
    amr: Mapped[str] = mapped_column(String(64))
    acr_values: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())  # absolute refresh lifetime
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_reason: Mapped[str | None] = mapped_column(String(32))


class AuthorizationCode(Base):
    __tablename__ = "oauth_code"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("oauth_grant.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(64))
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    scope: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(String(255))
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(8))
    # The channel's anonymous id sent with the authorization request, linked at redemption.
    anon_id: Mapped[str | None] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RefreshToken(Base):
    __tablename__ = "oauth_refresh_token"
    __table_args__ = (Index("ix_oauth_refresh_token_grant_id", "grant_id"),)

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    grant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("oauth_grant.id", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    idle_expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RevokedAccessToken(Base):
    """Access tokens are self-contained JWTs; a revoked one is remembered until it expires."""

    __tablename__ = "oauth_revoked_access_token"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class RememberedConsent(Base):
    """What a user allowed a third-party client, so the consent screen is shown once."""

    __tablename__ = "oauth_consent"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    client_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_client.client_id", ondelete="CASCADE"), primary_key=True
    )
    scope: Mapped[str] = mapped_column(Text)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SigningKey(Base):
    """A provider signing key. The private half is encrypted with a key derived from the
    secret key. Token keys are published in ``/jwks`` from creation until every token they
    signed has expired; receipt keys in ``/receipts/jwks`` from creation, forever."""

    __tablename__ = "signing_key"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(8))
    # tokens | receipts (keys.KeyPurpose); rows from before receipt keys existed are tokens.
    purpose: Mapped[str] = mapped_column(String(16), server_default="tokens")
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    private_jwk_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    activates_at: Mapped[datetime] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class UsedClientAssertion(Base):
    """``jti`` of private_key_jwt assertions already seen (replay protection)."""

    __tablename__ = "oauth_used_assertion"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
