"""A consent write and an erasure of the same account at the same moment (PostgreSQL, where
they really run at once): the write either lands before the erasure, which waits for it, or
finds no account; never a record for a customer written after they were erased."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, text

from identity.accounts.models import User
from identity.audit.models import AuditEntryRow
from identity.audit.refs import Actor
from identity.consent.decisions import UnknownSubject
from identity.consent.models import ConsentRecord
from identity.consent.service import hold_account

OFFICER = Actor.operator("dpo")
WAITING_FOR_A_LOCK = text(
    "SELECT count(*) FROM pg_stat_activity"
    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


@pytest.fixture(autouse=True)
def _postgresql_only(backend: str) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite runs one write transaction at a time: these cannot overlap")


def in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except Exception as exc:  # the test looks at it
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def wait_until_blocked(runtime: Any, thread: threading.Thread) -> None:
    """Until the other transaction waits for a row lock (bounded by attempts, not by time)."""
    for _ in range(2000):
        with runtime.db.read() as session:
            if session.scalar(WAITING_FOR_A_LOCK):
                return
        assert thread.is_alive(), "it finished without waiting"
        thread.join(0.005)
    raise AssertionError("the other transaction never waited for the lock")


def records_of(runtime: Any, user_id: Any) -> list[str]:
    with runtime.db.read() as session:
        return list(
            session.scalars(
                select(ConsentRecord.source).where(ConsentRecord.subject == str(user_id))
            )
        )


def log_order(runtime: Any) -> list[str]:
    runtime.sequencer.drain()
    with runtime.db.read() as session:
        rows = session.scalars(
            select(AuditEntryRow.action)
            .where(AuditEntryRow.action.in_(["consent.recorded", "dsr.erasure_executed"]))
            .order_by(AuditEntryRow.leaf_index)
        )
        return list(rows)


def test_an_erasure_waits_for_a_consent_write_in_flight(runtime, make_user, writer):
    user = make_user("race@example.com")
    purpose = runtime.consent.purpose("personalization")
    with runtime.db.transaction() as session:  # a write that has passed its account check
        assert hold_account(session, str(user.id))
        erasure, outcome = in_thread(
            lambda: runtime.dsr.erase(user.id, actor=OFFICER, reason="Ticket 4711")
        )
        wait_until_blocked(runtime, erasure)
        runtime.consent.ledger.append(session, new_record(str(user.id), purpose))
    erasure.join(30)
    assert "error" not in outcome, outcome
    assert records_of(runtime, user.id) == ["api:test"]  # written before, kept as proof
    assert log_order(runtime) == ["consent.recorded", "dsr.erasure_executed"]


def test_a_consent_write_during_an_erasure_finds_no_account_and_writes_nothing(runtime, make_user):
    user = make_user("race@example.com")
    with runtime.db.transaction() as session:  # an erasure's first step: the account locked
        session.get(User, user.id, with_for_update=True)
        write, outcome = in_thread(
            lambda: runtime.consent.record_for_client(
                client_id="store",
                subject=str(user.id),
                purpose_id="personalization",
                decision="granted",
                collected_at=None,
                locale=None,
                text_hash=None,
                evidence={},
            )
        )
        wait_until_blocked(runtime, write)
        session.delete(session.get(User, user.id))
    write.join(30)
    assert isinstance(outcome.get("error"), UnknownSubject), outcome
    assert records_of(runtime, user.id) == []


def new_record(subject: str, purpose: Any) -> Any:
    from identity.consent.ledger import NewRecord

    return NewRecord(
        subject=subject,
        purpose=purpose,
        decision="granted",
        source="api:test",
        actor=Actor.client("test"),
    )
