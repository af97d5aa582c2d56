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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, select

from identity.audit.merkle import leaf_hash, prove_record
from identity.audit.models import AuditCheckpointRow
from identity.audit.rules import Entry, timed_entry_bytes, timestamp
from identity.audit.store import ENTRY, ENTRY_COLUMNS, reader
from identity.db import Database

FORMAT = "identity-audit-export/1"
FORMATS = ("jsonl", "csv")
CSV_COLUMNS = ("type", "index", "at", "action", "actor", "subject", "details", "leaf", "proof")
PAGE = 5000  # rows per fetch from the server-side cursor


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
            found.append(ENTRY.c.at >= self.since)
        if self.until:
            found.append(ENTRY.c.at < self.until)
        if self.subject:
            found.append(ENTRY.c.subject == self.subject)
        if self.action:
            family = self.action.rstrip(".")
            found.append((ENTRY.c.action == family) | ENTRY.c.action.startswith(family + "."))
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


def entry_record(row: Sequence[Any], proof: list[bytes] | None) -> dict[str, object]:
    """An entry's record from its columns (:data:`~identity.audit.store.ENTRY_COLUMNS`): the
    export's per-entry path, so its time is written once and its details are not copied."""
    index, at, action, actor, subject, details = row
    when = timestamp(at)
    record: dict[str, object] = {
        "type": "entry",
        "index": index,
        "at": when,
        "action": action,
        "actor": actor,
        "subject": subject,
        "details": details,
        "leaf": _b64(timed_entry_bytes(index, when, action, actor, subject, details)),
    }
    if proof is not None:
        record["proof"] = [_b64(h) for h in proof]
    return record


def records(
    db: Database, checkpoint: AuditCheckpointRow, where: Filter
) -> Iterator[dict[str, object]]:
    """The export's records, header to checkpoint, streamed: Core rows from a server-side
    cursor, a page at a time."""
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
            select(*ENTRY_COLUMNS)
            .where(and_(ENTRY.c.leaf_index.is_not(None), ENTRY.c.leaf_index < size))
            .where(*where.conditions())
            .order_by(ENTRY.c.leaf_index)
            .execution_options(yield_per=PAGE)
        )
        read = reader(session)
        for row in session.execute(statement):
            yield entry_record(row, None if where.empty else prove_record(size, row[0], read))
    yield {"type": "checkpoint", "size": size, "note": checkpoint.note}


# One encoder for every line (``json.dumps`` with options makes one per call): the same text.
_line = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def jsonl(rows: Iterator[dict[str, object]]) -> Iterator[str]:
    for row in rows:
        yield _line(row) + "\n"


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
