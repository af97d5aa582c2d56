"""An entry in the console: every field, and its inclusion proof checked against the latest
signed checkpoint with the published key. "Verified" is checked again here, independently,
from what the page shows and what the log publishes; an entry after the checkpoint says so,
and an edited entry says it does not verify."""

from __future__ import annotations

import base64
import json
import re
from html import unescape

from sqlalchemy import select, update

from identity import audit
from identity.audit.merkle import check_record, leaf_hash
from identity.audit.models import AuditEntryRow
from identity.audit.notes import open_checkpoint, parse_vkey
from identity.audit.refs import Actor, Subject
from tests.support.console import officer_entries
from tests.support.forms import page_text

ANA = Subject.user("00000000-0000-4000-8000-000000000001")


def write(runtime, n: int, action: str = "test.event") -> None:
    for i in range(n):
        with runtime.db.transaction() as session:
            audit.record(
                session, action, actor=Actor.client("pos"), subject=ANA, details={"i": i, "é": "ü"}
            )


def placed(runtime, action: str) -> list[int]:
    with runtime.db.read() as session:
        query = select(AuditEntryRow.leaf_index).where(AuditEntryRow.action == action)
        return sorted(int(i) for i in session.scalars(query))


def proof_hashes(html: str) -> list[bytes]:
    return [base64.b64decode(h) for h in re.findall(r'class="hash proof-hash">([^<]+)<', html)]


def leaf_bytes(html: str) -> bytes:
    found = re.search(
        r'Leaf \(the exact bytes hashed, base64\)</dt><dd><code class="hash">([^<]+)<', html
    )
    assert found, "no leaf on the page"
    return base64.b64decode(unescape(found.group(1)))


def test_a_placed_entry_shows_every_field_and_a_verified_proof_that_really_verifies(
    officer, runtime, client
):
    write(runtime, 9)
    runtime.sequencer.drain()
    index = placed(runtime, "test.event")[5]
    page = officer.client.get(f"/admin/audit/{index}")
    assert page.status_code == 200
    text = page_text(page.text)
    assert "Verified" in text
    assert "test.event" in text
    assert "client:pos" in text
    assert str(ANA) in text
    assert '"é": "ü"' in text  # details as stored, non-ASCII kept

    # An outsider's check: the published key and checkpoint, the page's leaf and proof.
    verifiers = [parse_vkey(k) for k in client.get("/audit/key").text.split()]
    checkpoint = open_checkpoint(
        client.get("/audit/checkpoint").text, verifiers, origin=runtime.audit_keys.origin
    )
    data = leaf_bytes(page.text)
    assert json.loads(data)["index"] == index
    check_record(
        proof_hashes(page.text), checkpoint.size, checkpoint.root_hash, index, leaf_hash(data)
    )
    (viewed,) = officer_entries(runtime, "officer.viewed_entry")
    assert (viewed.actor, viewed.subject, viewed.details) == (
        f"user:{officer.user.id}",
        str(ANA),
        {"index": index},
    )


def test_an_entry_placed_after_the_latest_checkpoint_is_not_yet_in_one(officer, runtime):
    write(runtime, 3)
    runtime.sequencer.drain()
    covered = runtime.audit_log.latest_checkpoint().size
    write(runtime, 1, "test.late")
    runtime.sequencer.run_once(checkpoint=False)  # placed, but no checkpoint signed yet
    page = page_text(officer.client.get(f"/admin/audit/{covered}").text)
    assert "Not yet in a checkpoint" in page
    assert "Verified" not in page
    runtime.sequencer.run_once(checkpoint=True)
    assert "Verified" in page_text(officer.client.get(f"/admin/audit/{covered}").text)


def test_an_edited_entry_does_not_verify(officer, runtime):
    write(runtime, 6)
    runtime.sequencer.drain()
    edited = placed(runtime, "test.event")[2]
    with runtime.db.transaction() as session:
        session.execute(
            update(AuditEntryRow)
            .where(AuditEntryRow.leaf_index == edited)
            .values(details={"i": 99})
        )
    page = officer.client.get(f"/admin/audit/{edited}")
    assert page.status_code == 200
    text = page_text(page.text)
    assert "Does not verify" in text
    assert "Verified" not in text
    assert "the entry or the log was changed" in text


def test_an_entry_the_log_does_not_have_is_a_404_page_and_a_number_too_large_a_400(
    officer, runtime
):
    runtime.sequencer.drain()
    assert officer.client.get("/admin/audit/999999").status_code == 404
    assert officer.client.get(f"/admin/audit/{2**70}").status_code == 400
    assert officer.client.get("/admin/audit/-1").status_code == 400
    assert officer.client.get("/admin/audit/abc").status_code == 400
    assert officer_entries(runtime, "officer.viewed_entry") == []


def test_the_entry_page_speaks_spanish(officer, runtime):
    write(runtime, 2)
    runtime.sequencer.drain()
    text = page_text(officer.client.get("/admin/audit/1?lang=es").text)
    assert "Entrada de auditoría n.º 1" in text
    assert "Verificada" in text


def test_a_purged_entry_shows_what_is_left_and_its_proof_verifies_by_its_leaf_hash(
    officer, runtime
):
    from datetime import timedelta

    from freezegun import freeze_time

    from identity.audit.purge import Purger
    from identity.db import utcnow

    with freeze_time(utcnow() - timedelta(days=2)):
        write(runtime, 3, action="test.old")
    runtime.sequencer.drain()
    Purger(runtime.db, {"test": timedelta(days=1)}).run(actor=Actor.operator("officer"))
    runtime.sequencer.drain()
    index = placed(runtime, "test.old")[1]
    page = officer.client.get(f"/admin/audit/{index}")
    assert page.status_code == 200
    text = page_text(page.text)
    assert "Verified" in text
    assert "were purged past their retention" in text
    assert str(ANA) not in text
    assert "Leaf (the exact bytes hashed" not in text  # no bytes left to show
    listed = officer.client.get("/admin/audit", params={"action": "test.old"})
    assert page_text(listed.text).count("Purged past its retention") == 3
