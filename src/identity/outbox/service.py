"""Write messages in the caller's transaction; deliver them later, at least once.

Delivery claims a batch with a short *lease* (``next_attempt_at`` pushed forward and the
attempt counted) in one short transaction, sends the HTTP requests with no transaction open,
then records each outcome in another. A worker that dies mid-delivery loses nothing: the lease
expires and another worker picks the message up. Concurrent workers skip each other's rows
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serializes the claim).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from identity.db import Database, utcnow
from identity.outbox.destinations import DestinationRefused, Destinations
from identity.outbox.models import OutboxMessage
from identity.outbox.rules import delivered, gives_up, retry_delay
from identity.settings import Settings

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)


@dataclass(frozen=True)
class Rendered:
    body: bytes
    content_type: str
    headers: dict[str, str]


Renderer = Callable[[OutboxMessage], Rendered]


class Undeliverable(Exception):
    """Raised by a renderer when the message can never be delivered (its target is gone)."""


@dataclass(frozen=True)
class Attempt:
    message_id: int
    kind: str
    owner: str
    ok: bool
    status: int | None
    error: str | None


class Outbox:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
        destinations: Destinations | None = None,
    ) -> None:
        self._db = db
        self._settings = settings
        self._renderers: dict[str, Renderer] = {}
        self._pinned: set[str] = set()
        self.destinations = destinations or Destinations(settings.webhook_networks)
        self._transport = transport
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def register(self, kind: str, renderer: Renderer, *, public_only: bool = False) -> None:
        """How to turn a stored message of ``kind`` into a request body at delivery time.

        ``public_only``: the targets are chosen by API clients, not operators, so each
        delivery is checked and pinned by :class:`Destinations` (see there)."""
        self._renderers[kind] = renderer
        if public_only:
            self._pinned.add(kind)

    def enqueue(
        self,
        session: Session,
        *,
        kind: str,
        owner: str,
        target_url: str,
        payload: dict[str, Any],
        content_type: str = "application/json",
        ref: str | None = None,
    ) -> OutboxMessage:
        """Add a message as part of the caller's transaction (it exists iff that commits)."""
        now = utcnow()
        message = OutboxMessage(
            kind=kind,
            owner=owner,
            ref=ref,
            target_url=target_url,
            body=json.dumps(payload, separators=(",", ":")),
            content_type=content_type,
            headers_json="{}",
            created_at=now,
            next_attempt_at=now,
            attempts=0,
        )
        session.add(message)
        session.flush()
        # Wake the worker once the message is committed (before, it could not see it).
        event.listen(session, "after_commit", lambda _s: self._wake.set(), once=True)
        return message

    # -- delivery -----------------------------------------------------------------------

    def _claim(self, limit: int) -> list[OutboxMessage]:
        now = utcnow()
        with self._db.transaction() as session:
            query = (
                select(OutboxMessage)
                .where(
                    OutboxMessage.delivered_at.is_(None),
                    OutboxMessage.failed_at.is_(None),
                    OutboxMessage.next_attempt_at <= now,
                )
                .order_by(OutboxMessage.id)
                .limit(limit)
            )
            if self._db.dialect == "postgresql":
                query = query.with_for_update(skip_locked=True)
            messages = list(session.scalars(query))
            for m in messages:
                m.attempts += 1
                m.next_attempt_at = now + LEASE
            session.flush()
            session.expunge_all()
        return messages

    def deliver_due(self, limit: int = 50) -> list[Attempt]:
        """Deliver what is due now; returns what happened to each message."""
        messages = self._claim(limit)
        if not messages:
            return []
        attempts = []
        with httpx.Client(
            transport=self._transport,
            timeout=self._settings.outbox_timeout,
            follow_redirects=False,
        ) as http:
            for message in messages:
                attempts.append(self._send(http, message))
        self._settle(attempts)
        return attempts

    def _send(self, http: httpx.Client, message: OutboxMessage) -> Attempt:
        renderer = self._renderers.get(message.kind)
        if renderer is None:
            return Attempt(message.id, message.kind, message.owner, False, None, "no renderer")
        url, headers, extensions = message.target_url, {}, {}
        try:
            if message.kind in self._pinned:
                destination = self.destinations.check(message.target_url)
                url, headers = destination.url, {"host": destination.host_header}
                if destination.sni_hostname:
                    extensions = {"sni_hostname": destination.sni_hostname}
            rendered = renderer(message)
            response = http.post(
                url,
                content=rendered.body,
                headers={**headers, "content-type": rendered.content_type, **rendered.headers},
                extensions=extensions,
            )
        except DestinationRefused as exc:
            error = f"{'undeliverable' if exc.permanent else 'refused'}: the target {exc.reason}"
            return Attempt(message.id, message.kind, message.owner, False, None, error)
        except Undeliverable as exc:
            return Attempt(
                message.id, message.kind, message.owner, False, None, f"undeliverable: {exc}"
            )
        except httpx.HTTPError:
            # No network detail (refused, reset, timed out): that would make a port scanner.
            return Attempt(message.id, message.kind, message.owner, False, None, "no response")
        except Exception as exc:  # a renderer bug must not stop the other deliveries
            log.exception("outbox message %s could not be rendered", message.id)
            return Attempt(message.id, message.kind, message.owner, False, None, type(exc).__name__)
        ok = delivered(response.status_code)
        return Attempt(
            message.id,
            message.kind,
            message.owner,
            ok,
            response.status_code,
            None if ok else f"HTTP {response.status_code}",
        )

    def _settle(self, attempts: list[Attempt]) -> None:
        now = utcnow()
        s = self._settings
        with self._db.transaction() as session:
            for attempt in attempts:
                message = session.get(OutboxMessage, attempt.message_id)
                if message is None:
                    continue
                if attempt.ok:
                    message.delivered_at = now
                    message.last_error = None
                    continue
                message.last_error = (attempt.error or "failed")[:500]
                if (attempt.error and attempt.error.startswith("undeliverable")) or gives_up(
                    message.attempts, s.outbox_max_attempts
                ):
                    message.failed_at = now
                    log.warning(
                        "outbox: giving up on message %s (%s to %s) after %s attempts",
                        message.id,
                        message.kind,
                        message.owner,
                        message.attempts,
                    )
                else:
                    message.next_attempt_at = now + retry_delay(
                        message.attempts, base=s.outbox_retry_base, cap=s.outbox_retry_max
                    )

    # -- the background worker ------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="outbox", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        interval = self._settings.outbox_poll_interval.total_seconds()
        while not self._stop.is_set():
            try:
                self.deliver_due()
            except Exception:  # the database may be briefly unavailable; keep the loop alive
                log.exception("outbox delivery round failed")
            self._wake.wait(interval)
            self._wake.clear()
