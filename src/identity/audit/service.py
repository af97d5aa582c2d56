"""Appending to the audit log, inside the caller's transaction, without any shared lock.

An entry is one ``INSERT``: it exists if and only if the transaction that describes it
commits, and concurrent writers never wait for one another. Its place in the log (its leaf
index) is given later, by the sequencer, once it has committed (:mod:`.sequencer`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from identity.audit.models import AuditEntryRow
from identity.audit.refs import Actor, Subject
from identity.audit.rules import check_details
from identity.db import utcnow

WROTE_ENTRIES = "identity.audit.wrote_entries"  # in ``session.info``: wake the sequencer
INSERT_ENTRY = insert(AuditEntryRow.__table__)  # built once; values come per call


def record(
    session: Session,
    action: str,
    *,
    actor: Actor,
    subject: Subject | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Append one entry as part of ``session``'s transaction. Never put secrets, tokens,
    emails, names or raw IP addresses in ``details``: use ids and keyed hashes.

    One plain ``INSERT`` (no ORM unit of work: every write of the product comes here)."""
    if session.new or session.dirty or session.deleted:
        session.flush()  # what the transaction wrote so far goes first, as it happened
    session.execute(
        INSERT_ENTRY,
        {
            "at": utcnow(),
            "action": action,
            "actor": str(actor),
            "subject": str(subject) if subject is not None else None,
            "details": check_details(details or {}),
        },
    )
    session.info[WROTE_ENTRIES] = True
