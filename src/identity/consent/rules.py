"""What a consent answer is, as pure functions (no database, no HTTP, ``now`` passed in).

``decide(purpose, state, now)`` answers one question: may we do this, for this customer, now?
Statuses in the current-state row: ``granted``, ``pending`` (double opt-in not confirmed yet),
``denied``, ``withdrawn``. Reasons in the answer:

=================== ======= ================================================================
reason              allowed when
=================== ======= ================================================================
granted             yes     consent given for this major version and not expired
contract            yes     necessary for the purchase (cannot be switched off)
legitimate_interest yes     legitimate interest, and the customer has not objected
default             policy  never asked; the purpose's default (always deny for consent)
not_asked           no      never asked, consent purpose
pending             no      granted, but the double opt-in link has not been used yet
denied              no      refused
withdrawn           no      granted once, then withdrawn
objected            no      legitimate interest objected to
expired             no      granted longer ago than ``expires_after_days``
stale               no      granted for an older major version: re-confirmation needed
=================== ======= ================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from identity.consent.policy import LegalBasis, Purpose, major_of

DECISIONS = ("granted", "denied", "withdrawn")
STATUSES = ("granted", "pending", "denied", "withdrawn")


@dataclass(frozen=True, slots=True)
class State:
    status: str
    purpose_version: str
    decided_at: datetime
    expires_at: datetime | None
    record_id: int
    source: str


@dataclass(frozen=True, slots=True)
class Answer:
    allowed: bool
    reason: str
    legal_basis: str
    version: str  # the purpose version the answer rests on
    current_version: str
    decided_at: datetime | None
    expires_at: datetime | None
    record_id: int | None
    status: str | None


def verdict(
    purpose: Purpose, status: str | None, version: str | None, expired: bool
) -> tuple[bool, str]:
    """``(allowed, reason)`` from the parts of a current-state row (``status`` None: no row).

    The table above as one function over plain values, so the batch path can apply it to a
    thousand rows without building objects per row; :func:`decide` is the same rule with
    the evidence attached. ``expired``: the row's grant has an expiry at or before now.
    """
    basis = purpose.legal_basis
    if basis is LegalBasis.contract:
        return True, "contract"
    if status is None:
        if basis is LegalBasis.legitimate_interest:
            return True, "legitimate_interest"
        return purpose.default, "default" if purpose.default else "not_asked"
    if basis is LegalBasis.legitimate_interest:
        refused = status in ("denied", "withdrawn")
        return not refused, "objected" if refused else "legitimate_interest"
    if status == "pending":
        return False, "pending"
    if status in ("denied", "withdrawn"):
        return False, status
    if major_of(version or purpose.version) < purpose.major:
        return False, "stale"
    if expired:
        return False, "expired"
    return True, "granted"


def decide(purpose: Purpose, state: State | None, now: datetime) -> Answer:
    if state is None:
        allowed, reason = verdict(purpose, None, None, False)
        return Answer(
            allowed=allowed,
            reason=reason,
            legal_basis=purpose.legal_basis.value,
            version=purpose.version,
            current_version=purpose.version,
            decided_at=None,
            expires_at=None,
            record_id=None,
            status=None,
        )
    expired = state.expires_at is not None and state.expires_at <= now
    allowed, reason = verdict(purpose, state.status, state.purpose_version, expired)
    return Answer(
        allowed=allowed,
        reason=reason,
        legal_basis=purpose.legal_basis.value,
        version=state.purpose_version,
        current_version=purpose.version,
        decided_at=state.decided_at,
        expires_at=state.expires_at,
        record_id=state.record_id,
        status=state.status,
    )


def needs_reconfirmation(purpose: Purpose, state: State | None, now: datetime) -> bool:
    """Grants the customer should confirm again (shown at the next sign-in)."""
    if state is None or purpose.legal_basis is not LegalBasis.consent:
        return False
    return decide(purpose, state, now).reason in ("stale", "expired")


def status_after(purpose: Purpose, decision: str, *, confirmed: bool) -> str:
    """The state a new record leads to; grants of double opt-in purposes wait for the link."""
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {', '.join(DECISIONS)}")
    if decision == "granted" and purpose.double_opt_in and not confirmed:
        return "pending"
    return decision


def expiry(purpose: Purpose, decision: str, decided_at: datetime) -> datetime | None:
    if decision != "granted" or purpose.expires_after_days is None:
        return None
    return decided_at + timedelta(days=purpose.expires_after_days)


def refusal_allowed(purpose: Purpose) -> bool:
    return purpose.switchable


def anonymous_decision_problem(purpose: Purpose, decision: str) -> str | None:
    """Why an anonymous visitor cannot make this decision, if they cannot: a double opt-in
    grant waits for a link mailed to the customer, and a visitor has no address to confirm
    (saying no needs no confirmation, and a merge carries it to the account)."""
    if decision == "granted" and purpose.double_opt_in:
        return "needs a confirmed address: an anonymous visitor can refuse it, not grant it"
    return None


def gpc_decision(purpose: Purpose, state: State | None) -> str | None:
    """What a Global Privacy Control signal changes for a sale/share purpose, if anything:
    nothing is recorded again when the customer already said no."""
    if purpose.category != "sale_or_share" or not purpose.switchable:
        return None
    if state is not None and state.status in ("denied", "withdrawn"):
        return None
    return "withdrawn" if state is not None and state.status in ("granted", "pending") else "denied"


def change_for(purpose: Purpose, state: State | None, want: bool, now: datetime) -> str | None:
    """The decision to record when a customer sets a purpose on or off; None: nothing changes.

    Turning on a stale or expired grant records a fresh grant; turning off a pending grant
    withdraws it; for legitimate interest, "off" is an objection and "on" lifts it.
    """
    if not purpose.switchable:
        return None
    status = state.status if state else None
    refused = status in ("denied", "withdrawn")
    if purpose.legal_basis is LegalBasis.legitimate_interest:
        if want:
            return "granted" if refused else None
        return None if refused else "denied"
    if want:
        if status == "pending" or decide(purpose, state, now).allowed:
            return None
        return "granted"
    if status in ("granted", "pending"):
        return "withdrawn"
    return None if refused else "denied"


def collected_at_problem(
    collected_at: datetime, now: datetime, *, max_age: timedelta, skew: timedelta
) -> str | None:
    """Why a reported decision time cannot be accepted, or None. It sets when a grant
    expires, so a date in the future would stretch it, and a very old one is not a live
    decision."""
    if collected_at > now + skew:
        return "must not be in the future"
    if collected_at < now - max_age:
        return f"must be within the last {max_age.days} days"
    return None
