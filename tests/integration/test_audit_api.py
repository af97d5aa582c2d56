"""The audit log's interfaces: what an outsider fetches, checked by Go's sumdb code, and the
scope and errors of ``/v1/audit``."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest

from identity import audit
from identity.audit.refs import SYSTEM, Actor, Subject
from tests.support.tlogcheck import run_tlogcheck

PROBLEM = "application/problem+json"


@pytest.fixture
def auditor(service_headers: Any) -> dict[str, str]:
    return service_headers("audit:read", name="Privacy officer's tool")


def write(runtime: Any, n: int) -> None:
    for i in range(n):
        with runtime.db.transaction() as session:
            subject = Subject.user(f"00000000-0000-4000-8000-{i:012d}")
            audit.record(session, "test.event", actor=SYSTEM, subject=subject, details={"i": i})


def test_go_verifies_the_key_checkpoints_and_proofs_the_api_serves(
    browser, runtime, auditor, tlogcheck
):
    write(runtime, 9)
    runtime.sequencer.drain()
    old_note = browser.get("/v1/audit/checkpoint", headers=auditor).text
    old_size = int(old_note.split("\n")[1])
    write(runtime, 14)
    runtime.sequencer.drain()
    note = browser.get("/v1/audit/checkpoint", headers=auditor).text
    size = int(note.split("\n")[1])
    records = []
    for index in range(size):
        entry = browser.get(f"/v1/audit/entries/{index}", headers=auditor).json()
        proof = browser.get(
            "/v1/audit/proofs/inclusion", params={"index": index, "size": size}, headers=auditor
        ).json()["hashes"]
        records.append({"index": index, "data": entry["leaf"], "proof": proof})
    consistency = browser.get(
        "/v1/audit/proofs/consistency", params={"from": old_size, "to": size}, headers=auditor
    ).json()["hashes"]
    vkey = browser.get("/v1/audit/key", headers=auditor).text.split("\n")[0]
    document = {
        "vkey": vkey,
        "origin": runtime.audit_keys.origin,
        "checkpoint": note,
        "records": records,
        "old_checkpoint": old_note,
        "consistency_proof": consistency,
    }
    code, verdict = run_tlogcheck(tlogcheck, document)
    assert (code, verdict.get("error")) == (0, None)
    assert (verdict["size"], verdict["records_checked"], verdict["consistent_from"]) == (
        size,
        size,
        old_size,
    )
    # Tampering with what was served is caught by Go too.
    records[3]["data"] = base64.b64encode(b"forged").decode()
    code, verdict = run_tlogcheck(tlogcheck, document)
    assert code != 0


def test_go_verifies_proofs_of_purged_entries_by_their_leaf_hash(
    browser, runtime, service_headers, tlogcheck, clock
):
    for i in range(7):
        with runtime.db.transaction() as session:
            action = "login.succeeded" if i % 2 else "consent.recorded"
            audit.record(session, action, actor=SYSTEM, subject=Subject.user(str(i)))
    runtime.sequencer.drain()
    clock.tick(timedelta(days=400))  # past the sign-ins' thirteen months
    assert runtime.audit_purge.run(actor=Actor.operator("officer")).summary()["entries"] == 3
    runtime.sequencer.drain()
    auditor = service_headers("audit:read", name="Privacy officer's tool")
    note = browser.get("/v1/audit/checkpoint", headers=auditor).text
    size = int(note.split("\n")[1])
    records, purged = [], []
    for index in range(size):
        entry = browser.get(f"/v1/audit/entries/{index}", headers=auditor).json()
        proof = browser.get(
            "/v1/audit/proofs/inclusion", params={"index": index, "size": size}, headers=auditor
        ).json()["hashes"]
        if entry["purged"]:
            assert set(entry) == {"index", "at", "action", "purged", "leaf_hash"}
            purged.append(index)
            records.append({"index": index, "hash": entry["leaf_hash"], "proof": proof})
        else:
            records.append({"index": index, "data": entry["leaf"], "proof": proof})
    assert len(purged) == 3
    vkey = browser.get("/v1/audit/key", headers=auditor).text.split("\n")[0]
    document = {
        "vkey": vkey,
        "origin": runtime.audit_keys.origin,
        "checkpoint": note,
        "records": records,
    }
    code, verdict = run_tlogcheck(tlogcheck, document)
    assert (code, verdict.get("error"), verdict["records_checked"]) == (0, None, size)
    records[purged[1]]["hash"] = base64.b64encode(bytes(32)).decode()  # another leaf there
    code, verdict = run_tlogcheck(tlogcheck, document)
    assert (code, verdict["error"].split(":")[0]) == (1, f"record {purged[1]}")


def test_an_entry_carries_the_exact_bytes_its_leaf_hashes(browser, runtime, auditor):
    write(runtime, 1)
    runtime.sequencer.drain()
    entry = browser.get("/v1/audit/entries/0", headers=auditor).json()
    data = base64.b64decode(entry["leaf"])
    assert b'"index":0' in data
    assert entry["action"] in data.decode()


def test_the_verifier_key_and_latest_checkpoint_are_public(browser, runtime):
    write(runtime, 2)
    runtime.sequencer.drain()
    key = browser.get("/audit/key")
    assert (key.status_code, key.headers["content-type"].split(";")[0]) == (200, "text/plain")
    assert key.text.startswith(runtime.audit_keys.origin + "+")
    checkpoint = browser.get("/audit/checkpoint").text
    assert checkpoint.startswith(runtime.audit_keys.origin + "\n")
    assert "\n— " in checkpoint  # a C2SP signature line (em dash)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/audit/key",
        "/v1/audit/checkpoint",
        "/v1/audit/entries/0",
        "/v1/audit/proofs/inclusion?index=0&size=1",
        "/v1/audit/proofs/consistency?from=0&to=1",
    ],
)
def test_the_v1_audit_interfaces_need_the_audit_read_scope(browser, runtime, reader, path):
    write(runtime, 1)
    runtime.sequencer.drain()
    assert browser.get(path).status_code == 401
    refused = browser.get(path, headers=reader)  # consent:read only
    assert (refused.status_code, refused.headers["content-type"]) == (403, PROBLEM)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/audit/entries/99", 404),
        ("/v1/audit/proofs/inclusion?index=5&size=3", 404),
        ("/v1/audit/proofs/inclusion?index=0&size=99", 422),
        ("/v1/audit/proofs/consistency?from=3&to=2", 422),
        ("/v1/audit/proofs/consistency?from=0&to=99", 422),
        ("/v1/audit/proofs/inclusion?index=-1&size=2", 422),
    ],
)
def test_impossible_requests_are_problem_documents(browser, runtime, auditor, path, status):
    write(runtime, 3)
    runtime.sequencer.drain()
    response = browser.get(path, headers=auditor)
    assert (response.status_code, response.headers["content-type"]) == (status, PROBLEM)
