"""Appending to the audit log, inside the caller's transaction, without any shared lock.

An entry is one ``INSERT``: it exists if and only if the transaction that describes it
commits, and concurrent writers never wait for one another. Its place in the log (its leaf
index) is given later, by the sequencer, once it has committed (:mod:`.sequencer`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from identity.audit.models import AuditEntryRow
from identity.audit.refs import Actor, Subject
from identity.audit.rules import check_details
from identity.db import utcnow

WROTE_ENTRIES = "identity.audit.wrote_entries"  # in ``session.info``: wake the sequencer


def record(
    session: Session,
    action: str,
    *,
    actor: Actor,
    subject: Subject | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEntryRow:
    """Append one entry as part of ``session``'s transaction. Never put secrets, tokens,
    emails, names or raw IP addresses in ``details``: use ids and keyed hashes."""
    row = AuditEntryRow(
        at=utcnow(),
        action=action,
        actor=str(actor),
        subject=str(subject) if subject is not None else None,
        details=check_details(details or {}),
    )
    session.add(row)
    session.flush()
    session.info[WROTE_ENTRIES] = True
    return row
