"""Verifying an export file offline: no database, only the log's published verifier key.

Two passes over the file, constant memory: the first finds the signed checkpoint at its end
and opens it with the key; the second recomputes every entry's bytes from its fields, and
either rebuilds the whole tree (a full export: the root must be the checkpoint's) or checks
each entry's inclusion proof against the checkpoint (a filtered export).
"""

from __future__ import annotations

import base64
import csv
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from identity.audit.export import CSV_COLUMNS, FORMAT, entry_bytes_of
from identity.audit.merkle import Frontier, MerkleError, check_record, leaf_hash
from identity.audit.notes import Checkpoint, NoteError, NoteVerifier, open_checkpoint
from identity.audit.rules import Problem, problem
from identity.audit.verify import VerifyResult


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The export's records, JSON Lines or CSV (told apart by the first line)."""
    with path.open(encoding="utf-8", newline="") as f:
        first = f.readline()
        if first.strip() == ",".join(CSV_COLUMNS):
            yield from (_from_csv(row) for row in csv.DictReader(f, fieldnames=CSV_COLUMNS))
            return
        for line in [first, *f]:
            if line.strip():
                yield json.loads(line)


def _from_csv(row: dict[str, str]) -> dict[str, Any]:
    kind = row["type"]
    if kind == "header":
        return dict(json.loads(row["details"]))
    if kind == "checkpoint":
        return {"type": "checkpoint", "size": int(row["index"]), "note": row["details"]}
    return {
        "type": "entry",
        "index": int(row["index"]),
        "at": row["at"],
        "action": row["action"],
        "actor": row["actor"],
        "subject": row["subject"] or None,
        "details": json.loads(row["details"]),
        "leaf": row["leaf"],
        "proof": row["proof"].split() if row["proof"] else None,
    }


def _checkpoint(
    path: Path, verifiers: Sequence[NoteVerifier], origin: str
) -> tuple[dict[str, Any], Checkpoint] | Problem:
    header: dict[str, Any] | None = None
    last: dict[str, Any] | None = None
    for record in read_records(path):
        header = header or record
        last = record
    if not header or header.get("type") != "header" or header.get("format") != FORMAT:
        return Problem(0, "format", f"not an export of this log ({FORMAT})")
    if not last or last.get("type") != "checkpoint":
        return problem("truncated", 0)
    try:
        return header, open_checkpoint(str(last["note"]), verifiers, origin=origin)
    except NoteError:
        return Problem(
            int(last.get("size", 0)), "checkpoint", "the checkpoint is not signed by the log"
        )


def verify_file(path: Path, verifiers: Sequence[NoteVerifier], origin: str) -> VerifyResult:
    """Verify an export against the log's verifier key; the first problem found, if any."""
    opened = _checkpoint(path, verifiers, origin)
    if isinstance(opened, Problem):
        return VerifyResult(0, 0, opened)
    header, checkpoint = opened
    frontier, checked = Frontier(), 0
    for record in read_records(path):
        if record.get("type") != "entry":
            continue
        index = int(record["index"])
        data = entry_bytes_of(record)
        if base64.b64decode(str(record["leaf"])) != data:
            return VerifyResult(checked, 0, problem("edited", index))
        if header.get("full"):
            if index != frontier.size:
                return VerifyResult(checked, 0, problem("deleted", frontier.size))
            frontier.append(leaf_hash(data))
        else:
            try:
                proof = [base64.b64decode(h) for h in record.get("proof") or []]
                check_record(proof, checkpoint.size, checkpoint.root_hash, index, leaf_hash(data))
            except (MerkleError, ValueError):
                return VerifyResult(checked, 0, problem("edited", index))
        checked += 1
    if header.get("full"):
        if frontier.size != checkpoint.size:
            return VerifyResult(checked, 1, problem("truncated", frontier.size))
        if frontier.root() != checkpoint.root_hash:
            size = checkpoint.size
            return VerifyResult(
                checked,
                0,
                Problem(size, "checkpoint", f"the entries do not hash to checkpoint {size}"),
            )
    return VerifyResult(checked, 1, None)
