"""The merge rules (pure): what an anonymous visitor's decision does to their account's.

A merge may only make the account more private, except that an anonymous decision fills a
purpose the account never decided. ``docs/linking.md`` has the table; in short:

=========================== ============================== =============================
account                     anonymous                      the account gets
=========================== ============================== =============================
never decided               granted, current and unexpired  granted (filled)
never decided               granted, stale or expired       nothing
never decided               pending (double opt-in)         nothing (it was never consent)
never decided               denied or withdrawn             the same (filled)
granted or pending          denied/withdrawn, made later    withdrawn (more private)
granted or pending          denied/withdrawn, made earlier  nothing (the account's is newer)
granted or pending          granted                         nothing
denied or withdrawn         anything                        nothing (never less private)
=========================== ============================== =============================

For a legitimate-interest purpose "denied" is an objection and "granted" lifts one; the same
table applies. Purposes that cannot be refused are never merged.
"""

from __future__ import annotations

from datetime import datetime

from identity.consent.policy import Purpose
from identity.consent.rules import State, decide

REFUSALS = ("denied", "withdrawn")


def merge_decision(
    purpose: Purpose, account: State | None, anonymous: State | None, now: datetime
) -> str | None:
    """The decision to record on the account, or None when the merge changes nothing."""
    if anonymous is None or not purpose.switchable:
        return None
    if account is None:
        if anonymous.status in REFUSALS:
            return anonymous.status
        if anonymous.status == "granted" and decide(purpose, anonymous, now).allowed:
            return "granted"
        return None
    if account.status in REFUSALS or anonymous.status not in REFUSALS:
        return None
    return "withdrawn" if anonymous.decided_at > account.decided_at else None
