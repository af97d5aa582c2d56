"""Offline verification of an export file streams it: memory stays the same whatever the
file's size, and the verdicts are those of the whole file (checked on generated exports,
written by the exporter's own formatting, no database)."""

from __future__ import annotations

import base64
import json
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from identity.audit.export import FORMAT, csv_lines, entry_record, jsonl
from identity.audit.merkle import Frontier, leaf_hash, prove_record, stored_hashes_for_batch
from identity.audit.notes import Checkpoint, NoteSigner, sign_note
from identity.audit.offline import verify_file

ORIGIN = "shop.example/audit"
SIGNER = NoteSigner.generate(ORIGIN)
START = datetime(2026, 1, 1, tzinfo=UTC)
MiB = 1024 * 1024


def row(i: int) -> tuple[Any, ...]:
    """Entry ``i`` of a generated log, as the exporter reads it from the database."""
    user = f"user:00000000-0000-4000-8000-{i % 9973:012d}"
    if i % 3:
        details = {"decision": "granted", "purpose": "personalization", "record_id": i}
        return (i, START + timedelta(seconds=i), "consent.recorded", user, user, details)
    return (i, START + timedelta(seconds=i), "login.succeeded", user, user, {"sid": f"{i:064x}"})


def leaf_of(record: dict[str, object]) -> bytes:
    return leaf_hash(base64.b64decode(str(record["leaf"])))


def generated(n: int, proved: int | None = None) -> Iterator[dict[str, object]]:
    """The records of an export of an ``n``-entry log: full, or (``proved``) only every
    ``proved``-th entry, each with its inclusion proof. A full one is generated in constant
    memory; a proved one keeps the tree's stored hashes."""
    yield {"type": "header", "format": FORMAT, "size": n, "filter": {}, "full": proved is None}
    if proved is None:
        frontier = Frontier()
        for i in range(n):
            record = entry_record(row(i), None)
            frontier.append(leaf_of(record))
            yield record
        root = frontier.root()
    else:
        leaves = [leaf_of(entry_record(row(i), None)) for i in range(n)]
        stored = [h for _, h in stored_hashes_for_batch(0, leaves, lambda _: [])]

        def read(indexes: Any) -> list[bytes]:
            return [stored[i] for i in indexes]

        for i in range(0, n, proved):
            yield entry_record(row(i), prove_record(n, i, read))
        root = Frontier.of(n, read).root()
    note = sign_note(Checkpoint(ORIGIN, n, root).to_text(), SIGNER)
    yield {"type": "checkpoint", "size": n, "note": note}


def write(path: Path, records: Iterator[dict[str, object]], fmt: str) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        out.writelines(csv_lines(records) if fmt == "csv" else jsonl(records))
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
    path = write(tmp_path / f"audit.{fmt}", generated(10_000), fmt)
    assert path.stat().st_size > 3 * MiB
    result, peak = peak_while(lambda: verify(path))
    assert (result.ok, result.entries, result.checkpoints) == (True, 10_000, 1), result.problem
    assert peak < MiB / 2, (
        f"{peak / MiB:.1f} MiB held for a {path.stat().st_size / MiB:.0f} MiB file"
    )


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_filtered_export_is_verified_by_each_entrys_proof(tmp_path, fmt):
    path = write(tmp_path / f"audit.{fmt}", generated(1000, proved=7), fmt)
    result = verify(path)
    assert (result.ok, result.entries) == (True, len(range(0, 1000, 7))), result.problem


def rewrite(path: Path, edit: Any) -> None:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in edit(lines)))


def test_in_a_large_export_the_first_problem_is_named_as_before(tmp_path):
    path = write(tmp_path / "audit.jsonl", generated(5000), "jsonl")

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
