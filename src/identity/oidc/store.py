"""Persistence behind the grants: codes, grants (token families) and refresh tokens.

Every method works inside the caller's transaction. Rows that two requests could race for
(a code being redeemed, a refresh token being rotated) are read ``FOR UPDATE``, so exactly one
redemption wins on PostgreSQL; SQLite serializes write transactions anyway.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from identity import audit
from identity.accounts.models import User
from identity.audit.refs import Actor, Subject
from identity.crypto import token_digest
from identity.db import utcnow
from identity.oidc.clients import Client
from identity.oidc.models import (
    AuthorizationCode,
    Grant,
    RefreshToken,
    RevokedAccessToken,
)
from identity.oidc.rules import acr_of, amr_claim, codes_forgotten_before
from identity.oidc.tokens import Principal
from identity.settings import Settings
from identity.subjects.service import Subjects


@dataclass(frozen=True)
class CodeView:
    """What Authlib needs from a stored code (``AuthorizationCodeMixin``)."""

    digest: str
    grant_id: uuid.UUID
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str
    code_challenge_method: str
    anon_id: str | None = None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    # auth_time, acr and amr come from the grant (see OpenIDCode.get_compatible_claims).
    def get_auth_time(self) -> None:
        return None

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


@dataclass(frozen=True)
class RefreshView:
    """What Authlib needs from a stored refresh token (``TokenMixin``)."""

    digest: str
    grant_id: uuid.UUID
    client_id: str
    scope: str

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope


def user_profile(user: User) -> dict[str, Any]:
    """Claim values of an account (OpenID Connect Core §5.1)."""
    return {
        "name": user.name,
        "locale": user.locale,
        "updated_at": int(user.updated_at.timestamp()),
        "email": user.email,
        "email_verified": user.email_verified,
        "phone_number": user.phone_number,
        "phone_number_verified": user.phone_number_verified if user.phone_number else None,
        "address": user.address or None,
    }


class GrantStore:
    def __init__(self, settings: Settings, subjects: Subjects) -> None:
        self._settings = settings
        self._subjects = subjects

    # -- grants ----------------------------------------------------------------------------

    def create_grant(
        self,
        session: Session,
        *,
        client: Client,
        user_id: uuid.UUID,
        sid: str | None,
        scope: str,
        resource: str | None,
        auth_time: datetime,
        amr: str,
        acr_values: str | None,
    ) -> Grant:
        now = utcnow()
        grant = Grant(
            id=uuid.uuid4(),
            client_id=client.client_id,
            user_id=user_id,
            sid=sid,
            scope=scope,
            resource=resource,
            auth_time=auth_time,
            amr=amr,
            acr_values=acr_values,
            created_at=now,
            expires_at=now + self._settings.refresh_absolute_ttl,
        )
        session.add(grant)
        session.flush()
        return grant

    def revoke_grant(
        self, session: Session, grant_id: uuid.UUID, reason: str, actor: Actor
    ) -> bool:
        grant = session.get(Grant, grant_id, with_for_update=True)
        if grant is None or grant.revoked_at is not None:
            return False
        grant.revoked_at = utcnow()
        grant.revoked_reason = reason
        audit.record(
            session,
            "oidc.grant_revoked",
            actor=actor,
            subject=Subject.user(grant.user_id),
            details={"client_id": grant.client_id, "grant_id": str(grant.id), "reason": reason},
        )
        return True

    def revoke_grants(
        self,
        session: Session,
        *,
        reason: str,
        actor: Actor,
        user_id: uuid.UUID | None = None,
        client_id: str | None = None,
        limit: int | None = None,
    ) -> int:
        """Revoke the live grants of a user or of a client (at most ``limit``, for callers
        that go in batches) with one statement and one audit entry; returns how many."""
        if (user_id is None) == (client_id is None):
            raise ValueError("name a user or a client")
        whose = Grant.user_id == user_id if user_id is not None else Grant.client_id == client_id
        chosen = select(Grant.id).where(whose, Grant.revoked_at.is_(None))
        if limit is not None:
            chosen = chosen.limit(limit)
        result = session.execute(
            update(Grant)
            .where(Grant.id.in_(chosen))
            .values(revoked_at=utcnow(), revoked_reason=reason)
            .execution_options(synchronize_session=False)
        )
        count = int(result.rowcount or 0)  # type: ignore[attr-defined]
        if count:
            audit.record(
                session,
                "oidc.grants_revoked",
                actor=actor,
                subject=Subject.user(user_id) if user_id else Subject.client(str(client_id)),
                details={"count": count, "reason": reason},
            )
        return count

    def principal(self, session: Session, client: Client, grant_id: uuid.UUID) -> Principal | None:
        """The user behind a live grant, as ``client`` sees them; None if the grant is revoked
        or the account is gone or disabled."""
        grant = session.get(Grant, grant_id)
        if grant is None or grant.revoked_at is not None or grant.client_id != client.client_id:
            return None
        user = session.get(User, grant.user_id)
        if user is None or user.disabled_at is not None:
            return None
        return Principal(
            user_id=user.id,
            sub=self._subjects.for_client(session, client, user.id),
            profile=user_profile(user),
            grant_id=grant.id,
            sid=grant.sid,
            auth_time=grant.auth_time,
            amr=amr_claim(grant.amr.split()),
            acr=acr_of(grant.amr.split()),
            resource=grant.resource,
        )

    def grant_is_live(self, session: Session, grant_id: str | None) -> bool:
        if not grant_id:
            return True  # client_credentials tokens have no grant
        try:
            grant = session.get(Grant, uuid.UUID(grant_id))
        except ValueError:
            return False
        return grant is not None and grant.revoked_at is None

    # -- codes -----------------------------------------------------------------------------

    def save_code(
        self,
        session: Session,
        *,
        code: str,
        grant: Grant,
        redirect_uri: str,
        nonce: str | None,
        code_challenge: str,
        code_challenge_method: str,
        anon_id: str | None = None,
    ) -> None:
        now = utcnow()
        # Codes are kept a little past their lifetime so a late replay is still recognised
        # (and revokes what the first redemption issued); then they are pruned.
        session.execute(
            delete(AuthorizationCode).where(
                AuthorizationCode.expires_at < codes_forgotten_before(now, self._settings.code_ttl)
            )
        )
        session.add(
            AuthorizationCode(
                digest=token_digest(code),
                grant_id=grant.id,
                client_id=grant.client_id,
                redirect_uri=redirect_uri,
                scope=grant.scope,
                nonce=nonce,
                code_challenge=code_challenge,
                code_challenge_method=code_challenge_method,
                anon_id=anon_id,
                expires_at=now + self._settings.code_ttl,
                used_at=None,
            )
        )

    def redeemable_code(self, session: Session, code: str, client: Client) -> CodeView | None:
        """The code if it may be exchanged now. A code used before is a replay: the grant it
        started is revoked, so the tokens of the first redemption stop working (RFC 9700
        §4.2.4, RFC 6749 §4.1.2)."""
        if not isinstance(code, str) or len(code) > 200:
            return None
        row = session.execute(
            select(AuthorizationCode)
            .where(AuthorizationCode.digest == token_digest(code))
            .with_for_update()
        ).scalar_one_or_none()
        if row is None or row.client_id != client.client_id:
            return None
        if row.used_at is not None:
            self.revoke_grant(
                session, row.grant_id, "code_reuse", actor=Actor.client(client.client_id)
            )
            return None
        if row.expires_at <= utcnow():
            return None
        return CodeView(
            row.digest,
            row.grant_id,
            row.client_id,
            row.redirect_uri,
            row.scope,
            row.nonce,
            row.code_challenge,
            row.code_challenge_method,
            row.anon_id,
        )

    def mark_code_used(self, session: Session, digest: str) -> None:
        session.execute(
            update(AuthorizationCode)
            .where(AuthorizationCode.digest == digest)
            .values(used_at=utcnow())
        )

    # -- refresh tokens --------------------------------------------------------------------

    def save_refresh_token(
        self, session: Session, *, token: str, grant_id: uuid.UUID, client_id: str, scope: str
    ) -> None:
        now = utcnow()
        session.add(
            RefreshToken(
                digest=token_digest(token),
                grant_id=grant_id,
                client_id=client_id,
                scope=scope,
                created_at=now,
                idle_expires_at=now + self._settings.refresh_idle_ttl,
                rotated_at=None,
            )
        )

    def usable_refresh_token(self, session: Session, token: str) -> RefreshView | None:
        """The refresh token if it may be used now. Presenting one that was already rotated
        means two parties hold it: the whole grant is revoked (RFC 9700 §4.14.2)."""
        if not isinstance(token, str) or len(token) > 200:
            return None
        row = session.execute(
            select(RefreshToken).where(RefreshToken.digest == token_digest(token)).with_for_update()
        ).scalar_one_or_none()
        if row is None:
            return None
        if row.rotated_at is not None:
            self.revoke_grant(
                session, row.grant_id, "refresh_token_reuse", actor=Actor.client(row.client_id)
            )
            return None
        grant = session.get(Grant, row.grant_id)
        now = utcnow()
        if (
            grant is None
            or grant.revoked_at is not None
            or grant.expires_at <= now
            or row.idle_expires_at <= now
        ):
            return None
        return RefreshView(row.digest, row.grant_id, row.client_id, row.scope)

    def rotate_refresh_token(self, session: Session, digest: str) -> None:
        # The row is already in the session, locked by usable_refresh_token(): no new query.
        row = session.get(RefreshToken, digest)
        if row is not None:
            row.rotated_at = utcnow()

    def refresh_token_view(self, session: Session, token: str) -> RefreshView | None:
        """For revocation and introspection: the token if it exists and is still usable."""
        row = session.get(RefreshToken, token_digest(token)) if isinstance(token, str) else None
        if row is None or row.rotated_at is not None:
            return None
        grant = session.get(Grant, row.grant_id)
        now = utcnow()
        if grant is None or grant.revoked_at is not None or grant.expires_at <= now:
            return None
        if row.idle_expires_at <= now:
            return None
        return RefreshView(row.digest, row.grant_id, row.client_id, row.scope)

    # -- access tokens ----------------------------------------------------------------------

    def revoke_access_token(self, session: Session, jti: str, expires_at: datetime) -> None:
        if session.get(RevokedAccessToken, jti) is None:
            session.add(RevokedAccessToken(jti=jti, expires_at=expires_at))
        session.execute(delete(RevokedAccessToken).where(RevokedAccessToken.expires_at < utcnow()))

    def access_token_revoked(self, session: Session, jti: str) -> bool:
        return session.get(RevokedAccessToken, jti) is not None
