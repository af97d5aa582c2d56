"""The hash chain, as pure functions (no database, no I/O).

Each entry's hash covers its predecessor's hash and its own content::

    hash = SHA-256( prev_hash || canonical_json({seq, at, action, actor, subject, details}) )

``canonical_json`` is JSON with sorted keys, no insignificant whitespace and UTF-8, so the same
entry hashes the same on SQLite and PostgreSQL. The first entry's ``prev_hash`` is
:data:`GENESIS`. Editing, deleting, inserting or reordering any entry breaks the chain at that
entry; :func:`find_first_break` names it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64

JsonScalar = str | int | bool | None
Details = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    at: datetime
    action: str
    actor: str
    subject: str | None
    details: Details
    prev_hash: str
    hash: str


def canonical_json(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def timestamp(at: datetime) -> str:
    """The one textual form of an entry's time: UTC, microseconds, ``Z``."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(
    prev_hash: str,
    *,
    seq: int,
    at: datetime,
    action: str,
    actor: str,
    subject: str | None,
    details: Details,
) -> str:
    body = canonical_json(
        {
            "seq": seq,
            "at": timestamp(at),
            "action": action,
            "actor": actor,
            "subject": subject,
            "details": dict(details),
        }
    )
    return hashlib.sha256(prev_hash.encode() + body).hexdigest()


def check_details(details: Details) -> dict[str, Any]:
    """Details must survive a JSON round trip unchanged (no floats, no dates, no bytes)."""

    def ok(value: Any) -> bool:
        if value is None or isinstance(value, str | bool | int):
            return True
        if isinstance(value, list | tuple):
            return all(ok(v) for v in value)
        if isinstance(value, dict):
            return all(isinstance(k, str) and ok(v) for k, v in value.items())
        return False

    if not ok(dict(details)):
        raise TypeError("audit details may hold only str, int, bool, None, lists and dicts")
    result: dict[str, Any] = json.loads(canonical_json(dict(details)))
    return result


@dataclass(frozen=True, slots=True)
class Break:
    """Where the chain stops being trustworthy, and why."""

    seq: int
    kind: str  # edited | deleted | inserted | reordered
    message: str


def find_first_break(
    entries: Iterable[Entry], *, head_seq: int, head_hash: str
) -> tuple[int, Break | None]:
    """Walk entries in ``seq`` order; return how many were checked and the first break.

    ``head_seq``/``head_hash`` are the chain head kept beside the log; they reveal entries
    removed from, or appended to, the end.
    """
    expected_seq = 1
    prev_hash = GENESIS
    checked = 0
    for entry in entries:
        if entry.seq > expected_seq:
            return checked, Break(
                expected_seq, "deleted", f"entry #{expected_seq} is missing (deleted)"
            )
        if entry.seq < expected_seq:
            return checked, Break(
                entry.seq, "inserted", f"entry #{entry.seq} appears twice (inserted)"
            )
        recomputed = entry_hash(
            entry.prev_hash,
            seq=entry.seq,
            at=entry.at,
            action=entry.action,
            actor=entry.actor,
            subject=entry.subject,
            details=entry.details,
        )
        if entry.prev_hash != prev_hash:
            return checked, Break(
                entry.seq,
                "reordered",
                f"entry #{entry.seq} does not follow entry #{entry.seq - 1} "
                "(inserted or reordered)",
            )
        if recomputed != entry.hash:
            return checked, Break(
                entry.seq, "edited", f"entry #{entry.seq} does not match its hash (edited)"
            )
        prev_hash = entry.hash
        expected_seq += 1
        checked += 1
    last_seq = expected_seq - 1
    if last_seq < head_seq:
        return checked, Break(
            last_seq + 1, "deleted", f"entries after #{last_seq} are missing (truncated)"
        )
    if last_seq > head_seq or prev_hash != head_hash:
        return checked, Break(
            head_seq + 1 if last_seq > head_seq else last_seq,
            "inserted",
            f"the chain head does not match entry #{last_seq} (inserted or rewritten)",
        )
    return checked, None
