"""OAuth clients: registration (``identity clients create``) and the view Authlib talks to.

:class:`Client` implements Authlib's ``ClientMixin`` on a frozen snapshot of the row, so it
can be cached and shared between threads. Lookups are cached for a couple of seconds because
Authlib asks for the same client several times per token request; a disabled client therefore
stops working within ``CACHE_SECONDS``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from identity import audit
from identity.audit.refs import CLI, Actor, Subject
from identity.crypto import equals, new_token, token_digest
from identity.db import Database, utcnow
from identity.errors import Conflict, InvalidInput, NotFound
from identity.oidc.models import OAuthClient
from identity.oidc.registration import SECRET_AUTH_METHODS, ClientSpec, register
from identity.oidc.rules import (
    allowed_scope,
    redirect_uri_matches,
    redirect_uri_problem,
    sector_identifier,
)

CACHE_SECONDS = 2.0


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    secret_digest: str | None
    auth_method: str
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    scope: str
    application_type: str
    first_party: bool
    subject_type: str
    sector_identifier: str | None
    id_token_alg: str
    jwks: dict[str, Any] | None
    backchannel_logout_uri: str | None
    resources: tuple[str, ...]
    resource_server_for: tuple[str, ...] = ()
    resolve_purpose: str | None = None
    client_uri: str | None = None
    policy_uri: str | None = None
    client_metadata: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_row(cls, row: OAuthClient) -> Client:
        return cls(
            client_id=row.client_id,
            name=row.name,
            secret_digest=row.secret_digest,
            auth_method=row.auth_method,
            redirect_uris=tuple(row.redirect_uris),
            post_logout_redirect_uris=tuple(row.post_logout_redirect_uris),
            grant_types=tuple(row.grant_types),
            scope=row.scope,
            application_type=row.application_type,
            first_party=row.first_party,
            subject_type=row.subject_type,
            sector_identifier=row.sector_identifier,
            id_token_alg=row.id_token_alg,
            jwks=row.jwks,
            backchannel_logout_uri=row.backchannel_logout_uri,
            resources=tuple(row.resources),
            resource_server_for=tuple(row.resource_server_for or ()),
            resolve_purpose=row.resolve_purpose,
            client_uri=row.client_uri,
            policy_uri=row.policy_uri,
            client_metadata={"post_logout_redirect_uris": list(row.post_logout_redirect_uris)},
        )

    # -- Authlib ClientMixin --------------------------------------------------------------

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None  # OpenID Connect requires redirect_uri on every request

    def get_allowed_scope(self, scope: str | None) -> str:
        return allowed_scope(scope, self.scope)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri_matches(
            self.redirect_uris, redirect_uri, native=self.application_type == "native"
        )

    def check_client_secret(self, client_secret: str) -> bool:
        if self.secret_digest is None:
            return False
        return equals(token_digest(client_secret), self.secret_digest)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types

    # -- ours -------------------------------------------------------------------------------

    @property
    def id_token_signed_response_alg(self) -> str:
        return self.id_token_alg

    @property
    def is_public(self) -> bool:
        return self.auth_method == "none"

    @property
    def pairwise(self) -> bool:
        return self.subject_type == "pairwise"

    def public_keys(self) -> KeySet:
        return KeySet.import_key_set(self.jwks or {"keys": []})  # type: ignore[arg-type]


@dataclass(frozen=True)
class NewClient:
    client: Client
    client_secret: str | None


class ClientRegistry:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache: dict[str, tuple[float, Client]] = {}
        self._lock = threading.Lock()

    def get(self, client_id: str | None) -> Client | None:
        if not client_id or not isinstance(client_id, str) or len(client_id) > 64:
            return None
        if "\x00" in client_id:  # no client has one, and PostgreSQL cannot compare it
            return None
        hit = self._cache.get(client_id)
        if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
            return hit[1]
        with self._db.read() as session:
            row = session.get(OAuthClient, client_id)
            client = Client.from_row(row) if row is not None and row.disabled_at is None else None
        if client is not None:
            with self._lock:
                self._cache[client_id] = (time.monotonic(), client)
        return client

    def all(self) -> list[Client]:
        with self._db.read() as session:
            rows = session.scalars(select(OAuthClient).order_by(OAuthClient.client_id)).all()
            return [Client.from_row(r) for r in rows if r.disabled_at is None]

    def invalidate(self) -> None:
        with self._lock:
            self._cache.clear()

    def reset_secret(self, client_id: str, actor: Actor = CLI) -> str:
        """Issue a new secret for a client that authenticates with one (the old one stops
        working; a revoked one is replaced). Only its digest is kept: shown once."""
        secret = new_token(32)
        with self._db.transaction() as session:
            row = session.get(OAuthClient, client_id, with_for_update=True)
            if row is None or row.deleted_at is not None:
                raise NotFound(f"no client {client_id}")
            if row.auth_method not in SECRET_AUTH_METHODS:
                raise InvalidInput(f"{client_id} is not a client with a secret")
            row.secret_digest = token_digest(secret)
            audit.record(
                session, "client.secret_reset", actor=actor, subject=Subject.client(client_id)
            )
        self.invalidate()
        return secret

    def move_uris(
        self,
        client_id: str,
        *,
        redirect_uris: list[str],
        post_logout_redirect_uris: list[str],
        backchannel_logout_uri: str | None,
        actor: Actor = CLI,
    ) -> Client:
        """Point a client's redirect, post-logout and back-channel URIs somewhere else (the
        same rules as at registration; a pairwise client keeps its sector)."""
        with self._db.transaction() as session:
            row = session.get(OAuthClient, client_id)
            if row is None:
                raise InvalidInput(f"no client {client_id}")
            problems = [
                f"{uri}: {problem}"
                for uri in [*redirect_uris, *post_logout_redirect_uris]
                if (problem := redirect_uri_problem(uri, application_type=row.application_type))
            ]
            if row.subject_type == "pairwise" and row.sector_identifier is not None:
                try:
                    if sector_identifier(redirect_uris) != row.sector_identifier:
                        problems.append("a pairwise client's redirect URIs must keep its sector")
                except ValueError as exc:
                    problems.append(str(exc))
            if problems:
                raise InvalidInput("; ".join(problems))
            row.redirect_uris = list(redirect_uris)
            row.post_logout_redirect_uris = list(post_logout_redirect_uris)
            row.backchannel_logout_uri = backchannel_logout_uri
            audit.record(
                session,
                "client.updated",
                actor=actor,
                subject=Subject.client(client_id),
                details={"redirect_uris": list(redirect_uris)},
            )
            client = Client.from_row(row)
        self.invalidate()
        return client

    def create(self, *, actor: Actor = CLI, **fields: Any) -> NewClient:
        """Register a client (fields of :class:`ClientSpec`; raises InvalidRegistration);
        returns the secret once (only its digest is kept)."""
        registration = register(ClientSpec(**fields))
        spec = registration.spec
        client_id = spec.client_id or new_token(12)
        secret = new_token(32) if registration.issues_secret else None
        row = OAuthClient(
            client_id=client_id,
            name=spec.name.strip(),
            secret_digest=token_digest(secret) if secret else None,
            auth_method=spec.auth_method,
            redirect_uris=list(spec.redirect_uris),
            post_logout_redirect_uris=list(spec.post_logout_redirect_uris),
            grant_types=list(spec.grant_types),
            scope=registration.scope,
            application_type=registration.application_type,
            first_party=spec.first_party,
            subject_type=spec.subject_type,
            sector_identifier=registration.sector,
            id_token_alg=spec.id_token_alg,
            jwks=spec.jwks,
            backchannel_logout_uri=spec.backchannel_logout_uri,
            resources=list(spec.resources),
            resource_server_for=list(spec.resource_server_for),
            resolve_purpose=spec.resolve_purpose,
            client_uri=spec.client_uri,
            policy_uri=spec.policy_uri,
            created_at=utcnow(),
            disabled_at=None,
        )
        try:
            with self._db.transaction() as session:
                session.add(row)
                session.flush()
                audit.record(
                    session,
                    "client.created",
                    actor=actor,
                    subject=Subject.client(client_id),
                    details={
                        "name": row.name,
                        "auth_method": spec.auth_method,
                        "grant_types": list(spec.grant_types),
                        "first_party": spec.first_party,
                        "subject_type": spec.subject_type,
                    },
                )
        except IntegrityError as exc:
            raise Conflict(f"a client with id {client_id} already exists") from exc
        return NewClient(Client.from_row(row), secret)
