"""An operator's lifecycle of clients: list, disable and enable, delete, reset and revoke the
secret (``identity clients ...``). Every change is one transaction with its audit entry.

* **Disabled** is a pause: the client cannot authorize, authenticate or get tokens (every
  lookup treats it as unknown: ``invalid_client``, RFC 6749 §5.2), its tokens introspect
  inactive and the ``/v1`` API refuses them, webhooks are not sent to it. Its grants are
  kept, so enabling it resumes its users' sessions and refresh tokens. A client whose
  credentials may have leaked needs ``reset-secret`` (or ``delete``) as well.
* **Deleted** is for good: disabled, its secret and keys erased, every grant revoked (in
  batches, after the client is already unusable), the consents customers gave it forgotten,
  its webhook subscriptions ended and its undelivered messages dropped. The row stays as a
  tombstone: audit entries, consent records and anonymous ids name the client by id, so the
  id must never pass to another client.

Other processes see a change within ``clients.CACHE_SECONDS``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from identity import audit
from identity.audit.refs import Actor, Subject
from identity.db import Database, utcnow
from identity.errors import Conflict, InvalidInput, NotFound
from identity.oidc.clients import ClientRegistry
from identity.oidc.models import OAuthClient, RememberedConsent
from identity.oidc.registration import SECRET_AUTH_METHODS
from identity.oidc.store import GrantStore
from identity.outbox.models import OutboxMessage

REVOKE_BATCH = 1000


class ClientRemovedListener(Protocol):
    def __call__(self, session: Session, client_id: str) -> int:
        """Called in the transaction that deletes a client: end what the listener keeps for
        it; returns how many (for the audit entry)."""


@dataclass(frozen=True, slots=True)
class ClientListing:
    """A client as operators see it: never its secret or its digest."""

    client_id: str
    name: str
    status: str  # active | disabled | deleted
    auth_method: str
    has_secret: bool
    grant_types: list[str]
    first_party: bool
    subject_type: str
    created_at: datetime
    disabled_at: datetime | None
    deleted_at: datetime | None

    @classmethod
    def of(cls, row: OAuthClient) -> ClientListing:
        status = "deleted" if row.deleted_at else "disabled" if row.disabled_at else "active"
        return cls(
            client_id=row.client_id,
            name=row.name,
            status=status,
            auth_method=row.auth_method,
            has_secret=row.secret_digest is not None,
            grant_types=list(row.grant_types),
            first_party=row.first_party,
            subject_type=row.subject_type,
            created_at=row.created_at,
            disabled_at=row.disabled_at,
            deleted_at=row.deleted_at,
        )

    def as_json(self) -> dict[str, Any]:
        return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(self).items()}


@dataclass(frozen=True, slots=True)
class DeletedClient:
    client_id: str
    grants_revoked: int
    consents_forgotten: int
    messages_dropped: int
    subscriptions_ended: int


class ClientAdmin:
    def __init__(
        self,
        db: Database,
        registry: ClientRegistry,
        store: GrantStore,
        *,
        removed_listeners: Sequence[ClientRemovedListener] = (),
    ) -> None:
        self._db = db
        self._registry = registry
        self._store = store
        self._removed_listeners = tuple(removed_listeners)

    def listing(self, *, actor: Actor) -> list[ClientListing]:
        """Every client, deleted ones included (clients are counted in tens, not millions);
        the listing is an audit entry (``client.listed``)."""
        with self._db.transaction() as session:
            rows = session.scalars(select(OAuthClient).order_by(OAuthClient.client_id))
            listing = [ClientListing.of(r) for r in rows]
            audit.record(session, "client.listed", actor=actor, details={"count": len(listing)})
        return listing

    @staticmethod
    def _locked(session: Session, client_id: str) -> OAuthClient | None:
        if len(client_id) > 64:
            return None
        return session.get(OAuthClient, client_id, with_for_update=True)

    def _row(self, session: Session, client_id: str) -> OAuthClient:
        """The client's row, locked; deleted clients are gone for every use but the tombstone."""
        row = self._locked(session, client_id)
        if row is None or row.deleted_at is not None:
            raise NotFound(f"no client {client_id}")
        return row

    def disable(self, client_id: str, *, actor: Actor, reason: str | None = None) -> ClientListing:
        with self._db.transaction() as session:
            row = self._row(session, client_id)
            if row.disabled_at is not None:
                raise Conflict(
                    f"{client_id} is disabled already (since {row.disabled_at:%Y-%m-%d %H:%M} UTC)"
                )
            row.disabled_at = utcnow()
            audit.record(
                session,
                "client.disabled",
                actor=actor,
                subject=Subject.client(client_id),
                details={"reason": reason} if reason else {},
            )
            listing = ClientListing.of(row)
        self._registry.invalidate()
        return listing

    def enable(self, client_id: str, *, actor: Actor) -> ClientListing:
        with self._db.transaction() as session:
            row = self._row(session, client_id)
            if row.disabled_at is None:
                raise Conflict(f"{client_id} is not disabled")
            row.disabled_at = None
            audit.record(session, "client.enabled", actor=actor, subject=Subject.client(client_id))
            listing = ClientListing.of(row)
        self._registry.invalidate()
        return listing

    def revoke_secret(self, client_id: str, *, actor: Actor) -> None:
        """The client can no longer authenticate with a secret (``reset-secret`` gives it a
        new one). Its refresh tokens need that authentication, so they stop working too."""
        with self._db.transaction() as session:
            row = self._row(session, client_id)
            if row.auth_method not in SECRET_AUTH_METHODS:
                raise InvalidInput(f"{client_id} does not authenticate with a secret")
            if row.secret_digest is None:
                raise Conflict(f"{client_id} has no secret to revoke")
            row.secret_digest = None
            audit.record(
                session, "client.secret_revoked", actor=actor, subject=Subject.client(client_id)
            )
        self._registry.invalidate()

    def reset_secret(self, client_id: str, *, actor: Actor) -> str:
        """A new secret, returned once; only its digest is stored."""
        return self._registry.reset_secret(client_id, actor=actor)

    def delete(self, client_id: str, *, actor: Actor) -> DeletedClient:
        """Delete a client: first made unusable, in one transaction; then its grants are
        revoked in batches (a crash in between leaves only grants no one can use, and running
        ``delete`` again finishes; it is refused only for an unknown id)."""
        with self._db.transaction() as session:
            row = self._locked(session, client_id)
            if row is None:
                raise NotFound(f"no client {client_id}")
            first = row.deleted_at is None
            counts = self._tombstone(session, row)
            audit.record(
                session,
                "client.deleted" if first else "client.deletion_resumed",
                actor=actor,
                subject=Subject.client(client_id),
                details=counts,
            )
        self._registry.invalidate()
        revoked = 0
        while True:
            with self._db.transaction() as session:
                batch = self._store.revoke_grants(
                    session,
                    client_id=client_id,
                    reason="client_deleted",
                    actor=actor,
                    limit=REVOKE_BATCH,
                )
            revoked += batch
            if batch < REVOKE_BATCH:
                break
        return DeletedClient(client_id, revoked, **counts)

    def _tombstone(self, session: Session, row: OAuthClient) -> dict[str, int]:
        """Mark the row deleted, erase its credentials, and end what others keep for it."""
        now, client_id = utcnow(), row.client_id
        row.deleted_at = row.deleted_at or now
        row.disabled_at = row.disabled_at or now
        row.secret_digest, row.jwks = None, None
        forgotten = session.execute(
            delete(RememberedConsent).where(RememberedConsent.client_id == client_id)
        ).rowcount
        dropped = session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.owner == client_id,
                OutboxMessage.delivered_at.is_(None),
                OutboxMessage.failed_at.is_(None),
            )
            .values(failed_at=now, last_error="undeliverable: the client was deleted")
        ).rowcount
        return {
            "consents_forgotten": int(forgotten or 0),
            "messages_dropped": int(dropped or 0),
            "subscriptions_ended": sum(
                listener(session, client_id) for listener in self._removed_listeners
            ),
        }
