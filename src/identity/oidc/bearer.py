"""The resource-server side: who is calling the ``/v1`` API, from their access token.

Access tokens are RFC 9068 JWTs; they are verified against the provider's own keys without a
database round trip. Services reuse one token for its whole lifetime, so verified tokens are
kept in a small in-process cache until they expire: a cache hit costs a dictionary lookup
instead of a signature check. Revocation of an access token is therefore not seen by the
``/v1`` API before the token expires (ten minutes by default); grants and clients can still
be cut off at the token endpoint.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from identity.errors import PermissionDenied, Unauthenticated
from identity.oidc.clients import Client, ClientRegistry
from identity.oidc.rules import scopes_of
from identity.oidc.tokens import InvalidToken, Tokens
from identity.subjects.service import Subjects

CACHE_SIZE = 10_000


class InvalidBearer(Unauthenticated):
    slug = "invalid-token"
    title = "Invalid or missing access token"

    @property
    def challenge(self) -> str:
        return 'Bearer error="invalid_token"'


class InsufficientScope(PermissionDenied):
    slug = "insufficient-scope"
    title = "The access token lacks the required scope"

    def __init__(self, scope: str) -> None:
        super().__init__(f"this call needs the {scope!r} scope", required_scope=scope)
        self.scope = scope

    @property
    def challenge(self) -> str:
        return f'Bearer error="insufficient_scope", scope="{self.scope}"'


@dataclass(frozen=True)
class Caller:
    """An authenticated API client; ``on_behalf_of`` is the ``sub`` of a user token."""

    client: Client
    scopes: frozenset[str]
    on_behalf_of: str | None

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise InsufficientScope(scope)


class BearerVerifier:
    def __init__(self, tokens: Tokens, clients: ClientRegistry, subjects: Subjects) -> None:
        self._tokens = tokens
        self._clients = clients
        self._subjects = subjects
        self._issuer = tokens.issuer
        self._cache: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def _claims(self, token: str) -> dict[str, Any]:
        now = time.time()
        with self._lock:
            cached = self._cache.get(token)
            if cached is not None:
                self._cache.move_to_end(token)
        if cached is not None and cached["exp"] > now:
            return cached
        try:
            claims = self._tokens.verify_access_token(token, audience=self._issuer)
        except InvalidToken as exc:
            raise InvalidBearer("the access token is invalid or expired") from exc
        with self._lock:
            self._cache[token] = claims
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return claims

    def caller(self, authorization: str | None) -> Caller:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidBearer("send 'Authorization: Bearer <access token>'")
        claims = self._claims(token.strip())
        client = self._clients.get(claims["client_id"])
        if client is None:
            raise InvalidBearer("the client of this token no longer exists")
        user_token = "grant_id" in claims
        return Caller(
            client=client,
            scopes=frozenset(scopes_of(claims.get("scope"))),
            on_behalf_of=claims["sub"] if user_token else None,
        )

    def resolve_subject(self, session: Session, caller: Caller, sub: str) -> uuid.UUID | None:
        """The account behind a subject id as this client knows it (pairwise or public)."""
        return self._subjects.resolve(session, caller.client, sub)

    def view_of(self, session: Session, caller: Caller, user_id: uuid.UUID) -> str:
        return self._subjects.peek(caller.client, user_id)
