"""The hash chain as pure functions: what each kind of tampering looks like to the verifier."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from identity.audit.rules import GENESIS, Entry, check_details, entry_hash, find_first_break

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def build_chain(n: int) -> list[Entry]:
    entries, prev = [], GENESIS
    for seq in range(1, n + 1):
        at = T0 + timedelta(seconds=seq)
        details = {"n": seq}
        digest = entry_hash(
            prev, seq=seq, at=at, action="test.event", actor="system", subject=None, details=details
        )
        entries.append(Entry(seq, at, "test.event", "system", None, details, prev, digest))
        prev = digest
    return entries


def verify(entries: list[Entry], head: Entry | None = None) -> tuple[int, object]:
    head = head or (entries[-1] if entries else None)
    return find_first_break(
        entries, head_seq=head.seq if head else 0, head_hash=head.hash if head else GENESIS
    )


def test_an_untouched_chain_verifies():
    chain = build_chain(5)
    checked, problem = verify(chain)
    assert (checked, problem) == (5, None)


def test_an_empty_log_verifies():
    assert verify([]) == (0, None)


def test_the_hash_covers_predecessor_and_content():
    a = entry_hash(GENESIS, seq=1, at=T0, action="x", actor="a", subject=None, details={})
    assert a != entry_hash("1" * 64, seq=1, at=T0, action="x", actor="a", subject=None, details={})
    assert a != entry_hash(GENESIS, seq=1, at=T0, action="y", actor="a", subject=None, details={})
    assert a != entry_hash(
        GENESIS,
        seq=1,
        at=T0 + timedelta(microseconds=1),
        action="x",
        actor="a",
        subject=None,
        details={},
    )


def test_an_edited_entry_is_named():
    chain = build_chain(5)
    chain[2] = replace(chain[2], details={"n": 999})
    _, problem = verify(chain)
    assert (problem.seq, problem.kind) == (3, "edited")


def test_a_deleted_entry_is_named():
    chain = build_chain(5)
    del chain[2]
    _, problem = verify(chain, head=build_chain(5)[-1])
    assert (problem.seq, problem.kind) == (3, "deleted")


def test_swapped_entries_are_reported_at_the_first_out_of_place():
    chain = build_chain(5)
    third, fourth = chain[2], chain[3]
    chain[2] = replace(fourth, seq=3)
    chain[3] = replace(third, seq=4)
    _, problem = verify(chain)
    assert (problem.seq, problem.kind) == (3, "reordered")


def test_an_entry_recomputed_after_editing_breaks_its_successor():
    chain = build_chain(5)
    e = chain[1]
    forged = entry_hash(
        e.prev_hash, seq=e.seq, at=e.at, action="forged", actor=e.actor, subject=None, details={}
    )
    chain[1] = replace(e, action="forged", details={}, hash=forged)
    _, problem = verify(chain)
    assert problem.seq == 3


def test_removing_the_last_entries_is_caught_by_the_head():
    full = build_chain(5)
    _, problem = verify(full[:3], head=full[-1])
    assert (problem.seq, problem.kind) == (4, "deleted")


def test_an_appended_entry_not_covered_by_the_head_is_caught():
    full = build_chain(5)
    _, problem = verify(full, head=full[3])
    assert (problem.seq, problem.kind) == (5, "inserted")


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
