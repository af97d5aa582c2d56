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
from dataclasses import replace
from typing import Protocol

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from identity.audit.sequencer import Sequenced
from identity.consent.ledger import RecordView
from identity.consent.models import FEED_HEAD_ID, ConsentFeedHead, ConsentRecord

RECORDED = "consent.recorded"
RECORD = ConsentRecord.__table__
HEAD = ConsentFeedHead.__table__
VIEW_COLUMNS = [RECORD.c[name] for name in (
    "id", "feed_seq", "subject", "purpose", "purpose_version", "decision", "pending", "source",
    "collected_at", "recorded_at", "expires_at", "language", "text_hash",
)]  # fmt: skip
# Built once (Core: no unit of work); each batch is one SELECT and two UPDATEs.
UNPLACED = select(*VIEW_COLUMNS).where(
    RECORD.c.id.in_(bindparam("ids", expanding=True)), RECORD.c.feed_seq.is_(None)
)
ADVANCE = (
    update(HEAD)
    .where(HEAD.c.id == FEED_HEAD_ID)
    .values(seq=HEAD.c.seq + bindparam("n"))
    .returning(HEAD.c.seq)
)
PLACE = update(RECORD).where(RECORD.c.id == bindparam("record")).values(feed_seq=bindparam("seq"))


class FeedListener(Protocol):
    def __call__(self, session: Session, records: Sequence[RecordView]) -> None:
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
        rows = {r.id: r for r in session.execute(UNPLACED, {"ids": ids})}
        unplaced = [rows[i] for i in ids if i in rows]
        if not unplaced:
            return
        # The head row's lock: only the sequencer moves it, one batch at a time.
        last = session.execute(ADVANCE, {"n": len(unplaced)}).scalar_one()
        first = last - len(unplaced) + 1
        placed = [replace(RecordView.of(row), cursor=first + n) for n, row in enumerate(unplaced)]
        session.execute(PLACE, [{"record": r.id, "seq": r.cursor} for r in placed])
        for listener in self._listeners:
            listener(session, placed)
