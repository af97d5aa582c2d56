"""When a row can no longer answer anything, and may go (pure: times in, times out).

=====================  =========================================================================
rows                   go once
=====================  =========================================================================
browser sessions       past their idle or absolute timeout (``Sessions.purge_expired``)
authorization codes    expired more than ten code lifetimes ago (until then a replay is still
                       recognised, and revokes its grant: ``oidc.rules.codes_forgotten_before``)
refresh tokens         past their idle expiry (used or not: a replay of a rotated one is then
                       an unknown token, refused all the same), or their grant has ended
grants                 revoked or past their absolute lifetime for longer than the longest
                       token lifetime: no token naming them is still within its lifetime, and
                       a missing grant reads as a revoked one (``GrantStore.grant_is_live``)
revoked access tokens  past the token's own expiry (it no longer verifies anyway)
used assertion jtis    past the assertion's expiry (plus the minute of leeway it was given)
used single-use links  past the link's expiry (the signed link itself says it has expired)
login and mail         the window has passed and no lock is running: the row then counts
throttles              exactly as a missing one (``accounts.rules.after_failure``)
outbox messages        delivered or given up more than ``IDENTITY_OUTBOX_RETENTION`` ago
anonymous ids          past their lifetime: unlinked, their consent state dropped
                       (``Linking.expire``; the row and the records stay)
=====================  =========================================================================

Never touched: consent records (proof of each decision, with their receipts), the audit log,
signing keys (retired keys explain old signatures), accounts and clients (erasure and
``identity clients delete`` are decisions, not expiry).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from identity.oidc.rules import codes_forgotten_before


@dataclass(frozen=True, slots=True)
class Lifetimes:
    """The settings that say how long rows matter."""

    code_ttl: timedelta
    longest_token_ttl: timedelta  # access and ID tokens
    throttle_windows: Sequence[timedelta]  # every throttle policy's window
    outbox_retention: timedelta


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """Rows whose time is before (or at) these go; ``now`` for rows that carry their expiry."""

    now: datetime
    codes: datetime
    grants: datetime
    throttles: datetime
    outbox: datetime


def cutoffs(now: datetime, lifetimes: Lifetimes) -> Cutoffs:
    return Cutoffs(
        now=now,
        codes=codes_forgotten_before(now, lifetimes.code_ttl),
        grants=now - lifetimes.longest_token_ttl,
        # The longest window: a mail throttle's hour outlives a login throttle's minutes.
        throttles=now - max(lifetimes.throttle_windows, default=timedelta(0)),
        outbox=now - lifetimes.outbox_retention,
    )
