"""Housekeeping: one pass deletes, table by table, the rows that can no longer answer anything
(:mod:`identity.housekeeping.rules` says which, and why each may go).

Each table is swept in batches of at most ``batch_size`` rows, one short transaction each, so
no pass holds a lock for long or makes a request wait behind it; on PostgreSQL rows that a live
request holds are skipped (``db.delete_batch``) and go in a later pass. Deleting is idempotent,
so a pass that stops half way (a restart, a lost connection) loses nothing.

``identity housekeeping run`` does one pass. Each server process also runs a thread that does a
pass every ``IDENTITY_HOUSEKEEPING_INTERVAL``; on PostgreSQL only the holder of an advisory lock
does (``db.Leadership``, as the audit sequencer), on SQLite each process takes its turn at the
write lock. A pass that deleted something is an audit entry (``housekeeping.ran``) with the
counts; so is every pass an operator runs.
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Callable, Mapping
from datetime import datetime

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from identity import audit
from identity.accounts.models import LoginThrottle
from identity.accounts.sessions import Sessions
from identity.audit.refs import SYSTEM, Actor
from identity.db import Database, Leadership, delete_batch, utcnow
from identity.housekeeping.rules import Cutoffs, Lifetimes, cutoffs
from identity.links.models import UsedLink
from identity.oidc.models import (
    AuthorizationCode,
    Grant,
    RefreshToken,
    RevokedAccessToken,
    UsedClientAssertion,
)
from identity.outbox.models import OutboxMessage
from identity.settings import Settings

log = logging.getLogger(__name__)

LEADER_LOCK = zlib.crc32(b"identity.housekeeping")  # the PostgreSQL advisory lock key
BATCH = 1000

Sweep = Callable[[Session, Cutoffs, int], int]
"""Delete at most ``limit`` rows of one kind in the caller's transaction; how many."""

Task = Callable[[datetime, int], int]
"""Another capability's expiry (``Linking.expire``): one batch of at most ``limit``, in a
transaction of its own; how many."""


def lifetimes(settings: Settings) -> Lifetimes:
    return Lifetimes(
        code_ttl=settings.code_ttl,
        longest_token_ttl=max(settings.access_token_ttl, settings.id_token_ttl),
        throttle_windows=(settings.login_failure_window, settings.mail_limit_window),
        outbox_retention=settings.outbox_retention,
    )


def _grant_ended(c: Cutoffs) -> ColumnElement[bool]:
    return (Grant.revoked_at < c.grants) | (Grant.expires_at < c.grants)


def _codes(s: Session, c: Cutoffs, limit: int) -> int:
    return delete_batch(s, AuthorizationCode.digest, AuthorizationCode.expires_at < c.codes, limit)


def _refresh_tokens(s: Session, c: Cutoffs, limit: int) -> int:
    # Before the grants, so deleting a grant never cascades to a long family of tokens.
    of_ended_grants = RefreshToken.grant_id.in_(select(Grant.id).where(_grant_ended(c)))
    dead = (RefreshToken.idle_expires_at < c.now) | of_ended_grants
    return delete_batch(s, RefreshToken.digest, dead, limit)


def _grants(s: Session, c: Cutoffs, limit: int) -> int:
    return delete_batch(s, Grant.id, _grant_ended(c), limit)


def _revoked_access_tokens(s: Session, c: Cutoffs, limit: int) -> int:
    return delete_batch(s, RevokedAccessToken.jti, RevokedAccessToken.expires_at < c.now, limit)


def _client_assertions(s: Session, c: Cutoffs, limit: int) -> int:
    expired = UsedClientAssertion.expires_at < c.now
    return delete_batch(s, UsedClientAssertion.digest, expired, limit)


def _used_links(s: Session, c: Cutoffs, limit: int) -> int:
    return delete_batch(s, UsedLink.link_id_hash, UsedLink.expires_at < c.now, limit)


def _throttles(s: Session, c: Cutoffs, limit: int) -> int:
    unlocked = LoginThrottle.locked_until.is_(None) | (LoginThrottle.locked_until <= c.now)
    stale = (LoginThrottle.window_started_at <= c.throttles) & unlocked
    return delete_batch(s, LoginThrottle.key, stale, limit)


def _outbox(s: Session, c: Cutoffs, limit: int) -> int:
    done = (OutboxMessage.delivered_at < c.outbox) | (OutboxMessage.failed_at < c.outbox)
    return delete_batch(s, OutboxMessage.id, done, limit)


class Housekeeping:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        sessions: Sessions,
        *,
        tasks: Mapping[str, Task] | None = None,
        batch_size: int = BATCH,
    ) -> None:
        self._db = db
        self._lifetimes = lifetimes(settings)
        self._interval = settings.housekeeping_interval.total_seconds()
        self._batch = batch_size
        # In this order: tokens before the grants they belong to.
        self._sweeps: dict[str, Sweep] = {
            "browser_sessions": lambda s, c, n: sessions.purge_expired(s, c.now, n),
            "authorization_codes": _codes,
            "refresh_tokens": _refresh_tokens,
            "grants": _grants,
            "revoked_access_tokens": _revoked_access_tokens,
            "client_assertions": _client_assertions,
            "used_links": _used_links,
            "throttles": _throttles,
            "outbox_messages": _outbox,
        }
        self._tasks = dict(tasks or {})
        self._leadership = Leadership(db, LEADER_LOCK)
        self._stop = threading.Event()
        self._passed = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, *, actor: Actor = SYSTEM) -> dict[str, int]:
        """One pass over every table; how many rows went from each."""
        now = utcnow()
        limits = cutoffs(now, self._lifetimes)
        counts = {name: self._sweep(sweep, limits) for name, sweep in self._sweeps.items()}
        counts.update({name: self._run_task(task, now) for name, task in self._tasks.items()})
        if any(counts.values()) or actor != SYSTEM:
            with self._db.transaction() as session:
                audit.record(session, "housekeeping.ran", actor=actor, details=counts)
            log.info("housekeeping: %s", ", ".join(f"{k} {v}" for k, v in counts.items() if v))
        return counts

    def _sweep(self, sweep: Sweep, limits: Cutoffs) -> int:
        total = 0
        while not self._stop.is_set():
            with self._db.transaction() as session:
                count = sweep(session, limits, self._batch)
            total += count
            if count < self._batch:
                break
        return total

    def _run_task(self, task: Task, now: datetime) -> int:
        total = 0
        while not self._stop.is_set():
            count = task(now, self._batch)
            total += count
            if count < self._batch:
                break
        return total

    # -- the background thread --------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="housekeeping", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self._leadership.release()

    def wait_for_pass(self, timeout: float) -> bool:
        """Whether the background thread finished a pass (within ``timeout`` seconds)."""
        return self._passed.wait(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._leadership.held():
                    self.run_once()
                    self._passed.set()
            except Exception:  # the database may be briefly unavailable; keep the loop alive
                log.exception("housekeeping pass failed")
            self._stop.wait(self._interval)
