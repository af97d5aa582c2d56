"""Exports of the log that an outsider verifies offline, with nothing but the published key.

An export is a header, the entries in log order and, last, the signed checkpoint they are
proved against (made when the export starts, so it covers every entry exported). A full
export holds every entry up to the checkpoint: a verifier recomputes the root. A filtered
export (by time, subject, action) carries each entry's inclusion proof. An entry purged past
its retention is exported as ``purged``: its index, time, action and stored leaf hash, which
stands for its bytes in the tree and in its proof. Two formats with the same content: JSON
Lines (``{"type": "header" | "entry" | "purged" | "checkpoint", ...}``) and CSV (a ``type``
column, a purged entry's leaf hash in the ``leaf`` column, the checkpoint's note in the
``details`` column of the last row).

Entries are read through a server-side cursor: memory stays constant whatever the size.
"""

from __future__ import annotations

import csv
import io
import json
from binascii import b2a_base64
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from json.encoder import encode_basestring as _quote
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from identity.audit.merkle import HashReader, leaf_hash, prove_record
from identity.audit.models import AuditCheckpointRow
from identity.audit.rules import (
    Entry,
    PurgedEntry,
    details_text,
    entry_text,
    quoted,
    timestamp,
)
from identity.audit.store import ENTRY, ENTRY_COLUMNS, PURGED_AT, leaf_hashes, reader
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
    return b2a_base64(raw, newline=False).decode()


Row = Sequence[Any]  # an entry's columns (:data:`COLUMNS`)
Proved = tuple[Row | PurgedEntry, list[bytes] | None]  # and its proof, in a filtered export
COLUMNS = (*ENTRY_COLUMNS, PURGED_AT)


def entries(db: Database, size: int, where: Filter) -> Iterator[Proved]:
    """The entries of the tree of ``size`` that ``where`` selects, in log order, streamed:
    Core rows from a server-side cursor, a page at a time; proofs only when filtered. A
    purged entry comes as a :class:`PurgedEntry`, with its stored leaf hash (one query per
    page for all of them)."""
    with db.read() as session:
        statement = (
            select(*COLUMNS)
            .where(and_(ENTRY.c.leaf_index.is_not(None), ENTRY.c.leaf_index < size))
            .where(*where.conditions())
            .order_by(ENTRY.c.leaf_index)
            .execution_options(yield_per=PAGE)
        )
        read = None if where.empty else reader(session)
        page: list[Row] = []
        for row in session.execute(statement):
            page.append(row)
            if len(page) == PAGE:
                yield from _proved(session, page, size, read)
                page = []
        yield from _proved(session, page, size, read)


def _proved(
    session: Session, rows: list[Row], size: int, read: HashReader | None
) -> Iterator[Proved]:
    purged = [row[0] for row in rows if row[6] is not None]
    leaves = leaf_hashes(session, purged) if purged else {}
    for row in rows:
        index = row[0]
        entry = (
            row if row[6] is None else PurgedEntry(index, row[1], row[2], leaves.get(index, b""))
        )
        yield entry, None if read is None else prove_record(size, index, read)


def _encoded(row: Row) -> tuple[str, str, str, str, str, str]:
    """An entry's time, its action, actor, subject and details as JSON text, and base64 of
    its entry bytes: each part encoded once, for the leaf and for the line alike."""
    index, at, action, actor, subject, details, _ = row
    when, action, actor = timestamp(at), _quote(action), _quote(actor)
    subject, details = quoted(subject), details_text(details)
    leaf = _b64(entry_text(index, when, action, actor, subject, details).encode())
    return when, action, actor, subject, details, leaf


def _proof(proof: list[bytes] | None) -> str:
    return "" if proof is None else ',"proof":[' + ",".join(f'"{_b64(h)}"' for h in proof) + "]"


def jsonl_entry(row: Row | PurgedEntry, proof: list[bytes] | None) -> str:
    """``{"type":"entry","index":…,"at":…,"action":…,"actor":…,"subject":…,"details":…,
    "leaf":…[,"proof":[…]]}``: the JSON a line encoder would write for that record (the
    details with their keys sorted), from the parts already encoded. A purged entry:
    ``{"type":"purged","index":…,"at":…,"action":…,"leaf_hash":…[,"proof":[…]]}``."""
    if type(row) is PurgedEntry:
        return (
            f'{{"type":"purged","index":{row.index},"at":"{timestamp(row.at)}",'
            f'"action":{_quote(row.action)},"leaf_hash":"{_b64(row.leaf)}"{_proof(proof)}}}\n'
        )
    when, action, actor, subject, details, leaf = _encoded(row)
    return (
        f'{{"type":"entry","index":{int(row[0])},"at":"{when}","action":{action},"actor":'
        f'{actor},"subject":{subject},"details":{details},"leaf":"{leaf}"{_proof(proof)}}}\n'
    )


def csv_entry(row: Row | PurgedEntry, proof: list[bytes] | None) -> list[object]:
    """A CSV row; a purged entry's has the leaf hash in the ``leaf`` column."""
    proved = " ".join(_b64(h) for h in proof) if proof is not None else ""
    if type(row) is PurgedEntry:
        at, leaf = timestamp(row.at), _b64(row.leaf)
        return ["purged", row.index, at, row.action, "", "", "", leaf, proved]
    when, _, _, _, details, leaf = _encoded(row)
    index, _, action, actor, subject, _, _ = row
    return ["entry", index, when, action, actor, subject or "", details, leaf, proved]


# One encoder for the header and the checkpoint (``json.dumps`` with options makes one per call).
_line = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def jsonl(
    header: dict[str, object], rows: Iterable[Proved], end: dict[str, object]
) -> Iterator[str]:
    yield _line(header) + "\n"
    page: list[str] = []
    for row, proof in rows:
        page.append(jsonl_entry(row, proof))
        if len(page) == 256:  # one write per few hundred lines, not one per line
            yield "".join(page)
            page.clear()
    yield "".join(page) + _line(end) + "\n"


def csv_lines(
    header: dict[str, object], rows: Iterable[Proved], end: dict[str, object]
) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerow(["header", header["size"], "", "", "", "", json.dumps(header), "", ""])
    for row, proof in rows:
        writer.writerow(csv_entry(row, proof))
        if buffer.tell() > 65536:  # a few hundred rows per write
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    writer.writerow(["checkpoint", end["size"], "", "", "", "", end["note"], "", ""])
    yield buffer.getvalue()


def lines(db: Database, checkpoint: AuditCheckpointRow, where: Filter, fmt: str) -> Iterator[str]:
    """The export, header to checkpoint, as text to write."""
    size = checkpoint.size
    header: dict[str, object] = {
        "type": "header",
        "format": FORMAT,
        "size": size,
        "filter": where.describe(),
        "full": where.empty,
    }
    end: dict[str, object] = {"type": "checkpoint", "size": size, "note": checkpoint.note}
    write = csv_lines if fmt == "csv" else jsonl
    return write(header, entries(db, size, where), end)


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
