"""The consent change feed: ordered, resumable, no gaps, no duplicates, in the log's order.

Writers append records without any shared lock; a record gets its feed position
(``feed_seq``) when the audit sequencer gives its ``consent.recorded`` entry a place in the
log, in the same transaction, from a counter only the sequencer moves. A reader paging with
``feed_seq > cursor`` therefore never sees position N+1 before N, and never misses a record
that committed late: it simply gets a later position. Webhooks are queued here too, so their
``cursor`` is always set and they follow the feed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.audit.sequencer import Sequenced
from identity.consent.models import FEED_HEAD_ID, ConsentFeedHead, ConsentRecord

RECORDED = "consent.recorded"


class FeedListener(Protocol):
    def __call__(self, session: Session, records: Sequence[ConsentRecord]) -> None:
        """Called with records in feed order, in the transaction that placed them."""


class ConsentFeed:
    def __init__(self, listeners: Sequence[FeedListener] = ()) -> None:
        self._listeners = tuple(listeners)

    def on_sequenced(self, session: Session, entries: Sequence[Sequenced]) -> None:
        """The sequencer's listener: place the records of these entries in the feed."""
        ids = [
            int(e.details["record_id"])
            for e in entries
            if e.action == RECORDED and isinstance(e.details.get("record_id"), int)
        ]
        if not ids:
            return
        rows = {
            r.id: r
            for r in session.scalars(
                select(ConsentRecord).where(
                    ConsentRecord.id.in_(ids), ConsentRecord.feed_seq.is_(None)
                )
            )
        }
        placed = [rows[i] for i in ids if i in rows]
        if not placed:
            return
        head = session.execute(
            select(ConsentFeedHead).where(ConsentFeedHead.id == FEED_HEAD_ID).with_for_update()
        ).scalar_one()
        for record in placed:
            head.seq += 1
            record.feed_seq = head.seq
        session.flush()
        for listener in self._listeners:
            listener(session, placed)
