"""The audit log's entries as bytes, and how a verifier names what it finds (pure).

An entry's leaf in the Merkle tree is ``SHA-256(0x00 || entry bytes)`` (RFC 9162 §2.1.1), where
the entry bytes are its canonical JSON::

    {"action":…,"actor":…,"at":"2026-12-01T10:00:00.000000Z","details":{…},"index":N,"subject":…}

UTF-8, keys sorted at every level, no insignificant whitespace, non-ASCII kept as is, times in
UTC with microseconds and ``Z``, ``index`` the entry's 0-based leaf index. The same entry gives
the same bytes on SQLite and PostgreSQL, in Python and in any other language, which is what
lets an outsider recompute a leaf from an exported entry.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from identity.audit.merkle import leaf_hash

Details = Mapping[str, Any]


def _canonical_encoder() -> Callable[[Any], str]:
    """``json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    allow_nan=False)``, made once: every entry is encoded when it is placed, verified and
    exported, and ``JSONEncoder.encode`` builds its C encoder anew at every call (half its
    cost for a small object). The same C encoder, built here once, writes the same text."""
    python = json.JSONEncoder(
        sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    if c_make_encoder is None:  # an interpreter without the accelerator
        return python.encode
    # (markers, default, encoder, indent, key_separator, item_separator, sort_keys, skipkeys,
    # allow_nan): no circular-reference markers, since the values come from JSON themselves.
    chunks = c_make_encoder(None, python.default, _quote, None, ":", ",", True, False, False)
    return lambda value: "".join(chunks(value, 0))


_quote = encode_basestring  # a str as that encoder writes it (non-ASCII as is)
canonical_text = _canonical_encoder()


def canonical_json(value: Any) -> bytes:
    return canonical_text(value).encode()


def quoted(value: str | None) -> str:
    """A string, or None, as JSON text."""
    return "null" if value is None else _quote(value)


def timestamp(at: datetime) -> str:
    """The one textual form of an entry's time: UTC, microseconds, ``Z`` (RFC 3339)."""
    if at.tzinfo is not UTC:  # times read from the database are UTC already
        at = at.astimezone(UTC)
    return at.isoformat(timespec="microseconds")[:-6] + "Z"


@dataclass(frozen=True, slots=True)
class Entry:
    """An entry as the log proves it (its fields, and its place in the tree)."""

    index: int
    at: datetime
    action: str
    actor: str
    subject: str | None
    details: Details

    def data(self) -> bytes:
        """The exact bytes the leaf hashes."""
        return entry_bytes(self.index, self.at, self.action, self.actor, self.subject, self.details)


@dataclass(frozen=True, slots=True)
class PurgedEntry:
    """An entry whose contents were purged past their retention (:mod:`.retention`): its
    place, time and action are left, and the stored leaf hash that still proves it."""

    index: int
    at: datetime
    action: str
    leaf: bytes


def entry_bytes(
    index: int, at: datetime, action: str, actor: str, subject: str | None, details: Details
) -> bytes:
    return timed_entry_bytes(index, timestamp(at), action, actor, subject, details)


def timed_entry_bytes(
    index: int, at: str, action: str, actor: str, subject: str | None, details: Details
) -> bytes:
    """:func:`entry_bytes` with the time already written by :func:`timestamp`."""
    return entry_text(
        index, at, _quote(action), _quote(actor), quoted(subject), details_text(details)
    ).encode()


def details_text(details: Details) -> str:
    return canonical_text(details if type(details) is dict else dict(details))


def entry_text(index: int, at: str, action: str, actor: str, subject: str, details: str) -> str:
    """An entry's canonical JSON from its parts, each already JSON text (:func:`quoted`,
    :func:`details_text`) but the time (:func:`timestamp`).

    Exactly ``canonical_json`` of the entry's object, its keys written in their sorted order
    rather than sorted per entry (the details are the only part whose keys vary), so that an
    export can write the same parts in its own lines without encoding them twice.
    """
    return (
        f'{{"action":{action},"actor":{actor},"at":"{at}","details":{details},'
        f'"index":{int(index)},"subject":{subject}}}'
    )


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


KINDS = (
    "edited",
    "deleted",
    "inserted",
    "reordered",
    "truncated",
    "checkpoint",
    "hashes",
    "purged",
)


@dataclass(frozen=True, slots=True)
class Problem:
    """The first thing found wrong, named: which entry (or checkpoint size) and what."""

    index: int
    kind: str  # one of KINDS
    message: str


def mismatch_kind(entries: list[Entry], stored: list[bytes]) -> str:
    """Name what happened at the first entry whose leaf differs from the stored leaf hash.

    ``entries`` are the log's entries from that place on (a few) and ``stored`` the stored
    leaf hashes of the same indexes. An entry's bytes include its index, so each entry is
    tried at the neighbouring places: swapped with its neighbour, it was reordered; holding
    its successor's place, one was deleted before it (and the rest renumbered); with its
    successor holding its place, it was inserted; found anywhere else, reordered; nowhere,
    edited.
    """

    def fits(position: int, index: int) -> bool:
        if position >= len(entries) or index - entries[0].index >= len(stored):
            return False
        moved = replace(entries[position], index=index)
        return stored[index - entries[0].index] == leaf_hash(moved.data())

    start = entries[0].index
    if fits(0, start + 1) and fits(1, start):
        return "reordered"
    if fits(0, start + 1):
        return "deleted"
    if fits(1, start):
        return "inserted"
    if any(fits(0, start + k) for k in range(2, len(stored))):
        return "reordered"
    return "edited"


PROBLEMS = {
    "edited": "entry #{i} does not match its leaf hash (edited)",
    "deleted": "entry #{i} is missing (deleted)",
    "inserted": "entry #{i} is not the entry the log holds there (inserted)",
    "reordered": "entry #{i} is out of its place (reordered)",
    "truncated": "the log ends before entry #{i} although a checkpoint covers it (truncated)",
    "purged": "entry #{i} was purged, but no recorded purge covers it (purged)",
}


def problem(kind: str, index: int) -> Problem:
    return Problem(index, kind, PROBLEMS[kind].format(i=index))
