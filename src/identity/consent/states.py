"""The current-state rows, read the fast way: the one storage interface of the read model.

Every service asks before every action, so this is the most frequent query there is.
Measured, SQLAlchemy's per-call connection checkout, ``BEGIN`` and reset cost several times
the lookup itself, so reads go to the driver directly, on a long-lived autocommit connection
per thread: every query sees the latest commits (a withdrawal is visible to the very next
query on any worker) and there is no cache of answers.

Rows stay in the driver's own form, ``(status, purpose_version, decided_at, expires_at,
record_id)``: SQLite's fixed-width UTC text or PostgreSQL's UTC datetimes, compared and
printed as such by :class:`Times`, with no per-row conversion to Python objects and back.

:class:`SqliteStates` looks rows up inline (an in-process B-tree search of a few
microseconds). :class:`PostgresStates` sends single lookups through a :class:`Coalescer` on an
asynchronous connection on the event loop, and batches on two worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Collection, Sequence, Sized
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Protocol
from weakref import WeakKeyDictionary

import psycopg

from identity.consent.coalescer import Coalescer, Pair, Row
from identity.db import Database, rfc3339

# Hot-path PostgreSQL sessions: times come back in UTC; and the statements here are
# fixed-shape key lookups, so one plan serves every parameter value (re-planning per call
# cost more than the lookup).
SESSION_SETUP = "SET TIME ZONE 'UTC'; SET plan_cache_mode = force_generic_plan"
COLUMNS = "s.status, s.purpose_version, s.decided_at, s.expires_at, s.record_id"
PAIRS_SQL = (
    f"SELECT s.subject, s.purpose, {COLUMNS} FROM unnest(%s::text[], %s::text[]) AS w(k, p)"
    " JOIN consent_state s ON s.subject = w.k AND s.purpose = w.p"
)


class Times(Protocol):
    def now_key(self, now: datetime) -> Any:
        """``now`` in the form the driver returns times in, so they compare directly."""

    def iso(self, value: Any) -> str | None:
        """A stored time as the API prints every time: RFC 3339 in UTC with ``Z``."""

    def datetime(self, value: Any) -> datetime | None:
        """A stored time as an aware datetime (for pages)."""


class AwareTimes:
    """:class:`Times` for aware datetimes: PostgreSQL's rows (in a UTC session), and the state
    a write has just projected."""

    def now_key(self, now: datetime) -> Any:
        return now.astimezone(UTC)

    def iso(self, value: Any) -> str | None:
        return None if value is None else rfc3339(value)

    def datetime(self, value: Any) -> datetime | None:
        return None if value is None else value.astimezone(UTC)


AWARE = AwareTimes()


class StateStore(Times, Protocol):
    def rows(self, keys: Collection[str], purposes: Sequence[str]) -> dict[Pair, Row]:
        """Every state row of those subjects for those purposes."""

    async def row(self, pair: Pair) -> Row | None:
        """One state row, from the event loop."""

    async def rows_async(self, keys: Collection[str], purposes: Sequence[str]) -> dict[Pair, Row]:
        """:meth:`rows` from the event loop (off it where the query is a round trip)."""

    def close(self) -> None: ...


class HotConnection:
    """A long-lived autocommit DBAPI connection per thread, re-opened after a failure."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._local = threading.local()
        self._opened: list[Any] = []
        self._lock = threading.Lock()
        self.sqlite = db.dialect == "sqlite"

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

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
        for connection in opened:
            with contextlib.suppress(Exception):
                connection.close()


def _marks(values: Sized) -> str:
    return ",".join("?" * len(values))


class SqliteStates:
    """SQLite: times are ``YYYY-MM-DD HH:MM:SS.ffffff`` text in UTC (``db.UTCDateTime``)."""

    def __init__(self, db: Database) -> None:
        self._hot = HotConnection(db)

    def rows(self, keys: Collection[str], purposes: Sequence[str]) -> dict[Pair, Row]:
        if not keys or not purposes:
            return {}
        found = self._hot.fetch(
            f"SELECT subject, purpose, status, purpose_version, decided_at, expires_at,"
            f" record_id FROM consent_state WHERE subject IN ({_marks(keys)})"
            f" AND purpose IN ({_marks(purposes)})",
            [*keys, *purposes],
        )
        return {(r[0], r[1]): r[2:] for r in found}

    async def row(self, pair: Pair) -> Row | None:
        found = self._hot.fetch(
            "SELECT status, purpose_version, decided_at, expires_at, record_id"
            " FROM consent_state WHERE subject = ? AND purpose = ?",
            pair,
        )
        return found[0] if found else None

    async def rows_async(self, keys: Collection[str], purposes: Sequence[str]) -> dict[Pair, Row]:
        return self.rows(keys, purposes)

    def now_key(self, now: datetime) -> Any:
        return now.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

    def iso(self, value: Any) -> str | None:
        if value is None:
            return None
        return f"{value[:10]}T{value[11:].removesuffix('.000000')}Z"

    def datetime(self, value: Any) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)

    def close(self) -> None:
        self._hot.close()


class AsyncLookups:
    """PostgreSQL lookups on the event loop itself: one asynchronous autocommit connection
    per loop (psycopg's ``AsyncConnection``), re-opened after a failure. Measured against a
    worker thread, this saves the thread hand-offs and GIL contention per query."""

    def __init__(self, db: Database) -> None:
        url = db.engine.url.set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
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
                cursor = await connection.execute(PAIRS_SQL, params, binary=True)
                return {(r[0], r[1]): r[2:] for r in await cursor.fetchall()}
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


class PostgresStates(AwareTimes):
    """PostgreSQL: times are UTC datetimes (the hot sessions' time zone is UTC)."""

    def __init__(self, db: Database) -> None:
        self._hot = HotConnection(db)
        self._lookups = AsyncLookups(db)
        self._coalescer = Coalescer(self._lookups)
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()

    def rows(self, keys: Collection[str], purposes: Sequence[str]) -> dict[Pair, Row]:
        """One round trip. One purpose is an exact primary-key probe per subject; several
        read each subject's few rows in one range."""
        if not keys or not purposes:
            return {}
        if len(purposes) == 1:
            found = self._hot.fetch(
                f"SELECT s.subject, s.purpose, {COLUMNS} FROM unnest(%s::text[]) AS w(k)"
                " JOIN consent_state s ON s.subject = w.k AND s.purpose = %s::text",
                [list(keys), purposes[0]],
            )
        else:
            found = self._hot.fetch(
                f"SELECT s.subject, s.purpose, {COLUMNS} FROM unnest(%s::text[]) AS w(k)"
                " JOIN consent_state s ON s.subject = w.k AND s.purpose = ANY(%s::text[])",
                [list(keys), list(purposes)],
            )
        return {(r[0], r[1]): r[2:] for r in found}

    async def row(self, pair: Pair) -> Row | None:
        return await self._coalescer.get(pair)

    async def rows_async(self, keys: Collection[str], purposes: Sequence[str]) -> dict[Pair, Row]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads(), self.rows, keys, purposes)

    def _threads(self) -> ThreadPoolExecutor:
        """Batches: one long query each, off the loop on their own threads (made on first
        use, so a store closed by one app lifespan still serves the next)."""
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(2, thread_name_prefix="consent-batches")
            return self._executor

    def close(self) -> None:
        with self._executor_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        self._lookups.close()
        self._hot.close()


def state_store(db: Database) -> StateStore:
    return SqliteStates(db) if db.dialect == "sqlite" else PostgresStates(db)
