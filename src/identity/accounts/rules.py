"""Account rules as pure functions: no database, no HTTP, no clock (``now`` is an argument)."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlencode

from email_validator import EmailNotValidError, validate_email

from identity.context import LOCALES

SUPPORTED_LOCALES = LOCALES
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
    password_missing = "password_missing"
    locale_unsupported = "locale_unsupported"
    phone_invalid = "phone_invalid"
    address_incomplete = "address_incomplete"
    country_invalid = "country_invalid"
    email_unchanged = "email_unchanged"


DEFAULT_DESTINATION = "/account"  # where a sign-in goes when nothing asked for somewhere else


def link_path(path: str, next_url: str | None = None, **params: str) -> str:
    """``path`` with its query: ``params``, then ``next`` when it leads somewhere other than
    the default. ``next_url`` must already be a checked same-site path (pages check it with
    ``safe_next`` when it arrives, and again when it comes back from a mailed link)."""
    onward = next_url and next_url != DEFAULT_DESTINATION
    query = {**params, **({"next": next_url} if onward else {})}
    return f"{path}?{urlencode(query)}" if query else path


def normalize_email(raw: str) -> str | None:
    """The canonical form used for lookups (lower case, IDNA domain), or None when invalid."""
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError:
        return None
    return result.normalized.lower()


def login_form_problems(email: str, password: str) -> list[Problem]:
    """What the sign-in form lacks before any account is looked up (the format only)."""
    problems = []
    if normalize_email(email) is None:
        problems.append(Problem.email_invalid)
    if not password:
        problems.append(Problem.password_missing)
    return problems


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


@dataclass(frozen=True, slots=True)
class Profile:
    """What a customer may edit about themselves; empty strings mean "not given"."""

    name: str
    locale: str
    phone_number: str = ""
    street_address: str = ""
    locality: str = ""
    postal_code: str = ""
    country: str = ""

    def address(self) -> dict[str, str] | None:
        """The OpenID Connect ``address`` claim value (Core §5.1.1), or None when empty."""
        fields = {
            "street_address": self.street_address.strip(),
            "locality": self.locality.strip(),
            "postal_code": self.postal_code.strip(),
            "country": self.country.strip().upper(),
        }
        return {k: v for k, v in fields.items() if v} or None


PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{5,30}$")


def name_problems(name: str) -> list[Problem]:
    if not name.strip():
        return [Problem.name_missing]
    if len(name.strip()) > NAME_MAX:
        return [Problem.name_too_long]
    return []


def profile_problems(profile: Profile, countries: Collection[str]) -> list[Problem]:
    """What is wrong with ``profile``; ``countries`` are the ISO 3166-1 codes accepted."""
    problems = name_problems(profile.name)
    if profile.locale not in SUPPORTED_LOCALES:
        problems.append(Problem.locale_unsupported)
    if profile.phone_number.strip() and not PHONE.match(profile.phone_number.strip()):
        problems.append(Problem.phone_invalid)
    address = profile.address()
    if address and not {"street_address", "locality", "country"} <= set(address):
        problems.append(Problem.address_incomplete)
    if profile.country.strip() and profile.country.strip().upper() not in countries:
        problems.append(Problem.country_invalid)
    if any(len(v) > 200 for v in (profile.street_address, profile.locality, profile.postal_code)):
        problems.append(Problem.address_incomplete)
    return problems


def signup_problems(
    *, email: str | None, password: str, name: str, locale: str, min_length: int
) -> list[Problem]:
    problems: list[Problem] = []
    if email is None:
        problems.append(Problem.email_invalid)
    problems += name_problems(name)
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


def with_method(amr: str, method: str) -> str:
    """Space-separated authentication methods (RFC 8176) with ``method`` added once, in the
    order they were proven ("pwd" then "otp")."""
    methods = amr.split()
    return " ".join([*methods, method] if method not in methods else methods)


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


# -- self-service: new devices, a change of address ----------------------------------------


def alerts_new_device(*, device_known: bool, devices_known: int) -> bool:
    """Whether a sign-in mails a new-device alert: a browser this account has not signed in
    from before, on an account that has signed in from somewhere already. An account's first
    sign-in (right after sign-up, or its first since alerts exist) only teaches us the device:
    an alert then would be about the shopper's own first visit."""
    return not device_known and devices_known > 0


BINDING_DIGEST = 24  # hex characters of the digest that starts an email-change binding


def email_change_binding(*, current_email: str, password_hash: str, new_email: str) -> str:
    """What a change-of-address link is bound to: a digest of the address and password as
    they were when it was asked for, then the new address. Once the address changes (this
    link used, or another one) or the password does, the digest no longer matches: the link
    is dead, with no table of outstanding links to clean up."""
    digest = hashlib.sha256(f"{current_email}\n{password_hash}".encode()).hexdigest()
    return f"{digest[:BINDING_DIGEST]}:{new_email}"


def new_email_of(binding: str) -> str | None:
    """The new address an email-change binding carries (None: not such a binding)."""
    digest, colon, email = binding.partition(":")  # hex has no colon: the first one ends it
    if not colon or len(digest) != BINDING_DIGEST or normalize_email(email) != email:
        return None
    return email


def email_change_problems(new_email: str | None, current_email: str) -> list[Problem]:
    """``new_email`` is the normalised form (None: not a valid address)."""
    if new_email is None:
        return [Problem.email_invalid]
    if new_email == current_email:
        return [Problem.email_unchanged]
    return []


# -- disabled accounts ----------------------------------------------------------------------

REASON_MAX = 200


def disable_reason_problem(reason: str) -> str | None:
    """Why a reason for disabling an account is refused (None: it is fine).

    The reason is kept with the account and in the audit log, which is never rewritten, so
    it must say *why* (a ticket number, "chargeback fraud"), never *who*: an email address in
    it would outlive the account's erasure."""
    text = reason.strip()
    if not text:
        return "give a reason (a ticket number, a short why)"
    if len(text) > REASON_MAX:
        return f"keep the reason under {REASON_MAX} characters"
    if "@" in text or any(not c.isprintable() for c in text):
        return "the reason goes in the audit log forever: no email addresses or control characters"
    return None
