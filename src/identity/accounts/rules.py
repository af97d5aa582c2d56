"""Account rules as pure functions: no database, no HTTP, no clock (``now`` is an argument)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from email_validator import EmailNotValidError, validate_email

SUPPORTED_LOCALES = ("en", "es")
NAME_MAX = 100
PASSWORD_MAX = 1024  # bounded so nobody makes us hash megabytes


class Problem(StrEnum):
    """Why an input was refused; pages map each to a localized message."""

    email_invalid = "email_invalid"
    password_too_short = "password_too_short"
    password_too_long = "password_too_long"
    password_is_email = "password_is_email"
    passwords_differ = "passwords_differ"
    name_missing = "name_missing"
    name_too_long = "name_too_long"
    locale_unsupported = "locale_unsupported"


def normalize_email(raw: str) -> str | None:
    """The canonical form used for lookups (lower case, IDNA domain), or None when invalid."""
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError:
        return None
    return result.normalized.lower()


def password_problems(password: str, *, email: str, min_length: int) -> list[Problem]:
    """NIST SP 800-63B style: length matters, composition rules do not."""
    problems = []
    if len(password) < min_length:
        problems.append(Problem.password_too_short)
    if len(password) > PASSWORD_MAX:
        problems.append(Problem.password_too_long)
    if email and password.strip().lower() == email.lower():
        problems.append(Problem.password_is_email)
    return problems


def signup_problems(
    *, email: str | None, password: str, name: str, locale: str, min_length: int
) -> list[Problem]:
    problems: list[Problem] = []
    if email is None:
        problems.append(Problem.email_invalid)
    if not name.strip():
        problems.append(Problem.name_missing)
    elif len(name.strip()) > NAME_MAX:
        problems.append(Problem.name_too_long)
    if locale not in SUPPORTED_LOCALES:
        problems.append(Problem.locale_unsupported)
    problems += password_problems(password, email=email or "", min_length=min_length)
    return problems


# -- login throttling ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThrottlePolicy:
    """``max_failures`` free failures per ``window``; after that each failure locks the key
    for ``base_lock`` doubled per extra failure, capped at ``max_lock``."""

    max_failures: int
    window: timedelta
    base_lock: timedelta
    max_lock: timedelta


@dataclass(frozen=True, slots=True)
class ThrottleState:
    failures: int
    window_started_at: datetime
    locked_until: datetime | None


def retry_after(state: ThrottleState | None, now: datetime) -> int:
    """Seconds until the key may try again (0 when it may try now)."""
    if state is None or state.locked_until is None or state.locked_until <= now:
        return 0
    return max(1, math.ceil((state.locked_until - now).total_seconds()))


def after_failure(
    state: ThrottleState | None, now: datetime, policy: ThrottlePolicy
) -> ThrottleState:
    if state is None or now - state.window_started_at >= policy.window:
        failures, started = 1, now
    else:
        failures, started = state.failures + 1, state.window_started_at
    locked_until = None
    if failures >= policy.max_failures:
        extra = failures - policy.max_failures
        lock = min(policy.base_lock * (2 ** min(extra, 20)), policy.max_lock)
        locked_until = now + lock
    return ThrottleState(failures, started, locked_until)


# -- browser sessions ---------------------------------------------------------------------

TOUCH_INTERVAL = timedelta(minutes=1)  # write last_seen at most this often


def session_is_live(
    *, last_seen_at: datetime, expires_at: datetime, now: datetime, idle_timeout: timedelta
) -> bool:
    return now < expires_at and now - last_seen_at < idle_timeout


def needs_touch(last_seen_at: datetime, now: datetime) -> bool:
    return now - last_seen_at >= TOUCH_INTERVAL


def describe_user_agent(user_agent: str) -> str:
    """A short human label for the sessions list ("Chrome on Android")."""
    ua = user_agent.lower()
    browser = next(
        (
            label
            for needle, label in (
                ("edg/", "Edge"),
                ("firefox/", "Firefox"),
                ("chrome/", "Chrome"),
                ("chromium/", "Chromium"),
                ("safari/", "Safari"),
                ("curl/", "curl"),
            )
            if needle in ua
        ),
        "",
    )
    system = next(
        (
            label
            for needle, label in (
                ("android", "Android"),
                ("iphone", "iOS"),
                ("ipad", "iPadOS"),
                ("windows", "Windows"),
                ("mac os", "macOS"),
                ("linux", "Linux"),
            )
            if needle in ua
        ),
        "",
    )
    if browser and system:
        return f"{browser} · {system}"
    return browser or system or user_agent[:60] or "?"
