"""Access tokens (RFC 9068 JWTs), refresh tokens (opaque), and verification of our own JWTs.

Access tokens are signed with the provider key of ``signing_alg``; resource servers (the
``/v1`` API among them) verify them against ``/jwks`` without a database round trip. The
provider's own endpoints (userinfo, introspection) additionally check that the grant behind a
token was not revoked.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from identity.crypto import new_token
from identity.oidc.clients import Client
from identity.oidc.keys import KeyStore
from identity.settings import Settings

ACCESS_TOKEN_TYPE = "at+jwt"
LOGOUT_TOKEN_TYPE = "logout+jwt"
ALGORITHMS = ["RS256", "ES256"]
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


@dataclass(frozen=True)
class Principal:
    """The signed-in user behind a grant, as one client sees them.

    Authlib passes this object around as "the user"; it carries what the tokens need.
    """

    user_id: uuid.UUID
    sub: str
    profile: dict[str, Any]
    grant_id: uuid.UUID
    sid: str | None
    auth_time: datetime
    amr: tuple[str, ...]
    acr: str | None
    resource: str | None = None
    nonce: str | None = field(default=None, compare=False)

    def get_user_id(self) -> str:
        return self.sub


class InvalidToken(Exception):
    pass


class NotAnIdToken(InvalidToken):
    """Signed by us, but another kind of token (access or logout token): never a hint."""


class Tokens:
    def __init__(self, settings: Settings, keys: KeyStore) -> None:
        self._settings = settings
        self._keys = keys
        self.issuer = settings.issuer

    def access_token(
        self, *, client: Client, principal: Principal | None, scope: str, resource: str | None
    ) -> str:
        now = int(time.time())
        audience = resource or (principal.resource if principal else None) or self.issuer
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": principal.sub if principal else client.client_id,
            "aud": audience,
            "client_id": client.client_id,
            "iat": now,
            "exp": now + int(self._settings.access_token_ttl.total_seconds()),
            "jti": new_token(16),
            "scope": scope,
        }
        if principal is not None:
            claims["auth_time"] = int(principal.auth_time.timestamp())
            claims["grant_id"] = str(principal.grant_id)
            if principal.acr:
                claims["acr"] = principal.acr
            if principal.amr:
                claims["amr"] = list(principal.amr)
        key = self._keys.signing_key(self._settings.signing_alg.value)
        return jwt.encode({"alg": key.alg, "kid": key.kid, "typ": ACCESS_TOKEN_TYPE}, claims, key)

    def refresh_token(self) -> str:
        return new_token(32)

    def verify_access_token(self, token: str, *, audience: str | None = None) -> dict[str, Any]:
        """Claims of a valid, unexpired access token issued by us (raises InvalidToken)."""
        claims, header = self._decode(token, self._keys.public_keyset())
        if header.get("typ") != ACCESS_TOKEN_TYPE:
            raise InvalidToken("not an access token")
        registry = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": self.issuer},
            exp={"essential": True},
            sub={"essential": True},
            client_id={"essential": True},
            jti={"essential": True},
            **({"aud": {"essential": True, "value": audience}} if audience else {}),
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise InvalidToken(exc.error) from exc
        return claims

    def verify_id_token(self, token: str, *, allow_expired: bool = True) -> dict[str, Any]:
        """Claims of an ID token we issued (``id_token_hint``: expiry is tolerated).

        Hints come back long after their key left ``/jwks``, so the signature is checked
        against every token key we still hold (:meth:`KeyStore.held_keyset`). Our access
        tokens (``at+jwt``) and logout tokens (``logout+jwt``) are signed with the same keys,
        so the signature alone does not make an ID token: they raise :class:`NotAnIdToken`.
        ID tokens are the only tokens we sign with a ``JWT`` type."""
        claims, header = self._decode(token, self._keys.held_keyset())
        if header.get("typ") not in (None, "JWT") or "events" in claims:
            raise NotAnIdToken("not an ID token")
        if claims.get("iss") != self.issuer:
            raise InvalidToken("issued by someone else")
        if not isinstance(claims.get("sub"), str) or "aud" not in claims:
            raise NotAnIdToken("not an ID token")
        if not allow_expired and int(claims.get("exp", 0)) < time.time():
            raise InvalidToken("expired")
        return claims

    def logout_token(self, *, client: Client, sub: str, sid: str | None) -> str:
        """An OpenID Connect Back-Channel Logout 1.0 logout token (§2.4), signed now."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": client.client_id,
            "iat": now,
            "exp": now + 120,
            "jti": new_token(16),
            "sub": sub,
            "events": {BACKCHANNEL_EVENT: {}},
        }
        if sid:
            claims["sid"] = sid
        key = self._keys.signing_key(client.id_token_alg)
        return jwt.encode({"alg": key.alg, "kid": key.kid, "typ": LOGOUT_TOKEN_TYPE}, claims, key)

    def _decode(self, token: str, keys: KeySet) -> tuple[dict[str, Any], dict[str, Any]]:
        if not isinstance(token, str) or token.count(".") != 2 or len(token) > 8000:
            raise InvalidToken("malformed")
        try:
            decoded = jwt.decode(token, keys, algorithms=ALGORITHMS)
        except (JoseError, ValueError) as exc:
            raise InvalidToken("bad signature or format") from exc
        return dict(decoded.claims), dict(decoded.header)
