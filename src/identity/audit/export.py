"""Exports of the log that an outsider verifies offline, with nothing but the published key.

An export is a header, the entries in log order and, last, the signed checkpoint they are
proved against (made when the export starts, so it covers every entry exported). A full
export holds every entry up to the checkpoint: a verifier recomputes the root. A filtered
export (by time, subject, action) carries each entry's inclusion proof. Two formats with the
same content: JSON Lines (``{"type": "header" | "entry" | "checkpoint", ...}``) and CSV (a
``type`` column, the checkpoint's note in the ``details`` column of the last row).

Entries are read through a server-side cursor: memory stays constant whatever the size.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, select

from identity.audit.merkle import leaf_hash, prove_record
from identity.audit.models import AuditCheckpointRow, AuditEntryRow
from identity.audit.rules import Entry, timestamp
from identity.audit.store import entry_of, reader
from identity.db import Database

FORMAT = "identity-audit-export/1"
FORMATS = ("jsonl", "csv")
CSV_COLUMNS = ("type", "index", "at", "action", "actor", "subject", "details", "leaf", "proof")


@dataclass(frozen=True)
class Filter:
    since: datetime | None = None
    until: datetime | None = None
    subject: str | None = None
    action: str | None = None  # an action ("login.failed") or a family ("login")

    @property
    def empty(self) -> bool:
        return not (self.since or self.until or self.subject or self.action)

    def conditions(self) -> list[object]:
        found: list[object] = []
        if self.since:
            found.append(AuditEntryRow.at >= self.since)
        if self.until:
            found.append(AuditEntryRow.at < self.until)
        if self.subject:
            found.append(AuditEntryRow.subject == self.subject)
        if self.action:
            family = self.action.rstrip(".")
            found.append(
                (AuditEntryRow.action == family) | AuditEntryRow.action.startswith(family + ".")
            )
        return found

    def describe(self) -> dict[str, str]:
        values = {
            "since": self.since and timestamp(self.since),
            "until": self.until and timestamp(self.until),
            "subject": self.subject,
            "action": self.action,
        }
        return {k: v for k, v in values.items() if v}


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def entry_record(entry: Entry, proof: list[bytes] | None) -> dict[str, object]:
    record: dict[str, object] = {
        "type": "entry",
        "index": entry.index,
        "at": timestamp(entry.at),
        "action": entry.action,
        "actor": entry.actor,
        "subject": entry.subject,
        "details": dict(entry.details),
        "leaf": _b64(entry.data()),
    }
    if proof is not None:
        record["proof"] = [_b64(h) for h in proof]
    return record


def records(
    db: Database, checkpoint: AuditCheckpointRow, where: Filter
) -> Iterator[dict[str, object]]:
    """The export's records, header to checkpoint, streamed."""
    size = checkpoint.size
    yield {
        "type": "header",
        "format": FORMAT,
        "size": size,
        "filter": where.describe(),
        "full": where.empty,
    }
    with db.read() as session:
        statement = (
            select(AuditEntryRow)
            .where(and_(AuditEntryRow.leaf_index.is_not(None), AuditEntryRow.leaf_index < size))
            .where(*where.conditions())
            .order_by(AuditEntryRow.leaf_index)
            .execution_options(yield_per=1000)
        )
        read = reader(session)
        for row in session.scalars(statement):
            entry = entry_of(row)
            proof = None if where.empty else prove_record(size, entry.index, read)
            yield entry_record(entry, proof)
    yield {"type": "checkpoint", "size": size, "note": checkpoint.note}


def jsonl(rows: Iterator[dict[str, object]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n"


def csv_lines(rows: Iterator[dict[str, object]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        if row["type"] == "header":
            cells = ["header", row["size"], "", "", "", "", json.dumps(row), "", ""]
        elif row["type"] == "checkpoint":
            cells = ["checkpoint", row["size"], "", "", "", "", row["note"], "", ""]
        else:
            proof = row.get("proof")
            cells = [
                "entry",
                row["index"],
                row["at"],
                row["action"],
                row["actor"],
                row["subject"] or "",
                json.dumps(row["details"], ensure_ascii=False, sort_keys=True),
                row["leaf"],
                " ".join(proof) if isinstance(proof, list) else "",
            ]
        writer.writerow(cells)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def lines(db: Database, checkpoint: AuditCheckpointRow, where: Filter, fmt: str) -> Iterator[str]:
    rows = records(db, checkpoint, where)
    return csv_lines(rows) if fmt == "csv" else jsonl(rows)


def leaf_of(record: dict[str, object]) -> bytes:
    """The leaf hash of an exported entry, recomputed from its fields (never trusted as given)."""
    return leaf_hash(entry_bytes_of(record))


def entry_bytes_of(record: dict[str, object]) -> bytes:
    entry = Entry(
        int(record["index"]),  # type: ignore[call-overload]
        datetime.fromisoformat(str(record["at"])),
        str(record["action"]),
        str(record["actor"]),
        None if record["subject"] in (None, "") else str(record["subject"]),
        record["details"],  # type: ignore[arg-type]
    )
    return entry.data()
