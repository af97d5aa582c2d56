"""The hot path: answering ``GET /v1/consents/{subject}/{purpose}`` and batches.

Every downstream service asks before every action, so this path is built to cost about as much
as the health check:

* the route is ``async`` and answers inline: no thread-pool hop, no dependency injection;
* the access token is checked through the verifier's in-process cache (one dict lookup for a
  token seen before);
* one indexed query fetches the account and its current-state row together, so "unknown
  customer" and "never asked" are told apart in a single round trip;
* the answer is built as a dict and serialised once, without a response-model pass.

This is the one place that speaks SQL to the driver directly (:class:`HotConnection`):
measured, SQLAlchemy's per-call connection checkout, ``BEGIN`` and reset cost several times
the lookup itself. The connection is long-lived, per thread, in autocommit mode, so every query
sees the latest committed state: there is no cache of answers, and a withdrawal is visible to
the very next query on any worker. The query runs on the event loop: it is a primary-key lookup
(tens of microseconds on SQLite, one round trip on PostgreSQL), cheaper than a thread hop.
The decision API tests run through this path on both databases, so it cannot drift from the
models unnoticed.
"""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from identity.consent.access import READ
from identity.consent.policy import Purpose
from identity.consent.rules import Answer, State, decide
from identity.consent.service import ConsentService, UnknownSubject
from identity.db import Database, utcnow
from identity.errors import InvalidInput
from identity.oidc.bearer import BearerVerifier, Caller
from identity.oidc.models import SubjectAlias


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def dumps(value: Any) -> bytes:
    return json.dumps(value, default=_json_default, separators=(",", ":")).encode()


class HotConnection:
    """A long-lived autocommit DBAPI connection per thread, re-opened after a failure."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._local = threading.local()
        self._opened: list[Any] = []
        self._lock = threading.Lock()
        self.sqlite = db.dialect == "sqlite"
        self.mark = "?" if self.sqlite else "%s"

    def _connection(self) -> Any:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            proxied = self._db.engine.raw_connection()
            connection = proxied.driver_connection
            proxied.detach()  # ours for the thread's lifetime, not the pool's
            if not self.sqlite:
                connection.autocommit = True  # each statement sees the latest commits
            self._local.connection = connection
            with self._lock:
                self._opened.append(connection)
        return connection

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
        for connection in opened:
            with contextlib.suppress(Exception):
                connection.close()

    def fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        for attempt in (1, 2):
            connection = self._connection()
            try:
                cursor = connection.cursor()
                try:
                    cursor.execute(sql, params)
                    return list(cursor.fetchall())
                finally:
                    cursor.close()
            except Exception:
                # A dropped server connection: forget it and try once more on a new one.
                self._local.connection = None
                with contextlib.suppress(Exception):
                    connection.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def uuid_param(self, value: uuid.UUID) -> Any:
        return value.hex if self.sqlite else value  # SQLAlchemy's Uuid stores hex on SQLite

    def id_param(self, key: str) -> str:
        """An account id (canonical text) as the ``user_account.id`` column holds it."""
        return key.replace("-", "") if self.sqlite else key

    def id_result(self, value: Any) -> str:
        """The inverse of :meth:`id_param` for what the driver returns."""
        return value if isinstance(value, str) else str(value)

    @staticmethod
    def moment(value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite: naive UTC text (see identity.db.UTCDateTime)
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class DecisionReader:
    def __init__(self, *, db: Database, consents: ConsentService, bearer: BearerVerifier) -> None:
        self._db = db
        self._consents = consents
        self._bearer = bearer
        self._hot = HotConnection(db)
        m = self._hot.mark
        self._one_sql = (
            "SELECT u.id, s.status, s.purpose_version, s.decided_at, s.expires_at, s.record_id,"
            " s.source FROM user_account u LEFT JOIN consent_state s"
            f" ON s.subject = {m} AND s.purpose = {m} WHERE u.id = {m}"
        )

    def close(self) -> None:
        self._hot.close()

    def _state(self, row: Sequence[Any]) -> State | None:
        if row[0] is None:
            return None
        moment = self._hot.moment
        return State(row[0], row[1], moment(row[2]), moment(row[3]), row[4], row[5])  # type: ignore[arg-type]

    # -- subjects --------------------------------------------------------------------------

    def _pairwise_keys(self, caller: Caller, subs: Sequence[str]) -> dict[str, str]:
        with self._db.engine.connect() as connection:
            rows = connection.execute(
                select(SubjectAlias.sub, SubjectAlias.user_id).where(
                    SubjectAlias.sector == caller.client.sector_identifier,
                    SubjectAlias.sub.in_(list(subs)),
                )
            ).all()
        return {sub: str(user_id) for sub, user_id in rows}

    # -- one decision -----------------------------------------------------------------------

    def one(self, authorization: str | None, subject: str, purpose_id: str) -> bytes:
        caller = self._bearer.caller(authorization)
        caller.require(READ)
        purpose = self._consents.purpose(purpose_id)
        if caller.client.pairwise and caller.client.sector_identifier:
            key = self._pairwise_keys(caller, [subject]).get(subject)
            if key is None:
                raise UnknownSubject("no customer with that subject id is known to this client")
        else:
            key = subject
        try:
            uid = uuid.UUID(key)
        except ValueError as exc:
            raise UnknownSubject(
                "no customer with that subject id is known to this client"
            ) from exc
        key = str(uid)
        rows = self._hot.fetch(self._one_sql, (key, purpose.id, self._hot.uuid_param(uid)))
        if not rows:
            raise UnknownSubject("no customer with that subject id is known to this client")
        state = self._state(rows[0][1:])
        return dumps(self._body(subject, key, purpose, decide(purpose, state, utcnow())))

    # -- many ------------------------------------------------------------------------------

    def many(
        self,
        authorization: str | None,
        subjects: Sequence[str],
        purpose_ids: Sequence[str],
        limit: int,
    ) -> bytes:
        caller = self._bearer.caller(authorization)
        caller.require(READ)
        unique = list(dict.fromkeys(subjects))
        if len(unique) > limit:
            raise InvalidInput(f"at most {limit} subjects per call")
        purposes = [self._consents.purpose(p) for p in dict.fromkeys(purpose_ids)]
        if caller.client.pairwise and caller.client.sector_identifier:
            keys = self._pairwise_keys(caller, unique)
        else:
            keys = {}
            for s in unique:
                try:
                    keys[s] = str(uuid.UUID(s))
                except ValueError:
                    continue
        hot = self._hot
        # Account ids go to the database in its own form once, and come back mapped by dict:
        # a thousand UUID round trips would cost more than the queries.
        wanted = {hot.id_param(key): key for key in set(keys.values())}
        existing: set[str] = set()
        rows: list[tuple[Any, ...]] = []
        if wanted:
            marks = ",".join([hot.mark] * len(wanted))
            found = hot.fetch(f"SELECT id FROM user_account WHERE id IN ({marks})", list(wanted))
            existing = {wanted[hot.id_result(r[0])] for r in found}
        if existing:
            subject_marks = ",".join([hot.mark] * len(existing))
            purpose_marks = ",".join([hot.mark] * len(purposes))
            rows = hot.fetch(
                "SELECT subject, purpose, status, purpose_version, decided_at, expires_at,"
                " record_id, source FROM consent_state"
                f" WHERE subject IN ({subject_marks}) AND purpose IN ({purpose_marks})",
                [*existing, *(p.id for p in purposes)],
            )
        states = {(r[0], r[1]): self._state(r[2:]) for r in rows}
        now = utcnow()
        decisions = []
        unknown = []
        for subject in unique:
            key = keys.get(subject)
            if key is None or key not in existing:
                unknown.append(subject)
                continue
            for purpose in purposes:
                answer = decide(purpose, states.get((key, purpose.id)), now)
                decisions.append(self._body(subject, key, purpose, answer))
        return dumps({"decisions": decisions, "unknown_subjects": unknown})

    def _body(self, subject: str, key: str, purpose: Purpose, answer: Answer) -> dict[str, Any]:
        return {
            "subject": subject,
            "purpose": purpose.id,
            "allowed": answer.allowed,
            "reason": answer.reason,
            "legal_basis": answer.legal_basis,
            "version": answer.version,
            "current_version": answer.current_version,
            "status": answer.status,
            "decided_at": answer.decided_at,
            "expires_at": answer.expires_at,
            "record_id": answer.record_id,
            "unsubscribe_url": (
                self._consents.unsubscribe_url(key, purpose.id)
                if purpose.channel and purpose.switchable
                else None
            ),
        }
