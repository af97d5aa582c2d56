"""Offline verification of an export file streams it: memory stays the same whatever the
file's size, and the verdicts are those of the whole file (checked on generated exports,
written by the exporter's own formatting, no database)."""

from __future__ import annotations

import json
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from identity.audit.export import FORMAT, csv_lines, jsonl
from identity.audit.merkle import Frontier, leaf_hash, prove_record, stored_hashes_for_batch
from identity.audit.notes import Checkpoint, NoteSigner, sign_note
from identity.audit.offline import verify_file
from identity.audit.rules import entry_bytes

ORIGIN = "shop.example/audit"
SIGNER = NoteSigner.generate(ORIGIN)
START = datetime(2026, 1, 1, tzinfo=UTC)
MiB = 1024 * 1024


def row(i: int) -> tuple[Any, ...]:
    """Entry ``i`` of a generated log, as the exporter reads it from the database (the last
    column, ``purged_at``, None: not purged)."""
    user = f"user:00000000-0000-4000-8000-{i % 9973:012d}"
    at = START + timedelta(seconds=i)
    if i % 3:
        details = {"decision": "granted", "purpose": "personalization", "record_id": i}
        return (i, at, "consent.recorded", user, user, details, None)
    return (i, at, "login.succeeded", user, user, {"sid": f"{i:064x}"}, None)


def export(path: Path, n: int, fmt: str, proved: int | None = None) -> Path:
    """An export of an ``n``-entry log, written by the exporter's own formatting: full, in
    constant memory, or (``proved``) only every ``proved``-th entry, each with its inclusion
    proof (then the tree's stored hashes are kept)."""
    leaves = (leaf_hash(entry_bytes(*row(i)[:6])) for i in range(n))
    if proved is None:
        frontier = Frontier()
        for leaf in leaves:
            frontier.append(leaf)
        root, selected = frontier.root(), ((row(i), None) for i in range(n))
    else:
        stored = [h for _, h in stored_hashes_for_batch(0, list(leaves), lambda _: [])]

        def read(indexes: Any) -> list[bytes]:
            return [stored[i] for i in indexes]

        root = Frontier.of(n, read).root()
        selected = ((row(i), prove_record(n, i, read)) for i in range(0, n, proved))
    header = {"type": "header", "format": FORMAT, "size": n, "filter": {}, "full": proved is None}
    note = sign_note(Checkpoint(ORIGIN, n, root).to_text(), SIGNER)
    end = {"type": "checkpoint", "size": n, "note": note}
    with path.open("w", encoding="utf-8", newline="") as out:
        out.writelines((csv_lines if fmt == "csv" else jsonl)(header, selected, end))
    return path


def verify(path: Path) -> Any:
    return verify_file(path, [SIGNER.verifier()], ORIGIN)


def peak_while(work: Any) -> tuple[Any, int]:
    """``work()``'s result and the most memory it held at once, in bytes."""
    tracemalloc.start()
    try:
        result = work()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_verifying_a_large_export_offline_holds_no_more_than_a_few_entries_in_memory(tmp_path, fmt):
    path = export(tmp_path / f"audit.{fmt}", 10_000, fmt)
    assert path.stat().st_size > 3 * MiB
    result, peak = peak_while(lambda: verify(path))
    assert (result.ok, result.entries, result.checkpoints) == (True, 10_000, 1), result.problem
    assert peak < MiB / 2, (
        f"{peak / MiB:.1f} MiB held for a {path.stat().st_size / MiB:.0f} MiB file"
    )


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_filtered_export_is_verified_by_each_entrys_proof(tmp_path, fmt):
    path = export(tmp_path / f"audit.{fmt}", 1000, fmt, proved=7)
    result = verify(path)
    assert (result.ok, result.entries) == (True, len(range(0, 1000, 7))), result.problem


def rewrite(path: Path, edit: Any) -> None:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in edit(lines)))


def test_in_a_large_export_the_first_problem_is_named_as_before(tmp_path):
    path = export(tmp_path / "audit.jsonl", 5000, "jsonl")

    def edited(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        records[4001]["details"] = {"decision": "withdrawn"}  # entry #4000
        return records

    rewrite(path, edited)
    result = verify(path)
    assert (result.problem.kind, result.problem.index, result.entries) == ("edited", 4000, 4000)
    rewrite(path, lambda records: [r for r in records if r.get("index") != 1234])
    assert (verify(path).problem.kind, verify(path).problem.index) == ("deleted", 1234)
    rewrite(path, lambda records: records[:-1])  # the checkpoint cut off
    assert verify(path).problem.kind == "truncated"
