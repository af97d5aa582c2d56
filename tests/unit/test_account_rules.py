"""Account rules without a database: emails, passwords, throttling, session lifetimes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from identity.accounts.rules import (
    Problem,
    ThrottlePolicy,
    ThrottleState,
    after_failure,
    describe_user_agent,
    normalize_email,
    password_problems,
    retry_after,
    session_is_live,
    signup_problems,
)

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
POLICY = ThrottlePolicy(
    max_failures=3,
    window=timedelta(minutes=15),
    base_lock=timedelta(seconds=30),
    max_lock=timedelta(minutes=15),
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ana@Example.COM", "ana@example.com"),
        ("  ana@example.com ", "ana@example.com"),
        ("not-an-email", None),
        ("a@b", None),
        ("", None),
    ],
)
def test_emails_are_normalised_or_refused(raw, expected):
    assert normalize_email(raw) == expected


def test_passwords_need_length_not_composition():
    assert password_problems("short", email="a@example.com", min_length=10) == [
        Problem.password_too_short
    ]
    assert password_problems("all lowercase words here", email="a@example.com", min_length=10) == []
    assert Problem.password_is_email in password_problems(
        "ana@example.com", email="ana@example.com", min_length=10
    )
    assert Problem.password_too_long in password_problems("x" * 2000, email="", min_length=10)


def test_signup_reports_every_problem_at_once():
    problems = signup_problems(email=None, password="x", name=" ", locale="fr", min_length=10)
    assert set(problems) == {
        Problem.email_invalid,
        Problem.name_missing,
        Problem.locale_unsupported,
        Problem.password_too_short,
    }


def test_failures_below_the_limit_do_not_lock():
    state = None
    for _ in range(2):
        state = after_failure(state, NOW, POLICY)
    assert state.failures == 2
    assert retry_after(state, NOW) == 0


def test_reaching_the_limit_locks_and_each_further_failure_doubles_the_lock():
    state = None
    for _ in range(3):
        state = after_failure(state, NOW, POLICY)
    assert retry_after(state, NOW) == 30
    later = NOW + timedelta(seconds=31)
    state = after_failure(state, later, POLICY)
    assert retry_after(state, later) == 60


def test_the_lock_is_capped():
    state = ThrottleState(failures=40, window_started_at=NOW, locked_until=None)
    state = after_failure(state, NOW, POLICY)
    assert retry_after(state, NOW) == 15 * 60


def test_failures_older_than_the_window_are_forgotten():
    state = ThrottleState(failures=2, window_started_at=NOW, locked_until=None)
    state = after_failure(state, NOW + timedelta(minutes=16), POLICY)
    assert state.failures == 1


def test_sessions_end_at_the_idle_or_the_absolute_timeout():
    idle = timedelta(hours=1)
    live = dict(last_seen_at=NOW, expires_at=NOW + timedelta(days=1), idle_timeout=idle)
    assert session_is_live(now=NOW + timedelta(minutes=59), **live)
    assert not session_is_live(now=NOW + timedelta(minutes=61), **live)
    assert not session_is_live(
        last_seen_at=NOW,
        expires_at=NOW + timedelta(minutes=5),
        now=NOW + timedelta(minutes=6),
        idle_timeout=idle,
    )


def test_user_agents_get_a_short_label():
    ua = (
        "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/130.0 Mobile Safari/537.36"
    )
    assert describe_user_agent(ua) == "Chrome · Android"
    assert describe_user_agent("") == "?"
