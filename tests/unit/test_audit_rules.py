"""The audit log's entry bytes and how a verifier names tampering (pure rules)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from identity.audit.merkle import leaf_hash
from identity.audit.rules import Entry, check_details, entry_bytes, mismatch_kind

T0 = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def log(n: int) -> list[Entry]:
    return [
        Entry(i, T0 + timedelta(seconds=i), "test.event", "system", f"user:{i}", {"n": i})
        for i in range(n)
    ]


def stored_leaves(entries: list[Entry]) -> list[bytes]:
    return [leaf_hash(e.data()) for e in entries]


def test_entry_bytes_are_canonical_json_with_the_index_and_a_z_time():
    data = entry_bytes(7, T0, "consent.recorded", "user:a", None, {"b": 1, "a": "é"})
    assert (
        data
        == (
            '{"action":"consent.recorded","actor":"user:a","at":"2026-12-01T09:30:00.000000Z",'
            '"details":{"a":"é","b":1},"index":7,"subject":null}'
        ).encode()
    )


@pytest.mark.parametrize(
    ("action", "subject", "details"),
    [
        ('say "hi"\\', "user:\u00e9\u2028", {"z": [1, {"b": None, "a": True}], "a": "\x00\x1f"}),
        ("x", None, {}),
        ("\U0001f600", "anonymous", {"n": -(2**70), "k": {"y": "\u2014", "x": []}}),
    ],
)
def test_entry_bytes_are_exactly_the_canonical_json_of_the_entry(action, subject, details):
    at = datetime(2026, 12, 1, 10, 30, 5, 17, tzinfo=timezone(timedelta(hours=-5)))
    entry = {
        "index": 2**40,
        "at": "2026-12-01T15:30:05.000017Z",
        "action": action,
        "actor": "client:a\tb",
        "subject": subject,
        "details": details,
    }
    expected = json.dumps(
        entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()
    assert entry_bytes(2**40, at, action, "client:a\tb", subject, details) == expected


def test_the_same_entry_at_another_index_has_another_leaf():
    entry = log(1)[0]
    assert leaf_hash(entry.data()) != leaf_hash(replace(entry, index=1).data())


def test_an_edited_entry_is_named_edited():
    original = log(8)
    tampered = original[2:]
    tampered[0] = replace(tampered[0], details={"n": 999})
    assert mismatch_kind(tampered, stored_leaves(original)[2:]) == "edited"


def test_an_entry_deleted_and_the_rest_renumbered_is_named_deleted():
    original = log(8)
    renumbered = [replace(e, index=e.index - 1) for e in original[3:]]
    assert mismatch_kind(renumbered, stored_leaves(original)[2:]) == "deleted"


def test_an_entry_inserted_and_the_rest_renumbered_is_named_inserted():
    original = log(8)
    forged = Entry(2, T0, "forged.event", "operator:attacker", None, {})
    shifted = [forged, *[replace(e, index=e.index + 1) for e in original[2:7]]]
    assert mismatch_kind(shifted, stored_leaves(original)[2:]) == "inserted"


def test_two_swapped_entries_are_named_reordered():
    original = log(8)
    third, fourth = original[2], original[3]
    swapped = [replace(fourth, index=2), replace(third, index=3), *original[4:]]
    assert mismatch_kind(swapped, stored_leaves(original)[2:]) == "reordered"


def test_an_entry_moved_further_is_named_reordered():
    original = log(8)
    moved = [replace(original[5], index=2), *original[3:5]]
    assert mismatch_kind(moved, stored_leaves(original)[2:]) == "reordered"


def test_details_must_survive_a_json_round_trip():
    assert check_details({"a": 1, "b": [True, None, "x"], "c": {"d": "e"}}) == {
        "a": 1,
        "b": [True, None, "x"],
        "c": {"d": "e"},
    }
    with pytest.raises(TypeError):
        check_details({"x": 1.5})
    with pytest.raises(TypeError):
        check_details({"at": T0})
