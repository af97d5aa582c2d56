"""How long the audit log keeps what its entries say, per event family, and what verification
accepts as purged (pure: no I/O).

A *family* is an action (``login.failed``) or a prefix of actions at a dot (``login`` covers
``login.failed`` and ``login.succeeded``, not ``loginx``); ``*`` covers every action. An action
belongs to the most specific family that covers it, so ``{"login": 395 days, "login.failed":
forever}`` keeps failed sign-ins and purges the others. A family is kept for a duration or
forever (None); the log's own entries (``audit.*``: its keys, its purges) are always kept.

Purging an entry clears what it says about whom (actor, subject, details) and keeps what the
log needs to prove it: its place, its time, its action and its stored leaf hash, so the tree,
the checkpoints and every proof stay as they were. Each purge is itself an entry,
``audit.purged``, naming per family the cutoff, how many entries it purged, the first and last
of their indexes and the narrower families it left alone (:func:`purge_details`); verification
accepts a purged entry only where such a record covers it (:class:`PurgeRecords`), so contents
cleared by hand, outside a purge, show.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from identity.audit.rules import timestamp

PURGED = "audit.purged"  # the action of the entry that records a purge
KEPT = "audit"  # the log's own family, never purged


def covers(family: str, action: str) -> bool:
    return family == "*" or action == family or action.startswith(family + ".")


@dataclass(frozen=True, slots=True)
class Family:
    """A family's retention (None: forever) and the narrower families inside it, which keep
    their own entries by their own retention."""

    key: str
    keep: timedelta | None
    narrower: tuple[str, ...]

    def holds(self, action: str) -> bool:
        """Whether ``action`` belongs to this family and to none narrower."""
        return covers(self.key, action) and not any(covers(n, action) for n in self.narrower)


def families(policy: Mapping[str, timedelta | None]) -> list[Family]:
    """The policy's families, each with the narrower ones it must leave alone; the log's own
    family is added, kept forever."""
    keep = {**policy, KEPT: None}
    return [
        Family(key, keep[key], tuple(n for n in sorted(keep) if n != key and _inside(n, key)))
        for key in sorted(keep)
    ]


def _inside(narrower: str, family: str) -> bool:
    return narrower != "*" and (family == "*" or narrower.startswith(family + "."))


def family_of(action: str, policy: Mapping[str, timedelta | None]) -> str | None:
    """The family ``action`` belongs to, or None when no family covers it."""
    for family in families(policy):
        if family.holds(action):
            return family.key
    return None


@dataclass(frozen=True, slots=True)
class PurgedRange:
    """What one purge did to one family: ``count`` entries written before ``before``, their
    indexes from ``first`` to ``last`` (the narrower families' entries between them kept)."""

    family: str
    before: datetime
    count: int
    first: int
    last: int
    narrower: tuple[str, ...] = ()


def purged_range(family: Family, before: datetime, indexes: Sequence[int]) -> PurgedRange:
    return PurgedRange(
        family.key, before, len(indexes), min(indexes), max(indexes), family.narrower
    )


def purge_details(ranges: Sequence[PurgedRange]) -> dict[str, Any]:
    """The details of the ``audit.purged`` entry that records a purge."""
    recorded: dict[str, Any] = {}
    for r in ranges:
        recorded[r.family] = {
            "before": timestamp(r.before),
            "count": r.count,
            "first": r.first,
            "last": r.last,
        }
        if r.narrower:
            recorded[r.family]["kept"] = list(r.narrower)
    return {"entries": sum(r.count for r in ranges), "families": recorded}


class PurgeRecords:
    """Where the recorded purges reached, from their ``audit.purged`` entries' details: per
    family (with the narrower families it left alone), index spans, merged."""

    def __init__(self) -> None:
        self._spans: dict[tuple[str, tuple[str, ...]], list[tuple[int, int]]] = {}
        self._merged: dict[tuple[str, tuple[str, ...]], tuple[list[int], list[int]]] = {}

    def add(self, details: Any) -> None:
        """One purge's details; anything malformed is ignored (an edited ``audit.purged``
        entry fails verification as an entry)."""
        recorded = details.get("families") if isinstance(details, Mapping) else None
        for family, span in (recorded or {}).items() if isinstance(recorded, Mapping) else ():
            if not isinstance(span, Mapping):
                continue
            first, last, kept = span.get("first"), span.get("last"), span.get("kept") or []
            if type(first) is int and type(last) is int and isinstance(kept, list):
                key = (str(family), tuple(str(n) for n in kept))
                self._spans.setdefault(key, []).append((first, last))
                self._merged.clear()

    def covers(self, index: int, action: str) -> bool:
        """Whether a recorded purge of ``action``'s family reached entry ``index``."""
        if not self._merged:
            self._merged = {key: _merge(spans) for key, spans in self._spans.items()}
        for (family, kept), (starts, ends) in self._merged.items():
            if covers(family, action) and not any(covers(n, action) for n in kept):
                at = bisect_right(starts, index) - 1
                if at >= 0 and ends[at] >= index:
                    return True
        return False


def _merge(spans: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """Sorted, disjoint spans covering the same indexes, as their starts and their ends."""
    starts: list[int] = []
    ends: list[int] = []
    for first, last in sorted(spans):
        if ends and first <= ends[-1] + 1:
            ends[-1] = max(ends[-1], last)
        else:
            starts.append(first)
            ends.append(last)
    return starts, ends
