"""Engine, sessions and the unit of work, for SQLite (embedded) and PostgreSQL (production).

Two kinds of transaction:

* :meth:`Database.transaction` is for writes. On SQLite it starts with ``BEGIN IMMEDIATE`` so the
  write lock is taken up front: a transaction that reads and then writes (the audit chain head,
  throttle counters) can never be overtaken by another writer between its read and its write.
  On PostgreSQL rows that must be serialized are locked explicitly (``SELECT ... FOR UPDATE``).
* :meth:`Database.read` is for reads: a deferred ``BEGIN`` on SQLite, so readers never wait for
  writers in WAL mode.

Timestamps are stored as UTC and always come back timezone-aware (:class:`UTCDateTime`), on
SQLite too.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from json.scanner import c_make_scanner  # type: ignore[attr-defined]
from typing import Any

from sqlalchemy import (
    ColumnElement,
    DateTime,
    Engine,
    MetaData,
    create_engine,
    delete,
    event,
    select,
)
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_WRITE = "identity_write"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use datetime.now(UTC)")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None or value.tzinfo is UTC:  # PostgreSQL's, its sessions being in UTC
            return value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def rfc3339(value: datetime) -> str:
    """The one way the API prints a time: RFC 3339 in UTC with ``Z`` (``2026-12-01T09:30:00Z``,
    a fraction only when there is one), as pydantic writes aware datetimes."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


_scan_json = c_make_scanner(json.JSONDecoder()) if c_make_scanner is not None else None


def json_loads(document: str | bytes) -> Any:
    """``json.loads`` for JSON columns, without its per-call overhead: reading a column costs
    a regular expression, an encoding guess and a decoder call besides the parse itself,
    twice the parse for a small object (the audit log reads one per entry). The whole text
    must be one value, else ``json.loads`` decides (and raises what it raises)."""
    text = document.decode() if isinstance(document, bytes) else document
    if _scan_json is not None:
        try:
            value, end = _scan_json(text, 0)
        except StopIteration:
            return json.loads(text)
        if end == len(text):
            return value
    return json.loads(text)


IDLE_BEFORE_PING = 5.0  # seconds a pooled connection may sit unused before it is pinged
_IDLE_SINCE = "identity.idle_since"


# Connections a process keeps open: as many as its threads that may hold one at once
# (``web.offload``'s pool); overflow is for FastAPI's own thread pool (the pages), opened and
# closed on demand.
POOL_SIZE = 20
POOL_OVERFLOW = 20


def create_db_engine(url: str, *, pool: bool = True) -> Engine:
    """Create an engine with the pragmas and transaction behaviour described above."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            json_deserializer=json_loads,
            **({} if pool else {"poolclass": NullPool}),
        )
        _configure_sqlite(engine)
        return engine
    pooling: dict[str, Any] = (
        {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW} if pool else {"poolclass": NullPool}
    )
    engine = create_engine(url, json_deserializer=json_loads, **pooling)
    _speak_utc(engine)
    if pool:
        _ping_when_idle(engine)
    return engine


def _speak_utc(engine: Engine) -> None:
    """Every PostgreSQL session in UTC, as the application is: the driver then hands out
    times in UTC itself, which :class:`UTCDateTime` passes on untouched, instead of converting
    each from the server's zone twice (it was a tenth of an audit export's time). No query
    here depends on the session's zone."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        dbapi_connection.execute("SET TIME ZONE 'UTC'")
        dbapi_connection.autocommit = autocommit


def _ping_when_idle(engine: Engine, idle: float = IDLE_BEFORE_PING) -> None:
    """SQLAlchemy's ``pool_pre_ping``, but only for a connection that sat in the pool a while.

    A busy server checks connections out thousands of times a second, and a ping per checkout
    is a round trip per transaction. A connection the database dropped (a restart, a failover,
    an idle timeout) has almost always sat unused first; it is pinged, and replaced if dead,
    before a request gets it. A connection dropped while in use fails that request, as it would
    with the pre-ping too."""

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _taken(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < idle:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError("the pooled connection is gone") from exc


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite would defer it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL: no corruption on crash
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """Owns the engine; hands out sessions wrapped in a transaction."""

    def __init__(self, url: str, *, pool: bool = True) -> None:
        self.url = url
        self.engine = create_db_engine(url, pool=pool)
        self.dialect = self.engine.dialect.name
        self._writer = sessionmaker(
            bind=self.engine.execution_options(**{_WRITE: True}), expire_on_commit=False
        )
        self._reader = sessionmaker(bind=self.engine, expire_on_commit=False)
        # SQLite has one writer at a time. Queueing writers of this process on a lock keeps
        # them in order; left to SQLite's busy handler they sleep and poll, which makes tail
        # latency spike under contention. Re-entrant so a nested write fails by SQLite's
        # busy timeout, as before, rather than hanging.
        self._write_lock = threading.RLock() if self.dialect == "sqlite" else None

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction: commits when the block ends, rolls back if it raises."""
        if self._write_lock is None:
            with self._writer() as session, session.begin():
                yield session
            return
        with self._write_lock, self._writer() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only view; anything written here is rolled back.

        Closing (not ``rollback()``) ends the transaction without expiring the loaded
        objects, so callers may keep reading them after the block.
        """
        with self._reader() as session:
            yield session

    def after_commit(self, callback: Callable[[Session], None]) -> None:
        """Run ``callback`` after every write transaction of this database object commits."""
        event.listen(self._writer, "after_commit", callback)

    def dispose(self) -> None:
        self.engine.dispose()


def _dialect_insert(dialect: str, table: Any) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    return dialect_insert(table)


def insert_ignoring_conflict(session: Session, table: Any, values: dict[str, Any]) -> bool:
    """``INSERT ... ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL; whether it inserted."""
    table = getattr(table, "__table__", table)  # a mapped class or its table
    statement = _dialect_insert(session.get_bind().dialect.name, table)
    returning = statement.values(**values).on_conflict_do_nothing().returning(*table.primary_key)
    return session.execute(returning).first() is not None


def dialect_insert_for(dialect: str, table: Any) -> Any:
    """The dialect's ``INSERT`` (with ``on_conflict_do_*``), for statements no helper here
    covers (build them once per dialect)."""
    return _dialect_insert(dialect, table)


def upsert(
    session: Session,
    table: Any,
    values: dict[str, Any],
    *,
    keys: tuple[str, ...],
    update: tuple[str, ...] | None = None,
    only_if: Callable[[Any, Any], Any] | None = None,
) -> bool:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE`` the other columns, in one statement (no
    read first, so concurrent writers of one new row cannot both insert it). ``update``: the
    columns a conflict updates (default: all but the keys); ``only_if(table, excluded)``: a
    condition for the update, e.g. only a newer row replaces the stored one (a module-level
    function: the statement is built once per shape). Returns whether the row was written
    (False: ``only_if`` kept the stored one)."""
    names = tuple(values)
    statement = _upsert_statement(
        session.get_bind().dialect.name, table, names, keys, update, only_if
    )
    result = session.execute(statement, values)
    return bool(result.rowcount)  # type: ignore[attr-defined]


@functools.lru_cache(maxsize=64)
def _upsert_statement(
    dialect: str,
    table: Any,
    names: tuple[str, ...],
    keys: tuple[str, ...],
    update: tuple[str, ...] | None,
    only_if: Callable[[Any, Any], Any] | None,
) -> Any:
    statement = _dialect_insert(dialect, table)
    excluded = statement.excluded
    changes = {n: excluded[n] for n in (update or [n for n in names if n not in keys])}
    return statement.on_conflict_do_update(
        index_elements=list(keys),
        set_=changes,
        where=only_if(statement.table, excluded) if only_if else None,
    )


def delete_batch(session: Session, key: Any, where: ColumnElement[bool], limit: int) -> int:
    """Delete at most ``limit`` rows matching ``where``, chosen by their primary key ``key``
    (a mapped column); returns how many. Callers loop, one short transaction per batch, so
    no sweep holds its locks for long. On PostgreSQL rows that a live transaction holds are
    skipped (``FOR UPDATE SKIP LOCKED``): they are taken by a later batch or pass."""
    chosen = select(key).where(where).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        chosen = chosen.with_for_update(skip_locked=True)
    column = key.property.columns[0]
    result = session.execute(delete(column.table).where(column.in_(chosen)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


class Leadership:
    """Whether this process is the one that does a job which one process per database should
    do at a time (the audit sequencer, housekeeping).

    PostgreSQL: a session-level advisory lock ``key``, tried on one connection of this
    process's own that stays open whether the lock was won or not, and is replaced only when it
    breaks (its session, and any lock it held, ended with it: another process takes over at its
    next try). A follower asks once per call (its loop calls at its interval); the leader
    re-checks that its session is alive at most every ``check_every`` seconds, so a leader
    whose session just died may run one more round beside its successor: each job must be safe
    under that (the sequencer takes a batch only under the tree row's lock). SQLite: always; the
    database's write lock takes turns.
    """

    def __init__(self, db: Database, key: int, *, check_every: float = 0.0) -> None:
        self._db = db
        self._key = key
        self._check_every = check_every
        self._connection: Any = None
        self._leader = False
        self._checked_at = 0.0

    def held(self) -> bool:
        if self._db.dialect == "sqlite":
            return True
        if self._leader and time.monotonic() - self._checked_at < self._check_every:
            return True
        for attempt in (1, 2):
            try:
                self._leader = self._ask()
                break
            except Exception:
                self.release()  # a broken session has lost its lock too: once more, anew
                if attempt == 2:
                    raise
        self._checked_at = time.monotonic()
        return self._leader

    def _ask(self) -> bool:
        if self._connection is None:
            proxied = self._db.engine.raw_connection()
            self._connection = proxied.driver_connection
            proxied.detach()  # the lock lives as long as this session: the pool must not reuse it
            self._connection.autocommit = True
        if self._leader:
            self._connection.execute("SELECT 1")
            return True
        got = self._connection.execute("SELECT pg_try_advisory_lock(%s)", (self._key,))
        row = got.fetchone()
        return bool(row and row[0])

    def release(self) -> None:
        connection, leader = self._connection, self._leader
        self._connection, self._leader = None, False
        if connection is None:
            return
        if leader:  # free the lock now, not once the server notices the session is gone
            with contextlib.suppress(Exception):
                connection.execute("SELECT pg_advisory_unlock(%s)", (self._key,))
        with contextlib.suppress(Exception):
            connection.close()
