"""Webhooks for service clients, signed the Standard Webhooks way and delivered through the
outbox (at least once, with retries and backoff).

Events: ``consent.changed`` (a record placed in the feed) and ``subject.erased`` (an account
erased, :meth:`Webhooks.subject_erased`). Headers: ``webhook-id`` (stable across retries, so
receivers can deduplicate), ``webhook-timestamp`` (seconds, set at each attempt) and
``webhook-signature``:
``v1,`` + base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}")). The secret is shown once when
the subscription is created (``whsec_`` + base64); it is stored encrypted, because signing
needs it in clear.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography.fernet import Fernet
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from identity import audit
from identity.audit.refs import Actor, Subject
from identity.consent.decisions import READ
from identity.consent.ledger import RecordView
from identity.consent.models import WebhookSubscription
from identity.consent.policy import Catalog
from identity.crypto import derive_key
from identity.db import Database, rfc3339, utcnow
from identity.errors import InvalidInput, NotFound
from identity.oidc.bearer import Caller
from identity.oidc.clients import Client, ClientRegistry
from identity.outbox.destinations import DestinationRefused
from identity.outbox.models import OutboxMessage
from identity.outbox.service import Outbox, Rendered, Undeliverable
from identity.subjects.service import Subjects

KIND = "webhook"
SECRET_PREFIX = "whsec_"


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


@dataclass(frozen=True)
class Subscription:
    id: str
    url: str
    purposes: list[str]
    created_at: datetime

    @classmethod
    def of(cls, row: WebhookSubscription) -> Subscription:
        return cls(str(row.id), row.url, list(row.purposes), row.created_at)


@dataclass(frozen=True)
class NewSubscription:
    subscription: Subscription
    secret: str  # shown once


@dataclass(frozen=True)
class Delivery:
    id: int
    event_id: str
    created_at: datetime
    attempts: int
    delivered_at: datetime | None
    failed_at: datetime | None
    next_attempt_at: datetime
    last_error: str | None


class Webhooks:
    def __init__(
        self,
        *,
        db: Database,
        secret: bytes,
        outbox: Outbox,
        clients: ClientRegistry,
        subjects: Subjects,
        catalog: Catalog,
    ) -> None:
        self._db = db
        self._catalog = catalog
        self._fernet = Fernet(base64.urlsafe_b64encode(derive_key(secret, "identity.webhooks")))
        self._outbox = outbox
        self._clients = clients
        self._subjects = subjects

    # -- subscriptions -----------------------------------------------------------------------

    def subscribe(self, caller: Caller, url: str, purposes: list[str]) -> NewSubscription:
        """A subscription of the caller's (``consent:read``) to changes of ``purposes``."""
        caller.require(READ)
        client = caller.client
        for purpose in purposes:
            self._catalog.require(purpose)
        try:
            self._outbox.destinations.check(url)  # resolved now and again at each delivery
        except DestinationRefused as exc:
            raise InvalidInput(f"url {exc.reason}", field="url") from exc
        secret = SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
        row = WebhookSubscription(
            id=uuid.uuid4(),
            client_id=client.client_id,
            url=url,
            secret_encrypted=self._fernet.encrypt(secret.encode()).decode(),
            purposes=sorted(set(purposes)),
            created_at=utcnow(),
        )
        with self._db.transaction() as session:
            session.add(row)
            session.flush()
            audit.record(
                session,
                "webhook.subscribed",
                actor=Actor.client(client.client_id),
                subject=Subject.client(client.client_id),
                details={"subscription": str(row.id), "purposes": row.purposes},
            )
        return NewSubscription(Subscription.of(row), secret)

    def subscriptions(self, caller: Caller) -> list[Subscription]:
        caller.require(READ)
        with self._db.read() as session:
            rows = session.scalars(
                select(WebhookSubscription)
                .where(
                    WebhookSubscription.client_id == caller.client.client_id,
                    WebhookSubscription.disabled_at.is_(None),
                )
                .order_by(WebhookSubscription.created_at)
            )
            return [Subscription.of(r) for r in rows]

    def _own(self, session: Session, client: Client, subscription_id: str) -> WebhookSubscription:
        try:
            row = session.get(WebhookSubscription, uuid.UUID(subscription_id))
        except ValueError:
            row = None
        if row is None or row.client_id != client.client_id or row.disabled_at is not None:
            raise NotFound("no such subscription")
        return row

    def unsubscribe(self, caller: Caller, subscription_id: str) -> None:
        caller.require(READ)
        client = caller.client
        with self._db.transaction() as session:
            row = self._own(session, client, subscription_id)
            row.disabled_at = utcnow()
            audit.record(
                session,
                "webhook.unsubscribed",
                actor=Actor.client(client.client_id),
                subject=Subject.client(client.client_id),
                details={"subscription": subscription_id},
            )

    def client_removed(self, session: Session, client_id: str) -> int:
        """End a deleted client's subscriptions (in the transaction that deletes it)."""
        result = session.execute(
            update(WebhookSubscription)
            .where(
                WebhookSubscription.client_id == client_id,
                WebhookSubscription.disabled_at.is_(None),
            )
            .values(disabled_at=utcnow())
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def deliveries(self, caller: Caller, subscription_id: str, limit: int = 100) -> list[Delivery]:
        caller.require(READ)
        with self._db.read() as session:
            self._own(session, caller.client, subscription_id)
            rows = session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.kind == KIND, OutboxMessage.ref == subscription_id)
                .order_by(OutboxMessage.id.desc())
                .limit(limit)
            )
            return [
                Delivery(
                    r.id,
                    f"msg_{r.id}",
                    r.created_at,
                    r.attempts,
                    r.delivered_at,
                    r.failed_at,
                    r.next_attempt_at,
                    r.last_error,
                )
                for r in rows
            ]

    # -- events ------------------------------------------------------------------------------

    def on_feed(self, session: Session, records: Sequence[RecordView]) -> None:
        """Queue one message per interested subscription and record, in feed order, in the
        transaction that gives the records their feed position (so a webhook's ``cursor`` is
        always set and deliveries follow the feed)."""
        subscriptions = session.scalars(
            select(WebhookSubscription).where(WebhookSubscription.disabled_at.is_(None))
        ).all()
        for record in records:
            self._enqueue(session, subscriptions, record)

    def _enqueue(
        self, session: Session, subscriptions: Sequence[WebhookSubscription], record: RecordView
    ) -> None:
        for subscription in subscriptions:
            if subscription.purposes and record.purpose not in subscription.purposes:
                continue
            client = self._clients.get(subscription.client_id)
            if client is None:
                continue
            subject = self._subject_for(session, client, record.subject)
            if subject is None:
                continue
            self._outbox.enqueue(
                session,
                kind=KIND,
                owner=client.client_id,
                ref=str(subscription.id),
                target_url=subscription.url,
                payload={
                    "type": "consent.changed",
                    "timestamp": rfc3339(record.recorded_at),
                    "data": {
                        "subject": subject,
                        "purpose": record.purpose,
                        "purpose_version": record.purpose_version,
                        "decision": record.decision,
                        "status": "pending" if record.pending else record.decision,
                        "source": record.source,
                        "record_id": record.id,
                        "cursor": record.cursor,
                    },
                },
            )

    def subject_erased(
        self,
        session: Session,
        user_id: uuid.UUID,
        anonymous: Mapping[str, Sequence[str]],
        at: datetime,
    ) -> int:
        """Queue ``subject.erased`` to every active subscription, whatever its purposes, naming
        the customer as its client knows them, in the erasure's transaction (before the
        pairwise aliases go). A pairwise client the customer never signed in to is not told:
        the message would introduce them. ``anonymous``: client id -> the anonymous ids of
        that client's that were linked to the account (now linked to nobody). Returns how
        many messages were queued."""
        queued = 0
        subscriptions = session.scalars(
            select(WebhookSubscription)
            .where(WebhookSubscription.disabled_at.is_(None))
            .order_by(WebhookSubscription.created_at)
        ).all()
        for subscription in subscriptions:
            client = self._clients.get(subscription.client_id)
            subject = self._subjects.known_to(session, client, user_id) if client else None
            if client is None or subject is None:
                continue
            self._outbox.enqueue(
                session,
                kind=KIND,
                owner=client.client_id,
                ref=str(subscription.id),
                target_url=subscription.url,
                payload={
                    "type": "subject.erased",
                    "timestamp": rfc3339(at),
                    "data": {
                        "subject": subject,
                        "unlinked_anonymous": list(anonymous.get(client.client_id, ())),
                    },
                },
            )
            queued += 1
        return queued

    def _subject_for(self, session: Session, client: Client, subject: str) -> str | None:
        """The subject as ``client`` already knows it; None for a customer who never signed
        in to a pairwise client (a webhook must not introduce them) and for another client's
        anonymous visitor."""
        return self._subjects.name_for(session, client, subject)

    def render(self, message: OutboxMessage) -> Rendered:
        """The outbox renderer of webhook messages: signed at each attempt."""
        with self._db.read() as session:
            subscription = session.get(WebhookSubscription, uuid.UUID(str(message.ref)))
        if subscription is None or subscription.disabled_at is not None:
            raise Undeliverable("the subscription was removed")
        if self._clients.get(subscription.client_id) is None:
            raise Undeliverable("the client is disabled")  # nothing more reaches it
        secret = self._fernet.decrypt(subscription.secret_encrypted.encode()).decode()
        body = message.body.encode()
        message_id = f"msg_{message.id}"
        timestamp = int(time.time())
        return Rendered(
            body,
            "application/json",
            {
                "webhook-id": message_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(secret, message_id, timestamp, body),
            },
        )
