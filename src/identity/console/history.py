"""A subject's consent as an officer sees it: the current decision per purpose (from the one
read model), every record newest first (from the ledger's own history), the anonymous ids
tied to it, and any record's signed receipt. Each look is recorded before it is shown."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from identity.audit.refs import Subject
from identity.consent.decisions import Decisions
from identity.consent.ledger import RecordView
from identity.consent.models import ConsentRecord
from identity.consent.policy import Purpose
from identity.consent.receipts import Receipts
from identity.consent.service import ConsentService
from identity.console.service import Console
from identity.db import Database
from identity.errors import NotFound
from identity.linking.service import Linking
from identity.settings import Settings
from identity.subjects.models import AnonymousSubject

RECORDS_SHOWN = 1000  # a page, not a dump: the audit export holds every record's entry


@dataclass(frozen=True)
class Tie:
    """An anonymous id and the account it is (or was) linked to."""

    visitor: str  # visitor:a:…
    account: str | None  # user:…
    client_id: str
    linked_at: datetime | None
    unlinked_at: datetime | None


@dataclass(frozen=True)
class SubjectHistory:
    ref: str  # user:… or visitor:a:…
    answers: list[tuple[Purpose, dict[str, Any]]]
    records: list[RecordView]  # newest first
    more: bool  # older records than these exist
    ties: list[Tie]


@dataclass(frozen=True)
class Receipt:
    record_id: int
    token: str  # the JWS


def consent_key(ref: str) -> str:
    """The stored consent subject a reference names (``user:<id>`` → the id)."""
    kind, _, key = ref.partition(":")
    if kind not in ("user", "visitor") or not key:
        raise NotFound("only accounts and anonymous visitors have consent")
    return key


class ConsentHistory:
    def __init__(
        self,
        *,
        db: Database,
        settings: Settings,
        console: Console,
        consent: ConsentService,
        decisions: Decisions,
        linking: Linking,
        receipts: Receipts,
    ) -> None:
        self._db = db
        self._settings = settings
        self._console = console
        self._consent = consent
        self._decisions = decisions
        self._linking = linking
        self._receipts = receipts

    def subject(self, officer: uuid.UUID, ref: str) -> SubjectHistory:
        """Everything about a subject's consent; recorded as ``officer.viewed_subject``."""
        key = consent_key(ref)
        records = self._consent.history(key, limit=RECORDS_SHOWN + 1)
        history = SubjectHistory(
            ref,
            self._decisions.answers_for(key),
            records[:RECORDS_SHOWN],
            len(records) > RECORDS_SHOWN,
            self._ties(ref, key),
        )
        self._console.record(officer, "officer.viewed_subject", Subject.parse(ref))
        return history

    def _ties(self, ref: str, key: str) -> list[Tie]:
        if ref.startswith("user:"):
            return [
                Tie(f"visitor:{link.key}", ref, link.client_id, link.linked_at, None)
                for link in self._linking.links_of(uuid.UUID(key))
            ]
        with self._db.read() as session:
            row = session.scalar(select(AnonymousSubject).where(AnonymousSubject.key == key))
        if row is None:
            return []
        account = f"user:{row.user_id}" if row.user_id else None
        return [Tie(ref, account, row.client_id, row.linked_at, row.unlinked_at)]

    def receipt(self, officer: uuid.UUID, record_id: int) -> Receipt:
        """Any record's signed consent receipt, as its customer would download it; recorded
        as ``officer.downloaded_receipt`` (raises :class:`NotFound`)."""
        with self._db.read() as session:
            record = session.get(ConsentRecord, record_id)
        if record is None:
            raise NotFound("no such consent record")
        token = self._receipts.token_for(record)
        subject = Subject.of_consent_subject(record.subject)
        self._console.record(
            officer, "officer.downloaded_receipt", subject, {"record_id": record_id}
        )
        return Receipt(record_id, token)
