"""Pooled PostgreSQL connections: dropped ones are replaced before a request gets them, and
a busy pool is not pinged on every checkout."""

from __future__ import annotations

from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import event, text

from identity.db import IDLE_BEFORE_PING, Database


@pytest.fixture
def db(backend: str, database_url: str) -> Any:
    if backend != "postgresql":
        pytest.skip("SQLite has no server to drop connections")
    database = Database(database_url)
    yield database
    database.dispose()


def backend_pid(db: Database) -> int:
    with db.read() as session:
        return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_dropped_while_idle_is_replaced_before_it_is_used(db):
    with freeze_time("2026-12-01 10:00:00") as clock:
        dropped = backend_pid(db)
        outside = Database(db.url, pool=False)  # a restart or an idle timeout, from outside
        with outside.transaction() as session:
            session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": dropped})
        outside.dispose()
        clock.tick(IDLE_BEFORE_PING + 1)
        assert backend_pid(db) != dropped  # no error: the dead one was pinged and replaced


def test_a_busy_pool_does_not_ping_on_every_checkout(db):
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with freeze_time("2026-12-01 10:00:00"):
        for _ in range(5):
            backend_pid(db)
    assert statements == ["SELECT pg_backend_pid()"] * 5
