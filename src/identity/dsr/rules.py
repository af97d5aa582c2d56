"""Data subject requests as pure functions: deadlines, the grace period, re-authentication,
the officer's reason, and what personal data looks like to the scrubber (no I/O).

Two kinds of request (GDPR): ``access`` (Art. 15, and Art. 20's machine-readable copy) and
``erasure`` (Art. 17). Each is answered within one month of being received (Art. 12(3)): that
is its ``due_at``. An erasure the customer asks for waits out a grace period first
(``IDENTITY_ERASURE_GRACE``), during which they can cancel it: that is its ``scheduled_for``.

=========== =========== =====================================================================
status      kinds       meaning
=========== =========== =====================================================================
pending     erasure     asked for; executed once ``scheduled_for`` has passed (``dsr run``)
cancelled   erasure     the customer (or an officer) withdrew it before it ran
done        both        answered: the export was handed over, or the account was erased
=========== =========== =====================================================================
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

EXPORT_FORMAT = "identity.dsr.export/1"  # bumped whenever a section changes shape
ACCESS, ERASURE = "access", "erasure"
KINDS = (ACCESS, ERASURE)
PENDING, CANCELLED, DONE = "pending", "cancelled", "done"
STATUSES = (PENDING, CANCELLED, DONE)

# A sign-in older than this must be confirmed with the password before an export or erasure:
# a session left open on a shared computer must not hand over, or destroy, the account.
RECENT_SIGN_IN = timedelta(minutes=5)
REASON_MAX = 500
ERASED = "[erased]"  # what a scrubbed value reads afterwards
# Evidence keys whose values are personal whatever they hold (services' free-form evidence).
PERSONAL_KEYS = frozenset(
    {"email", "e_mail", "mail", "name", "full_name", "first_name", "last_name", "phone",
     "phone_number", "mobile", "telephone", "address", "street", "street_address"}
)  # fmt: skip
EMAIL_LIKE = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
MIN_PERSONAL = 4  # shorter strings ("ES", "12") would scrub half of every record


@dataclass(frozen=True, slots=True)
class Schedule:
    requested_at: datetime
    scheduled_for: datetime  # not executed before (the grace period; = requested for officers)
    due_at: datetime  # the legal deadline (one month, Art. 12(3))


def one_month_after(moment: datetime) -> datetime:
    """The same day of the next month, or its last day when it has none (31 Jan → 28/29 Feb),
    as "within one month" is counted."""
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def schedule(requested_at: datetime, grace: timedelta) -> Schedule:
    """When a request runs and when it is due. The grace period never pushes execution past
    the legal deadline."""
    due = one_month_after(requested_at)
    return Schedule(requested_at, min(requested_at + grace, due), due)


def is_due(status: str, scheduled_for: datetime | None, now: datetime) -> bool:
    return status == PENDING and scheduled_for is not None and scheduled_for <= now


def is_overdue(status: str, due_at: datetime, now: datetime) -> bool:
    return status == PENDING and due_at < now


def needs_password(auth_time: datetime, now: datetime, window: timedelta = RECENT_SIGN_IN) -> bool:
    """Whether the session's sign-in is too old to export or erase without the password."""
    return now - auth_time > window


class Queued(Protocol):
    """What the queue orders by (the officer console's rows carry more)."""

    @property
    def status(self) -> str: ...

    @property
    def due_at(self) -> datetime: ...


Q = TypeVar("Q", bound=Queued)


def queue_order(requests: Iterable[Q]) -> list[Q]:
    """Pending requests first, then the rest; each oldest deadline first."""
    return sorted(requests, key=lambda r: (r.status != PENDING, r.due_at))


def personal_values(
    email: str, name: str, phone: str | None, address: Mapping[str, Any] | None
) -> tuple[str, ...]:
    """The customer's own strings that must not outlive their account (for scrubbing free-form
    evidence and for refusing them in an officer's reason). Short fragments are left out:
    a two-letter country code would match anything."""
    values = [email, name, phone or "", " ".join((phone or "").split())]
    values += [str(v) for k, v in (address or {}).items() if k != "country"]
    seen: list[str] = []
    for value in (v.strip() for v in values):
        if len(value) >= MIN_PERSONAL and value.lower() not in (s.lower() for s in seen):
            seen.append(value)
    return tuple(seen)


def contains_personal(text: str, personal: Sequence[str]) -> bool:
    lowered = text.lower()
    return bool(EMAIL_LIKE.search(text)) or any(p.lower() in lowered for p in personal)


def scrub(value: Any, personal: Sequence[str]) -> Any:
    """``value`` (JSON-like) with every personal string replaced by ``[erased]``: values under
    a personal key (``email``, ``name``, ``phone``...), strings holding one of ``personal``
    and strings holding an email address. Everything else (ids, counts, flags) stays."""
    if isinstance(value, Mapping):
        return {
            k: ERASED
            if str(k).lower() in PERSONAL_KEYS and v not in (None, "")
            else scrub(v, personal)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(v, personal) for v in value]
    if isinstance(value, str) and contains_personal(value, personal):
        return ERASED
    return value


def reason_problem(reason: str, personal: Sequence[str]) -> str | None:
    """Why an officer's reason cannot be kept, or None. It is stored in the tombstone and the
    audit log, which outlive the account: it must not name the customer."""
    text = reason.strip()
    if not text:
        return "a reason is required"
    if len(text) > REASON_MAX:
        return f"the reason is longer than {REASON_MAX} characters"
    if contains_personal(text, personal):
        return "the reason must not contain an email address or the customer's details"
    return None


def may_cancel(kind: str, status: str) -> bool:
    return kind == ERASURE and status == PENDING
