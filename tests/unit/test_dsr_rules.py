"""Data subject requests' rules: one month means a calendar month, the grace period never
outlasts it, old sign-ins confirm the password, and nothing personal survives a scrub."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from identity.dsr.rules import (
    CANCELLED,
    DONE,
    ERASED,
    ERASURE,
    PENDING,
    is_due,
    is_overdue,
    may_cancel,
    needs_password,
    one_month_after,
    personal_values,
    queue_order,
    reason_problem,
    schedule,
    scrub,
)

NOW = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
PERSONAL = personal_values(
    "zoe.quintana@example.org",
    "Zoe Quintana",
    "+34 600  111 222",
    {
        "street_address": "Calle Luna 5",
        "locality": "Soria",
        "postal_code": "42001",
        "country": "ES",
    },
)


@pytest.mark.parametrize(
    ("asked", "due"),
    [
        (datetime(2026, 1, 31, 8, tzinfo=UTC), datetime(2026, 2, 28, 8, tzinfo=UTC)),
        (datetime(2028, 1, 31, 8, tzinfo=UTC), datetime(2028, 2, 29, 8, tzinfo=UTC)),
        (datetime(2026, 12, 15, 8, tzinfo=UTC), datetime(2027, 1, 15, 8, tzinfo=UTC)),
        (datetime(2026, 3, 31, 23, 59, tzinfo=UTC), datetime(2026, 4, 30, 23, 59, tzinfo=UTC)),
    ],
    ids=["end_of_january", "leap_year", "year_end", "thirty_day_month"],
)
def test_a_request_is_due_one_calendar_month_after_it_was_received(asked, due):
    assert one_month_after(asked) == due


def test_an_erasure_runs_after_the_grace_period_and_is_due_within_a_month():
    plan = schedule(NOW, timedelta(days=7))
    assert (plan.requested_at, plan.scheduled_for) == (NOW, NOW + timedelta(days=7))
    assert plan.due_at == datetime(2027, 1, 3, 9, 30, tzinfo=UTC)


def test_a_grace_period_longer_than_the_deadline_is_cut_to_the_deadline():
    plan = schedule(NOW, timedelta(days=60))
    assert plan.scheduled_for == plan.due_at


def test_only_a_pending_request_past_its_grace_period_is_due():
    later = NOW + timedelta(seconds=1)
    assert is_due(PENDING, NOW, NOW)
    assert not is_due(PENDING, later, NOW)
    assert not is_due(CANCELLED, NOW, later)
    assert not is_due(DONE, NOW, later)
    assert not is_due(PENDING, None, later)


def test_only_a_pending_request_can_be_overdue():
    assert is_overdue(PENDING, NOW - timedelta(seconds=1), NOW)
    assert not is_overdue(PENDING, NOW, NOW)
    assert not is_overdue(DONE, NOW - timedelta(days=40), NOW)


def test_a_sign_in_older_than_five_minutes_needs_the_password_again():
    assert not needs_password(NOW - timedelta(minutes=5), NOW)
    assert needs_password(NOW - timedelta(minutes=5, seconds=1), NOW)


def test_only_a_pending_erasure_can_be_cancelled():
    assert may_cancel(ERASURE, PENDING)
    assert not may_cancel(ERASURE, DONE)
    assert not may_cancel("access", PENDING)


@dataclass(frozen=True)
class Row:
    name: str
    status: str
    due_at: datetime


def test_the_queue_shows_pending_requests_first_oldest_deadline_first():
    rows = [
        Row("done-old", DONE, NOW - timedelta(days=9)),
        Row("pending-late", PENDING, NOW + timedelta(days=20)),
        Row("cancelled", CANCELLED, NOW),
        Row("pending-soon", PENDING, NOW + timedelta(days=2)),
    ]
    assert [r.name for r in queue_order(rows)] == [
        "pending-soon",
        "pending-late",
        "done-old",
        "cancelled",
    ]


def test_personal_values_leave_out_fragments_too_short_to_search_for():
    assert "ES" not in PERSONAL
    assert {"zoe.quintana@example.org", "Zoe Quintana", "Calle Luna 5", "Soria"} <= set(PERSONAL)
    assert "+34 600 111 222" in PERSONAL  # the spacing a service may have used, normalised


def test_a_scrub_removes_personal_values_and_keeps_everything_else():
    evidence = {
        "store": "MAD-3",
        "employee": 4417,
        "note": "called by zoe quintana about her order",
        "email": "old-address@example.net",
        "contact": {"phone": "600111222", "mailed": ["someone@example.com", "form-7"]},
        "confirmed": True,
    }
    assert scrub(evidence, PERSONAL) == {
        "store": "MAD-3",
        "employee": 4417,
        "note": ERASED,
        "email": ERASED,
        "contact": {"phone": ERASED, "mailed": [ERASED, "form-7"]},
        "confirmed": True,
    }


def test_a_scrub_leaves_evidence_without_personal_data_unchanged():
    evidence = {"from_records": [3], "anonymous": "a:abc", "replaces_record": None, "name": None}
    assert scrub(evidence, PERSONAL) == evidence


@pytest.mark.parametrize(
    ("reason", "problem"),
    [
        ("", "a reason is required"),
        ("   ", "a reason is required"),
        ("x" * 501, "the reason is longer than 500 characters"),
        ("asked by zoe.quintana@example.org", "must not contain"),
        ("letter from Zoe Quintana", "must not contain"),
        ("written request; reply to someone@else.example", "must not contain"),
    ],
    ids=["empty", "blank", "too_long", "their_email", "their_name", "any_email"],
)
def test_an_officers_reason_must_not_name_the_customer(reason, problem):
    found = reason_problem(reason, PERSONAL)
    assert found is not None
    assert problem in found


def test_a_plain_reason_is_kept():
    assert reason_problem("Art. 17 request received by post, ticket DPO-2291", PERSONAL) is None
