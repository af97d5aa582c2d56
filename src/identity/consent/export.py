"""Every consent record matching a filter, each with its signed receipt: streamed, in constant
memory, and resumable (``identity consent export``; the officer console calls the same).

Records come in change-feed order (``feed_seq``, the cursor of ``/v1/consents/changes`` and of
webhooks), in keyset pages, each page its own short read: memory and transactions stay small
whatever the size, and no snapshot is held open for the length of an export. The feed is
gap-free (:mod:`identity.consent.feed`): a record placed after position N is placed after
every record at or below N, so "after N" is always exactly the rest. An export stops at the
feed's end as it was when it started, so it finishes while decisions keep coming; its last
line is the cursor to continue from. A record not placed yet (its audit entry waits for the
sequencer, which the command drains first) comes in a later export.

Each record carries its receipt, the JWS a customer downloads (:mod:`identity.consent.receipts`):
signed now, with the receipt key that signs now, verifiable against ``/receipts/jwks`` for as
long as it is kept. A record whose purpose file has since been removed has none (``null``).

Starting an export is an audit entry (``consent.exported``) naming the filter: who looked at
which records is what the log must show, whether or not the export ran to its end.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select

from identity import audit
from identity.audit.refs import Actor, Subject
from identity.consent.models import ConsentFeedHead, ConsentRecord
from identity.consent.policy import Catalog
from identity.consent.receipts import Receipts
from identity.db import Database, rfc3339

PAGE = 500
FORMATS = ("jsonl", "csv")
FIELDS = (
    "id", "subject", "purpose", "purpose_version", "decision", "pending", "source",
    "collected_at", "recorded_at", "expires_at", "language", "text_hash", "ip_hash",
    "user_agent", "evidence",
)  # fmt: skip
CSV_COLUMNS = ("type", "cursor", *FIELDS, "receipt", "count")


@dataclass(frozen=True, slots=True)
class ExportFilter:
    """Which records: every one given is required. Times are ``recorded_at``, the moment the
    record was written (``since`` included, ``until`` not); ``after`` is a cursor."""

    subject: str | None = None  # an account id, or an anonymous id's stored key ("a:...")
    purpose: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: int = 0

    def conditions(self) -> list[ColumnElement[bool]]:
        found = [ConsentRecord.feed_seq > self.after]
        if self.subject is not None:
            found.append(ConsentRecord.subject == self.subject)
        if self.purpose is not None:
            found.append(ConsentRecord.purpose == self.purpose)
        if self.since is not None:
            found.append(ConsentRecord.recorded_at >= self.since)
        if self.until is not None:
            found.append(ConsentRecord.recorded_at < self.until)
        return found

    def describe(self) -> dict[str, str | int]:
        """The filter as the audit entry keeps it (the subject is the entry's subject)."""
        values: dict[str, str | int | None] = {
            "purpose": self.purpose,
            "since": rfc3339(self.since) if self.since else None,
            "until": rfc3339(self.until) if self.until else None,
            "after": self.after or None,
        }
        return {k: v for k, v in values.items() if v is not None}


@dataclass(frozen=True, slots=True)
class ExportedRecord:
    cursor: int  # pass as ``after`` to continue after this record
    fields: dict[str, Any]
    receipt: str | None


@dataclass(frozen=True, slots=True)
class ExportEnd:
    count: int
    cursor: int  # every matching record up to here was exported: continue after it


ExportLine = ExportedRecord | ExportEnd


def record_fields(record: ConsentRecord) -> dict[str, Any]:
    """A record's stored facts, as JSON values (times in RFC 3339 UTC)."""
    values = {name: getattr(record, name) for name in FIELDS}
    return {k: rfc3339(v) if isinstance(v, datetime) else v for k, v in values.items()}


class ConsentExport:
    def __init__(
        self,
        *,
        db: Database,
        catalog: Catalog,
        receipts: Receipts,
        page_size: int = PAGE,
    ) -> None:
        self._db = db
        self._catalog = catalog
        self._receipts = receipts
        self._page = page_size

    def run(self, where: ExportFilter, *, actor: Actor) -> Iterator[ExportLine]:
        """Audit the export, then stream it: records, then one :class:`ExportEnd`."""
        with self._db.transaction() as session:
            head = session.get(ConsentFeedHead, 1)
            upto = head.seq if head is not None else 0
            audit.record(
                session,
                "consent.exported",
                actor=actor,
                subject=Subject.of_consent_subject(where.subject) if where.subject else None,
                details={**where.describe(), "upto": upto},
            )
        return self._lines(where, upto)

    def _lines(self, where: ExportFilter, upto: int) -> Iterator[ExportLine]:
        count, cursor = 0, where.after
        while True:
            query = (
                select(ConsentRecord)
                .where(*replace(where, after=cursor).conditions())
                .where(ConsentRecord.feed_seq <= upto)
                .order_by(ConsentRecord.feed_seq)
                .limit(self._page)
            )
            with self._db.read() as session:
                page = list(session.scalars(query))
            for record in page:
                count += 1
                cursor = int(record.feed_seq or 0)
                yield ExportedRecord(cursor, record_fields(record), self._receipt(record))
            if len(page) < self._page:
                yield ExportEnd(count, max(cursor, upto))
                return

    def _receipt(self, record: ConsentRecord) -> str | None:
        purpose = self._catalog.get(record.purpose)
        if purpose is None:
            return None
        return self._receipts.token_for(record)


# -- formats ------------------------------------------------------------------------------------


def jsonl(lines: Iterator[ExportLine]) -> Iterator[str]:
    """``{"type": "record", "cursor": N, <fields>, "receipt": JWS}`` per record, then
    ``{"type": "end", "count": N, "cursor": N}``."""
    for line in lines:
        if isinstance(line, ExportEnd):
            row: dict[str, Any] = {"type": "end", "count": line.count, "cursor": line.cursor}
        else:
            row = {"type": "record", "cursor": line.cursor, **line.fields, "receipt": line.receipt}
        yield json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"


# Spreadsheets run a cell that starts with one of these as a formula (OWASP "CSV injection"),
# and a record's source, user agent or evidence is text a client or a browser chose.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """One cell: ``""`` for null, JSON for structures, text neutralized against formulas
    (prefixed with ``'``: the JSONL export and the receipt keep the exact value)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_lines(lines: Iterator[ExportLine]) -> Iterator[str]:
    """RFC 4180 CSV with a header row; quoting and escaping by :mod:`csv`. The last row has
    ``type`` ``end``, the count and the cursor to continue from."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for line in lines:
        if isinstance(line, ExportEnd):
            cells = ["end", line.cursor, *([""] * (len(FIELDS) + 1)), line.count]
        else:
            values = [line.fields[name] for name in FIELDS]
            cells = ["record", line.cursor, *values, line.receipt, None]
        writer.writerow([csv_cell(c) for c in cells])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def formatted(lines: Iterator[ExportLine], fmt: str) -> Iterator[str]:
    return csv_lines(lines) if fmt == "csv" else jsonl(lines)
