"""Go's own transparency-log code accepts what ours produces, and rejects it once tampered with.

``tests/tools/tlogcheck`` verifies signed checkpoints, inclusion proofs and consistency proofs
with golang.org/x/mod/sumdb/tlog and sumdb/note (the Go checksum database's implementation),
and rebuilds the stored hashes itself to compare them with ours. It is built once per session,
offline, from the Debian packages golang-go and golang-golang-x-mod-dev; without them these
tests fail rather than skip, because without them nothing independent vouches for the format.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import pytest

from identity.audit.merkle import (
    leaf_hash,
    prove_record,
    prove_tree,
    stored_hash_count,
    stored_hashes_for_batch,
    tree_hash,
)
from identity.audit.notes import (
    Checkpoint,
    NoteSigner,
    parse_signer_key,
    sign_note,
    vkey,
)
from tests.support.tlogcheck import run_tlogcheck as run

ORIGIN = "identity.example/audit"


@dataclass
class Log:
    """Records and their stored hashes, appended in batches as the sequencer will."""

    records: list[bytes] = field(default_factory=list)
    hashes: list[bytes] = field(default_factory=list)

    def read(self, indexes: list[int]) -> list[bytes]:
        return [self.hashes[i] for i in indexes]

    def append(self, batch: list[bytes]) -> None:
        rows = stored_hashes_for_batch(len(self.records), [leaf_hash(r) for r in batch], self.read)
        assert [index for index, _ in rows] == list(
            range(len(self.hashes), len(self.hashes) + len(rows))
        )
        self.hashes.extend(h for _, h in rows)
        self.records.extend(batch)


def make_log(size: int) -> Log:
    records = [f'{{"seq":{i},"action":"consent.granted"}}'.encode() for i in range(size)]
    log, start, batch = Log(), 0, 1
    while start < size:
        log.append(records[start : start + batch])
        start += batch
        batch = batch * 2 + 1  # uneven batches cross subtree boundaries in every way
    return log


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def signed_checkpoint(log: Log, size: int, signer: NoteSigner, origin: str = ORIGIN) -> str:
    return sign_note(Checkpoint(origin, size, tree_hash(size, log.read)).to_text(), signer)


def document(
    log: Log, signer: NoteSigner, size: int, old_size: int | None = None, with_log: bool = True
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "vkey": vkey(signer.name, signer.public_key),
        "origin": ORIGIN,
        "checkpoint": signed_checkpoint(log, size, signer),
        "records": [
            {
                "index": n,
                "data": b64(log.records[n]),
                "proof": [b64(h) for h in prove_record(size, n, log.read)],
            }
            for n in range(size)
        ],
    }
    if old_size is not None:
        doc["old_checkpoint"] = signed_checkpoint(log, old_size, signer)
        doc["consistency_proof"] = [b64(h) for h in prove_tree(size, old_size, log.read)]
    if with_log:
        doc["log"] = {
            "records": [b64(r) for r in log.records[:size]],
            "stored_hashes": [b64(h) for h in log.hashes[: stored_hash_count(size)]],
        }
    return doc


SIGNER = NoteSigner.generate(ORIGIN)
LOG = make_log(300)


@pytest.mark.parametrize(
    ("size", "old_size"),
    [
        (1, 1),
        (2, 1),
        (3, 2),
        (7, 4),
        (8, 8),
        (9, 8),
        (31, 17),
        (32, 31),
        (33, 1),
        (100, 64),
        (300, 257),
    ],
)
def test_go_accepts_our_checkpoint_proofs_and_stored_hashes(tlogcheck, size, old_size):
    code, verdict = run(tlogcheck, document(LOG, SIGNER, size, old_size))
    assert (code, verdict.get("error")) == (0, None)
    assert verdict == {
        "ok": True,
        "origin": ORIGIN,
        "size": size,
        "root": b64(tree_hash(size, LOG.read)),
        "signers": [f"{ORIGIN}+{SIGNER.key_id:08x}"],
        "records_checked": size,
        "consistent_from": old_size,
        "stored_hashes_checked": stored_hash_count(size),
    }


def test_go_verifies_a_checkpoint_signed_with_a_key_restored_from_its_go_encoding(tlogcheck):
    restored = parse_signer_key(SIGNER.signer_key())
    code, verdict = run(tlogcheck, document(LOG, restored, 20, 10))
    assert (code, verdict["ok"]) == (0, True)


def flip(encoded: str) -> str:
    raw = bytearray(base64.b64decode(encoded))
    raw[0] ^= 1
    return b64(bytes(raw))


def resign(doc: dict[str, Any], key: str, edit: Any, signer: NoteSigner = SIGNER) -> None:
    text = doc[key].split("\n\n")[0] + "\n"
    checkpoint = Checkpoint.parse(text)
    doc[key] = sign_note(edit(checkpoint).to_text(), signer)


def flipped_inclusion_hash(doc: dict[str, Any]) -> None:
    doc["records"][13]["proof"][2] = flip(doc["records"][13]["proof"][2])


def flipped_consistency_hash(doc: dict[str, Any]) -> None:
    doc["consistency_proof"][0] = flip(doc["consistency_proof"][0])


def edited_record(doc: dict[str, Any]) -> None:
    doc["records"][5]["data"] = b64(b'{"seq":5,"action":"consent.withdrawn"}')


def wrong_index(doc: dict[str, Any]) -> None:
    doc["records"][5]["index"] = 6


def wrong_size_resigned(doc: dict[str, Any]) -> None:
    resign(doc, "checkpoint", lambda c: Checkpoint(c.origin, c.size + 1, c.root_hash))


def wrong_old_size_resigned(doc: dict[str, Any]) -> None:
    resign(doc, "old_checkpoint", lambda c: Checkpoint(c.origin, c.size - 1, c.root_hash))


def flipped_root_resigned(doc: dict[str, Any]) -> None:
    resign(doc, "checkpoint", lambda c: Checkpoint(c.origin, c.size, bytes(32)))


def size_edited_after_signing(doc: dict[str, Any]) -> None:
    doc["checkpoint"] = doc["checkpoint"].replace("\n40\n", "\n41\n", 1)


def signed_by_another_key(doc: dict[str, Any]) -> None:
    impostor = NoteSigner.generate(ORIGIN)  # same name, different key
    resign(doc, "checkpoint", lambda c: c, impostor)


def another_origin(doc: dict[str, Any]) -> None:
    resign(doc, "checkpoint", lambda c: Checkpoint("identity.example/other", c.size, c.root_hash))


def forked_history(doc: dict[str, Any]) -> None:
    # The log showed someone else a tree that agrees on 16 records, then diverges.
    fork = Log()
    fork.append(LOG.records[:16])
    fork.append([b"a different record %d" % i for i in range(16, 30)])
    doc["old_checkpoint"] = signed_checkpoint(fork, 30, SIGNER)
    doc["consistency_proof"] = [b64(h) for h in prove_tree(40, 30, LOG.read)]


@pytest.mark.parametrize(
    ("tamper", "stage"),
    [
        (flipped_inclusion_hash, "record 13"),
        (flipped_consistency_hash, "consistency from 25 to 40"),
        (edited_record, "record 5"),
        (wrong_index, "record 6"),
        (wrong_size_resigned, "record"),
        (wrong_old_size_resigned, "consistency from 24 to 40"),
        (flipped_root_resigned, "record 0"),
        (size_edited_after_signing, "checkpoint: invalid signature"),
        (signed_by_another_key, "checkpoint: note has no verifiable signatures"),
        (another_origin, "checkpoint: origin"),
        (forked_history, "consistency from 30 to 40"),
    ],
)
def test_go_rejects_a_tampered_document(tlogcheck, tamper, stage):
    doc = document(LOG, SIGNER, 40, 25, with_log=False)
    tamper(doc)
    code, verdict = run(tlogcheck, doc)
    assert code == 1
    assert verdict["ok"] is False
    assert verdict["error"].startswith(stage), verdict["error"]


def test_go_rejects_stored_hashes_that_differ_from_its_own(tlogcheck):
    doc = document(LOG, SIGNER, 40)
    doc["log"]["stored_hashes"][17] = flip(doc["log"]["stored_hashes"][17])
    code, verdict = run(tlogcheck, doc)
    assert code == 1
    assert verdict["error"].startswith("stored hashes: stored hash 17"), verdict["error"]
