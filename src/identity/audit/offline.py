"""Verifying an export file offline: no database, only the log's published verifier key.

Two passes over the file, constant memory whatever its size: the first reads only its ends,
the header (first) and the signed checkpoint (last), and opens the checkpoint with the key;
the second recomputes every entry's bytes from its fields, and either rebuilds the whole tree
(a full export: the root must be the checkpoint's) or checks each entry's inclusion proof
against the checkpoint (a filtered export). Only the second pass decodes the entries: the
first keeps the last line (or CSV row) it has seen, and the purge records (``audit.purged``).

A purged entry has no bytes left: its leaf hash stands for them, in the tree or in its proof.
In a full export it must also lie where one of the file's purge records reached (as
``identity audit verify`` checks in the database); a filtered export may not hold the purge
records, so there the proof alone vouches for it.
"""

from __future__ import annotations

import base64
import csv
import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from identity.audit.export import CSV_COLUMNS, FORMAT, entry_bytes_of
from identity.audit.merkle import HASH_SIZE, Frontier, MerkleError, check_record, leaf_hash
from identity.audit.notes import Checkpoint, NoteError, NoteVerifier, open_checkpoint
from identity.audit.retention import PURGED, PurgeRecords
from identity.audit.rules import Problem, problem
from identity.audit.verify import VerifyResult

CSV_HEADER = ",".join(CSV_COLUMNS)


def _open(path: Path) -> IO[str]:
    return path.open(encoding="utf-8", newline="")


def _is_csv(first_line: str) -> bool:
    return first_line.strip() == CSV_HEADER


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """The export's records, JSON Lines or CSV (told apart by the first line), one at a time."""
    with _open(path) as f:
        first = f.readline()
        if _is_csv(first):
            yield from (_from_csv(row) for row in csv.DictReader(f, fieldnames=CSV_COLUMNS))
            return
        for line in itertools.chain((first,), f):
            if line.strip():
                yield json.loads(line)


@dataclass
class _Ends:
    """What the first pass finds: the header (the first record that is not empty), the last
    record, and where the purges recorded in the file reached."""

    header: dict[str, Any] | None = None
    last: dict[str, Any] | None = None
    purges: PurgeRecords = field(default_factory=PurgeRecords)

    def purge(self, record: dict[str, Any]) -> None:
        if record.get("type") == "entry" and record.get("action") == PURGED:
            self.purges.add(record.get("details"))


def _ends(path: Path) -> _Ends:
    """The first pass: it decodes only the header, the last record and the purge records."""
    ends = _Ends()
    with _open(path) as f:
        first_line = f.readline()
        if _is_csv(first_line):
            first = last = None
            for row in csv.DictReader(f, fieldnames=CSV_COLUMNS):
                first, last = first or row, row
                if row["action"] == PURGED:
                    ends.purge(_from_csv(row))
            ends.header, ends.last = (_from_csv(r) if r else None for r in (first, last))
            return ends
        last_line = None
        for line in itertools.chain((first_line,), f):
            if line.strip():
                last_line = line
                if ends.header is None:  # the first record that is not empty
                    ends.header = json.loads(line) or None
                if PURGED in line:
                    ends.purge(json.loads(line))
        ends.last = json.loads(last_line) if last_line else None
    return ends


def _from_csv(row: dict[str, str]) -> dict[str, Any]:
    kind = row["type"]
    if kind == "header":
        return dict(json.loads(row["details"]))
    if kind == "checkpoint":
        return {"type": "checkpoint", "size": int(row["index"]), "note": row["details"]}
    proof = row["proof"].split() if row["proof"] else None
    if kind == "purged":
        at, action, leaf = row["at"], row["action"], row["leaf"]
        return {"type": kind, "index": int(row["index"]), "at": at, "action": action,
                "leaf_hash": leaf, "proof": proof}  # fmt: skip
    return {
        "type": "entry",
        "index": int(row["index"]),
        "at": row["at"],
        "action": row["action"],
        "actor": row["actor"],
        "subject": row["subject"] or None,
        "details": json.loads(row["details"]),
        "leaf": row["leaf"],
        "proof": proof,
    }


def _checkpoint(
    ends: _Ends, verifiers: Sequence[NoteVerifier], origin: str
) -> tuple[dict[str, Any], Checkpoint] | Problem:
    header, last = ends.header, ends.last
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


class _Walk:
    """The second pass: each entry against the checkpoint, by the tree or by its proof."""

    def __init__(self, checkpoint: Checkpoint, full: bool, purges: PurgeRecords) -> None:
        self.checkpoint = checkpoint
        self.full = full
        self.purges = purges
        self.frontier = Frontier()
        self.checked = 0

    def entry(self, record: dict[str, Any]) -> Problem | None:
        index = int(record["index"])
        data = entry_bytes_of(record)
        if base64.b64decode(str(record["leaf"])) != data:
            return problem("edited", index)
        return self._leaf(record, index, leaf_hash(data))

    def purged(self, record: dict[str, Any]) -> Problem | None:
        """A purged entry: its leaf hash stands for its bytes. In a full export, which holds
        the purge records, a recorded purge must cover it too."""
        index = int(record["index"])
        try:
            leaf = base64.b64decode(str(record.get("leaf_hash", "")))
        except ValueError:  # not base64 at all
            leaf = b""
        if len(leaf) != HASH_SIZE:
            return problem("edited", index)
        if self.full and not self.purges.covers(index, str(record.get("action"))):
            return problem("purged", index)
        return self._leaf(record, index, leaf)

    def _leaf(self, record: dict[str, Any], index: int, leaf: bytes) -> Problem | None:
        if self.full:
            if index != self.frontier.size:
                return problem("deleted", self.frontier.size)
            self.frontier.append(leaf)
        else:
            size, root = self.checkpoint.size, self.checkpoint.root_hash
            try:
                proof = [base64.b64decode(h) for h in record.get("proof") or []]
                check_record(proof, size, root, index, leaf)
            except (MerkleError, ValueError):
                return problem("edited", index)
        self.checked += 1
        return None

    def end(self) -> VerifyResult:
        if self.full:
            if self.frontier.size != self.checkpoint.size:
                return VerifyResult(self.checked, 1, problem("truncated", self.frontier.size))
            if self.frontier.root() != self.checkpoint.root_hash:
                size = self.checkpoint.size
                found = Problem(size, "checkpoint", f"the entries do not hash to checkpoint {size}")
                return VerifyResult(self.checked, 0, found)
        return VerifyResult(self.checked, 1, None)


def verify_file(path: Path, verifiers: Sequence[NoteVerifier], origin: str) -> VerifyResult:
    """Verify an export against the log's verifier key; the first problem found, if any."""
    ends = _ends(path)
    opened = _checkpoint(ends, verifiers, origin)
    if isinstance(opened, Problem):
        return VerifyResult(0, 0, opened)
    header, checkpoint = opened
    walk = _Walk(checkpoint, bool(header.get("full")), ends.purges)
    for record in read_records(path):
        kind = record.get("type")
        found = walk.entry(record) if kind == "entry" else None
        if kind == "purged":
            found = walk.purged(record)
        if found:
            return VerifyResult(walk.checked, 0, found)
    return walk.end()
