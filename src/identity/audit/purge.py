"""Purging the log's contents past retention (``identity audit purge``), recorded in the log.

Per family with a finite retention (:mod:`.retention`), one ``UPDATE`` clears the actor,
subject and details of the placed entries written before the cutoff and marks them purged;
the narrower families inside it keep theirs. The tree is not touched: an entry's stored leaf
hash proves it from then on, so checkpoints and proofs stay valid. The purge and the
``audit.purged`` entry recording it (per family: the cutoff, how many, the first and last
index) are one transaction, so no entry is ever purged without its record. Entries still
waiting for their place are left for the next purge: their leaf hash is not stored yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, true, update
from sqlalchemy.orm import Session

from identity.audit.models import AuditEntryRow
from identity.audit.refs import Actor
from identity.audit.retention import (
    PURGED,
    Family,
    PurgedRange,
    families,
    purge_details,
    purged_range,
)
from identity.audit.service import record
from identity.db import Database, utcnow

ENTRY = AuditEntryRow.__table__


@dataclass(frozen=True)
class PurgeReport:
    dry_run: bool
    ranges: tuple[PurgedRange, ...]

    def summary(self) -> dict[str, Any]:
        """What was purged (or, in a dry run, would be): the ``audit.purged`` details."""
        return {"dry_run": self.dry_run, **purge_details(self.ranges)}


def _in_family(family: str) -> ColumnElement[bool]:
    if family == "*":
        return true()
    action = ENTRY.c.action
    return or_(action == family, action.startswith(family + ".", autoescape=True))


def _due(family: Family, before: datetime) -> list[ColumnElement[bool]]:
    """The family's placed, unpurged entries written before ``before``."""
    return [
        ENTRY.c.leaf_index.is_not(None),
        ENTRY.c.purged_at.is_(None),
        ENTRY.c.at < before,
        _in_family(family.key),
        *(~_in_family(narrower) for narrower in family.narrower),
    ]


class Purger:
    def __init__(self, db: Database, policy: Mapping[str, timedelta | None]) -> None:
        self._db = db
        self._families = [f for f in families(policy) if f.keep is not None]

    def run(self, *, actor: Actor, dry_run: bool = False) -> PurgeReport:
        """Purge every family's entries past its retention, as ``actor``; in a dry run, only
        count them."""
        now = utcnow()
        if dry_run:
            with self._db.read() as session:
                return PurgeReport(True, tuple(self._count(session, now)))
        with self._db.transaction() as session:
            ranges = tuple(self._purge(session, now))
            if ranges:
                record(session, PURGED, actor=actor, details=purge_details(ranges))
        return PurgeReport(False, ranges)

    def _cutoffs(self, now: datetime) -> list[tuple[Family, datetime]]:
        return [(family, now - family.keep) for family in self._families if family.keep]

    def _count(self, session: Session, now: datetime) -> list[PurgedRange]:
        index = ENTRY.c.leaf_index
        found = []
        for family, before in self._cutoffs(now):
            counted = select(func.count(), func.min(index), func.max(index))
            count, first, last = session.execute(counted.where(*_due(family, before))).one()
            if count:
                found.append(PurgedRange(family.key, before, count, first, last, family.narrower))
        return found

    def _purge(self, session: Session, now: datetime) -> list[PurgedRange]:
        done = []
        for family, before in self._cutoffs(now):
            cleared = (
                update(ENTRY)
                .where(*_due(family, before))
                .values(actor="", subject=None, details={}, purged_at=now)
                .returning(ENTRY.c.leaf_index)
            )
            indexes = list(session.execute(cleared).scalars())
            if indexes:
                done.append(purged_range(family, before, indexes))
        return done
