"""Provider use cases the routes call: discovery, userinfo, logout, the apps a user allowed."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from identity import audit
from identity.accounts.models import User
from identity.accounts.service import AccountService
from identity.audit.refs import Actor, Subject
from identity.context import LOCALES, CurrentSession, Origin
from identity.db import Database
from identity.oidc.authorize import AuthorizeFlow, Interactions
from identity.oidc.clients import Client
from identity.oidc.logout import EndSession, Logout
from identity.oidc.models import Grant, RememberedConsent
from identity.oidc.registration import AUTH_METHODS
from identity.oidc.rules import (
    ACR_VALUES_SUPPORTED,
    CLAIMS_SUPPORTED,
    FIRST_PARTY_SCOPES,
    SERVICE_SCOPES,
    STANDARD_SCOPES,
    claims_for_scopes,
    scopes_of,
)
from identity.oidc.server import Provider, ProviderRequest
from identity.oidc.store import user_profile
from identity.oidc.tokens import InvalidToken


class BearerError(Exception):
    """RFC 6750 §3.1 errors: ``invalid_request``, ``invalid_token``, ``insufficient_scope``."""

    def __init__(self, error: str, description: str, status: int) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass(frozen=True)
class AllowedApp:
    client_id: str
    name: str
    scopes: list[str]
    granted_at: datetime


class OidcService:
    def __init__(
        self,
        *,
        provider: Provider,
        accounts: AccountService,
        logout: Logout,
        db: Database,
    ) -> None:
        self.provider = provider
        self.accounts = accounts
        self._logout = logout
        self._db = db
        self.interactions = Interactions(provider.settings.secret)
        self.flow = AuthorizeFlow(provider, self.interactions)
        self.end_session = EndSession(provider, self._end_session)

    # -- discovery ------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """OpenID Provider metadata (OpenID Connect Discovery 1.0, RFC 8414)."""
        issuer = self.provider.settings.issuer
        algs = ["RS256", "ES256"]
        return {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/authorize",
            "token_endpoint": f"{issuer}/token",
            "userinfo_endpoint": f"{issuer}/userinfo",
            "jwks_uri": f"{issuer}/jwks",
            "end_session_endpoint": f"{issuer}/logout",
            "revocation_endpoint": f"{issuer}/revoke",
            "introspection_endpoint": f"{issuer}/introspect",
            "scopes_supported": [*STANDARD_SCOPES, *FIRST_PARTY_SCOPES, *SERVICE_SCOPES],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "subject_types_supported": ["public", "pairwise"],
            "id_token_signing_alg_values_supported": algs,
            "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "token_endpoint_auth_signing_alg_values_supported": algs,
            "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
            "introspection_endpoint_auth_methods_supported": [
                m for m in AUTH_METHODS if m != "none"
            ],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": list(CLAIMS_SUPPORTED),
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "require_request_uri_registration": False,
            "authorization_response_iss_parameter_supported": True,
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": True,
            "frontchannel_logout_supported": False,
            "prompt_values_supported": ["none", "login", "consent", "select_account"],
            "display_values_supported": ["page", "popup", "touch"],
            "ui_locales_supported": list(LOCALES),
            "claims_locales_supported": list(LOCALES),
            "acr_values_supported": list(ACR_VALUES_SUPPORTED),
            "access_token_signing_alg_values_supported": algs,
            # Not a registered name: where consent receipts are verified. Unlike jwks_uri it
            # keeps every key that ever signed a receipt (consent/receipts.py).
            "consent_receipts_jwks_uri": f"{issuer}/receipts/jwks",
        }

    # -- userinfo -------------------------------------------------------------------------

    def userinfo(self, token: str | None) -> dict[str, Any]:
        """Claims for the user behind an access token (OpenID Connect Core §5.3)."""
        if not token:
            raise BearerError("invalid_request", "Bearer token required.", 401)
        provider = self.provider
        try:
            claims = provider.tokens.verify_access_token(token, audience=provider.settings.issuer)
        except InvalidToken as exc:
            raise BearerError(
                "invalid_token", "The access token is invalid or expired.", 401
            ) from exc
        if "openid" not in scopes_of(claims.get("scope")):
            raise BearerError("insufficient_scope", "The token lacks the openid scope.", 403)
        client = provider.clients.get(claims["client_id"])
        with self._db.read() as session:
            revoked = provider.store.access_token_revoked(session, claims["jti"]) or not (
                provider.store.grant_is_live(session, claims.get("grant_id"))
            )
            user_id = provider.subjects.resolve(session, client, claims["sub"]) if client else None
            user = session.get(User, user_id) if user_id else None
            if revoked or user is None or user.disabled_at is not None:
                raise BearerError("invalid_token", "The access token was revoked.", 401)
            profile = user_profile(user)
        return {"sub": claims["sub"], **claims_for_scopes(profile, claims.get("scope", ""))}

    # -- logout ---------------------------------------------------------------------------

    def _end_session(self, end_session_request: Any) -> None:
        request: ProviderRequest = end_session_request.request
        origin: Origin = request.origin  # type: ignore[attr-defined]
        self.accounts.logout(request.browser_cookie, origin)

    # -- apps with access -----------------------------------------------------------------

    def allowed_apps(self, user_id: uuid.UUID) -> list[AllowedApp]:
        with self._db.read() as session:
            rows = session.scalars(
                select(RememberedConsent).where(RememberedConsent.user_id == user_id)
            ).all()
        apps = []
        for row in rows:
            client = self.provider.clients.get(row.client_id)
            if client is not None:
                apps.append(
                    AllowedApp(client.client_id, client.name, scopes_of(row.scope), row.granted_at)
                )
        return sorted(apps, key=lambda a: a.name.lower())

    def revoke_app(self, current: CurrentSession, client_id: str) -> bool:
        """Forget a third party's consent and revoke every grant it holds for this user."""
        with self._db.transaction() as session:
            row = session.get(RememberedConsent, (current.user.id, client_id))
            if row is None:
                return False
            session.delete(row)
            grants = session.scalars(
                select(Grant).where(
                    Grant.user_id == current.user.id,
                    Grant.client_id == client_id,
                    Grant.revoked_at.is_(None),
                )
            ).all()
            for grant in grants:
                self.provider.store.revoke_grant(
                    session, grant.id, "consent_withdrawn", actor=Actor.user(current.user.id)
                )
            # One back-channel logout per session the client holds (at least one).
            for grant in {g.sid: g for g in grants}.values():
                self._logout.client_access_removed(session, grant)
            audit.record(
                session,
                "oidc.consent_withdrawn",
                actor=Actor.user(current.user.id),
                subject=Subject.user(current.user.id),
                details={"client_id": client_id, "grants_revoked": len(grants)},
            )
        return True

    def client(self, client_id: str | None) -> Client | None:
        return self.provider.clients.get(client_id)

    def client_continued_by(self, next_url: str) -> Client | None:
        """The registered sign-in client whose authorization ``next_url`` (a checked
        same-site path) continues, or None: the sign-in page names it and links back to its
        home page. Only the signed interaction of ``/authorize/resume`` or the ``client_id``
        of ``/authorize`` is read; the name and the link come from the registry, never from
        the request."""
        parts = urlsplit(next_url)
        query = parse_qs(parts.query)
        if parts.path == "/authorize/resume":
            interaction = self.interactions.load((query.get("interaction") or [""])[0])
            client_id = dict(interaction.params).get("client_id") if interaction else None
        elif parts.path == "/authorize":
            client_id = (query.get("client_id") or [None])[0]
        else:
            return None
        client = self.client(client_id)
        if client is None or "authorization_code" not in client.grant_types:
            return None
        return client
