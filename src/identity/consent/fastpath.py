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

On PostgreSQL a lookup is a round trip to another process, which would stall the event loop
and costs more than the rest of the request. Single decisions are therefore *coalesced*
(:class:`Coalescer`): the lookups of the requests that arrive while one query is in flight
go to the database together, in one query, on an asynchronous connection
(:class:`AsyncLookups`). This is not a cache: every request's lookup starts after the request
arrived, so it sees every write committed before it was sent. Under load one round trip
serves many requests. SQLite's lookup is an in-process B-tree search, cheaper than the
scheduling, so it stays inline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import uuid
from collections.abc import Awaitable, Callable, Sequence, Sized
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from weakref import WeakKeyDictionary

import psycopg
from sqlalchemy import select

from identity.consent.access import READ
from identity.consent.policy import Purpose
from identity.consent.rules import verdict
from identity.consent.service import ConsentService, UnknownSubject
from identity.db import Database, rfc3339, utcnow
from identity.errors import InvalidInput
from identity.oidc.bearer import BearerVerifier, Caller
from identity.oidc.models import SubjectAlias

_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def account_key(subject: str) -> str | None:
    """The canonical account id a (non-pairwise) subject names, or None if it names none.

    Subjects are the ids we issue, already canonical: a regular expression accepts them at a
    fraction of ``uuid.UUID``'s cost, which matters a thousand times per batch; any other
    spelling ``uuid.UUID`` accepts (upper case, no dashes, braces) still works.
    """
    if _CANONICAL_UUID.fullmatch(subject):
        return subject
    try:
        return str(uuid.UUID(subject))
    except ValueError:
        return None


def _marks(values: Sized) -> str:
    return ",".join("?" * len(values))


_ENCODER = json.JSONEncoder(separators=(",", ":"))  # json.dumps would build one per call


def dumps(value: Any) -> bytes:
    return _ENCODER.encode(value).encode()


class HotConnection:
    """A long-lived autocommit DBAPI connection per thread, re-opened after a failure.

    It also speaks each driver's own forms, so rows are used as the driver returns them:
    times stay SQLite's fixed-width UTC text or PostgreSQL's UTC ``datetime`` and are
    compared and printed as such, with no per-row conversion to Python objects and back.
    """

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
                connection.execute(SESSION_SETUP)
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

    def id_param(self, key: str) -> str:
        """An account id (canonical text) as the ``user_account.id`` column holds it."""
        return key.replace("-", "") if self.sqlite else key

    def now_key(self, now: datetime) -> Any:
        """``now`` in the form the driver returns times in, so they compare directly."""
        now = now.astimezone(UTC)
        return now.replace(tzinfo=None).isoformat(" ", "microseconds") if self.sqlite else now

    def iso(self, value: Any) -> str | None:
        """A stored time as the whole API prints times: RFC 3339 in UTC with ``Z``, the
        fraction only when there is one (as pydantic writes them)."""
        if value is None:
            return None
        if self.sqlite:  # "YYYY-MM-DD HH:MM:SS.ffffff", always UTC (identity.db.UTCDateTime)
            return f"{value[:10]}T{value[11:].removesuffix('.000000')}Z"
        return rfc3339(value)


# Hot-path PostgreSQL sessions: times come back in UTC; and the statements here are
# fixed-shape key lookups, so one plan serves every parameter value (re-planning per call
# cost more than the lookup).
SESSION_SETUP = "SET TIME ZONE 'UTC'; SET plan_cache_mode = force_generic_plan"

# Whether the subject of a row of ``unnest(...) AS w(k) LEFT JOIN consent_state s`` is known.
# State rows are written only for accounts and go with them (erasure deletes both), so a state
# row proves the account: the account's own index is probed only for subjects without one,
# which saves a third of the index probes of a lookup.
KNOWN = (
    "(s.subject IS NOT NULL OR EXISTS"
    " (SELECT 1 FROM user_account u WHERE u.id = CAST(w.k AS uuid)))"
)

# PostgreSQL: ``(account id, purpose, subject known, status, version, decided_at, expires_at,
# record_id)`` for every asked (account id, purpose) pair, in one round trip. The ids were
# validated as UUIDs (:func:`account_key`), so the cast in KNOWN cannot fail.
PAIRS_SQL = (
    f"SELECT w.k, w.p, {KNOWN}, s.status, s.purpose_version, s.decided_at, s.expires_at,"
    " s.record_id FROM unnest(%s::text[], %s::text[]) AS w(k, p)"
    " LEFT JOIN consent_state s ON s.subject = w.k AND s.purpose = w.p"
)

UNKNOWN_SUBJECT = "no customer with that subject id is known to this client"

Pair = tuple[str, str]  # (account id, purpose id)
Row = tuple[Any, ...]


class Coalescer:
    """Lookups that arrive while a query is in flight are answered by the next query, together.

    One query at a time per event loop; each caller gets its own future, so a cancelled
    request (client gone) never cancels another's answer.
    """

    def __init__(self, fetch: Callable[[list[Pair]], Awaitable[dict[Pair, Row]]]) -> None:
        self._fetch = fetch
        self._loops: WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = WeakKeyDictionary()

    async def get(self, pair: Pair) -> Row | None:
        loop = asyncio.get_running_loop()
        queue = self._loops.get(loop)
        if queue is None:
            queue = self._loops[loop] = _Queue()
        future: asyncio.Future[Row | None] = loop.create_future()
        queue.waiting.setdefault(pair, []).append(future)
        if not queue.draining:
            queue.draining = True
            # Runs on the next turn of the loop: requests already read in this turn join in.
            # The queue keeps a reference: the loop holds tasks only weakly.
            queue.task = loop.create_task(self._drain(queue))
        return await future

    async def _drain(self, queue: _Queue) -> None:
        try:
            while queue.waiting:
                batch, queue.waiting = queue.waiting, {}
                try:
                    rows = await self._fetch(list(batch))
                except Exception as exc:
                    for futures in batch.values():
                        for future in futures:
                            if not future.done():
                                future.set_exception(exc)
                    continue
                for pair, futures in batch.items():
                    row = rows.get(pair)
                    for future in futures:
                        if not future.done():
                            future.set_result(row)
        finally:
            queue.draining = False


class _Queue:
    __slots__ = ("draining", "task", "waiting")

    def __init__(self) -> None:
        self.waiting: dict[Pair, list[asyncio.Future[Row | None]]] = {}
        self.draining = False
        self.task: asyncio.Task[None] | None = None


class AsyncLookups:
    """PostgreSQL lookups on the event loop itself: one asynchronous autocommit connection
    per loop (psycopg's ``AsyncConnection``), re-opened after a failure. Measured against a
    worker thread, this saves the thread hand-offs and GIL contention per query."""

    def __init__(self, db: Database, sql: str) -> None:
        url = db.engine.url.set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self._sql = sql
        self._connections: WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = WeakKeyDictionary()
        self._lock = threading.Lock()

    async def _connection(self) -> Any:
        loop = asyncio.get_running_loop()
        connection = self._connections.get(loop)
        if connection is None or connection.closed:
            connection = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
            await connection.execute(SESSION_SETUP)
            with self._lock:
                self._connections[loop] = connection
        return connection

    async def __call__(self, pairs: list[Pair]) -> dict[Pair, Row]:
        params = [[k for k, _ in pairs], [p for _, p in pairs]]
        for attempt in (1, 2):
            connection = await self._connection()
            try:
                cursor = await connection.execute(self._sql, params, binary=True)
                rows = await cursor.fetchall()
                return {(r[0], r[1]): r[2:] for r in rows}
            except psycopg.OperationalError:
                # A dropped server connection: forget it and try once more on a new one.
                with contextlib.suppress(Exception):
                    await connection.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close every loop's connection (from any thread: the socket is closed directly)."""
        with self._lock:
            connections = list(self._connections.values())
            self._connections.clear()
        for connection in connections:
            with contextlib.suppress(Exception):
                connection.pgconn.finish()


class DecisionReader:
    def __init__(self, *, db: Database, consents: ConsentService, bearer: BearerVerifier) -> None:
        self._db = db
        self._consents = consents
        self._bearer = bearer
        self._hot = HotConnection(db)
        m = self._hot.mark
        self._one_sql = (
            "SELECT u.id, s.status, s.purpose_version, s.decided_at, s.expires_at, s.record_id"
            " FROM user_account u LEFT JOIN consent_state s"
            f" ON s.subject = {m} AND s.purpose = {m} WHERE u.id = {m}"
        )
        self._coalescer: Coalescer | None = None
        self._lookups: AsyncLookups | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()
        if not self._hot.sqlite:
            self._lookups = AsyncLookups(db, PAIRS_SQL)
            self._coalescer = Coalescer(self._lookups)

    def _batch_threads(self) -> ThreadPoolExecutor:
        """PostgreSQL batches: one long query each, off the loop on their own threads (made
        on first use, so a reader closed by one app lifespan still serves the next)."""
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(2, thread_name_prefix="consent-batches")
            return self._executor

    def close(self) -> None:
        with self._executor_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        if self._lookups is not None:
            self._lookups.close()
        self._hot.close()

    # -- subjects --------------------------------------------------------------------------

    def _keys(self, caller: Caller, subjects: Sequence[str]) -> dict[str, str]:
        """Subject (as the caller sees it) -> account id, for the subjects that name one."""
        if caller.client.pairwise and caller.client.sector_identifier:
            with self._db.engine.connect() as connection:
                rows = connection.execute(
                    select(SubjectAlias.sub, SubjectAlias.user_id).where(
                        SubjectAlias.sector == caller.client.sector_identifier,
                        SubjectAlias.sub.in_(list(subjects)),
                    )
                ).all()
            return {sub: str(user_id) for sub, user_id in rows}
        keys = {}
        for subject in subjects:
            key = account_key(subject)
            if key is not None:
                keys[subject] = key
        return keys

    # -- one decision -----------------------------------------------------------------------

    def _question(
        self, authorization: str | None, subject: str, purpose_id: str
    ) -> tuple[str, Purpose]:
        """Check the caller and the question: the account id asked about, and the purpose."""
        caller = self._bearer.caller(authorization)
        caller.require(READ)
        purpose = self._consents.purpose(purpose_id)
        key = self._keys(caller, [subject]).get(subject)
        if key is None:
            raise UnknownSubject(UNKNOWN_SUBJECT)
        return key, purpose

    def one(self, authorization: str | None, subject: str, purpose_id: str) -> bytes:
        """One decision, looked up inline (any database; the asynchronous :meth:`answer`
        is what the API uses)."""
        key, purpose = self._question(authorization, subject, purpose_id)
        hot = self._hot
        rows = hot.fetch(self._one_sql, (key, purpose.id, hot.id_param(key)))
        if not rows:
            raise UnknownSubject(UNKNOWN_SUBJECT)
        return dumps(self._body(subject, key, purpose, rows[0][1:], hot.now_key(utcnow())))

    async def answer(self, authorization: str | None, subject: str, purpose_id: str) -> bytes:
        """One decision for the API: inline on SQLite, coalesced on PostgreSQL."""
        if self._coalescer is None:
            return self.one(authorization, subject, purpose_id)
        key, purpose = self._question(authorization, subject, purpose_id)
        row = await self._coalescer.get((key, purpose.id))
        if row is None or not row[0]:
            raise UnknownSubject(UNKNOWN_SUBJECT)
        return dumps(self._body(subject, key, purpose, row[1:], self._hot.now_key(utcnow())))

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
        keys = self._keys(caller, unique)
        hot = self._hot
        lookup = self._states_sqlite if hot.sqlite else self._states_postgresql
        existing, states = lookup(set(keys.values()), [p.id for p in purposes])
        now = hot.now_key(utcnow())
        body = self._body
        decisions = []
        unknown = []
        for subject in unique:
            key = keys.get(subject)
            if key is None or key not in existing:
                unknown.append(subject)
                continue
            for purpose in purposes:
                decisions.append(body(subject, key, purpose, states.get((key, purpose.id)), now))
        return dumps({"decisions": decisions, "unknown_subjects": unknown})

    def _states_sqlite(
        self, keys: set[str], purpose_ids: list[str]
    ) -> tuple[set[str], dict[Pair, Row]]:
        """The accounts that exist among ``keys``, and their current-state rows: two indexed
        ``IN`` queries (ids go in the column's own form once and come back mapped by dict)."""
        hot = self._hot
        if not keys:
            return set(), {}
        wanted = {hot.id_param(key): key for key in keys}
        found = hot.fetch(f"SELECT id FROM user_account WHERE id IN ({_marks(wanted)})", [*wanted])
        existing = {wanted[r[0]] for r in found}
        if not existing:
            return existing, {}
        rows = hot.fetch(
            "SELECT subject, purpose, status, purpose_version, decided_at, expires_at,"
            f" record_id FROM consent_state WHERE subject IN ({_marks(existing)})"
            f" AND purpose IN ({_marks(purpose_ids)})",
            [*existing, *purpose_ids],
        )
        return existing, {(r[0], r[1]): r[2:] for r in rows}

    def _states_postgresql(
        self, keys: set[str], purpose_ids: list[str]
    ) -> tuple[set[str], dict[Pair, Row]]:
        """The same in one round trip: every asked account with its rows for the purposes
        (NULLs where it has none) and whether it is known. One purpose is an exact
        primary-key probe per account; several read each account's few rows in one range."""
        if not keys:
            return set(), {}
        if len(purpose_ids) == 1:
            rows = self._hot.fetch(
                f"SELECT w.k, %s::text, {KNOWN}, s.status, s.purpose_version, s.decided_at,"
                " s.expires_at, s.record_id FROM unnest(%s::text[]) AS w(k)"
                " LEFT JOIN consent_state s ON s.subject = w.k AND s.purpose = %s::text",
                [purpose_ids[0], list(keys), purpose_ids[0]],
            )
        else:
            rows = self._hot.fetch(
                f"SELECT w.k, s.purpose, {KNOWN}, s.status, s.purpose_version, s.decided_at,"
                " s.expires_at, s.record_id FROM unnest(%s::text[]) AS w(k)"
                " LEFT JOIN consent_state s ON s.subject = w.k"
                " AND s.purpose = ANY(%s::text[])",
                [list(keys), purpose_ids],
            )
        existing = {r[0] for r in rows if r[2]}
        return existing, {(r[0], r[1]): r[3:] for r in rows if r[3] is not None}

    async def answer_many(
        self,
        authorization: str | None,
        subjects: Sequence[str],
        purpose_ids: Sequence[str],
        limit: int,
    ) -> bytes:
        """:meth:`many` for the API: off the event loop on PostgreSQL (round trips)."""
        if self._hot.sqlite:
            return self.many(authorization, subjects, purpose_ids, limit)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._batch_threads(), self.many, authorization, subjects, purpose_ids, limit
        )

    def _body(
        self, subject: str, key: str, purpose: Purpose, row: Sequence[Any] | None, now: Any
    ) -> dict[str, Any]:
        """The answer for one current-state row ``(status, version, decided_at, expires_at,
        record_id)`` in the driver's forms; ``row`` None or all NULL: never asked."""
        status = row[0] if row is not None else None
        if status is None:
            allowed, reason = verdict(purpose, None, None, False)
            version, decided_at, expires_at, record_id = purpose.version, None, None, None
        else:
            _, version, decided_at, expires_at, record_id = row  # type: ignore[misc]
            expired = expires_at is not None and expires_at <= now
            allowed, reason = verdict(purpose, status, version, expired)
        iso = self._hot.iso
        return {
            "subject": subject,
            "purpose": purpose.id,
            "allowed": allowed,
            "reason": reason,
            "legal_basis": purpose.legal_basis.value,
            "version": version,
            "current_version": purpose.version,
            "status": status,
            "decided_at": iso(decided_at),
            "expires_at": iso(expires_at),
            "record_id": record_id,
            "unsubscribe_url": (
                self._consents.unsubscribe_url(key, purpose.id)
                if purpose.channel and purpose.switchable
                else None
            ),
        }
