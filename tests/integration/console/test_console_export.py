"""Exports from the console are real files that verify offline with nothing but the log's
published key (``identity.audit.offline`` and the CLI): a search's entries with their
proofs, or the whole log by its root; each export is recorded before a byte is sent."""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pytest
from click.testing import CliRunner

from identity import audit
from identity.audit.notes import parse_vkey
from identity.audit.offline import read_records, verify_file
from identity.audit.refs import Actor, Subject
from identity.cli import main as cli
from tests.support.console import officer_entries, placed_entries
from tests.support.forms import page_text

ANA = Subject.user("00000000-0000-4000-8000-000000000001")
BEN = Subject.user("00000000-0000-4000-8000-000000000002")


@pytest.fixture
def logged(runtime):
    for i in range(14):
        with runtime.db.transaction() as session:
            audit.record(
                session,
                "consent.recorded" if i % 3 == 0 else "login.succeeded",
                actor=Actor.user(str(ANA.id if i % 2 else BEN.id)),
                subject=ANA if i % 2 else BEN,
                details={"i": i, "via_client": "app" if i % 4 == 0 else "web"},
            )
    runtime.sequencer.drain()
    return runtime


def export_form(html: str) -> dict[str, str]:
    """The hidden fields of the results page's export form, as the browser would send them."""
    form = re.search(r'<form method="post" action="/admin/audit/export".*?</form>', html, re.S)
    assert form, "no export form on the page"
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.group(0))
    return {name: unescape(value) for name, value in fields}


def download(officer, query: str, fmt: str, path: Path) -> Path:
    page = officer.client.get(f"/admin/audit?{query}")
    if page.status_code == 303:  # an email address, resolved: the same search by account
        page = officer.client.get(page.headers["location"])
    assert page.status_code == 200
    response = officer.client.post(
        "/admin/audit/export", data={**export_form(page.text), "format": fmt}
    )
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    path.write_bytes(response.content)
    return path


def published_verifiers(client) -> list:
    return [parse_vkey(k) for k in client.get("/audit/key").text.split()]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_searchs_export_verifies_offline_with_the_published_key(
    officer, logged, client, tmp_path, fmt
):
    path = download(officer, f"subject={ANA}&action=consent&size=10", fmt, tmp_path / f"a.{fmt}")
    result = verify_file(path, published_verifiers(client), logged.audit_keys.origin)
    assert result.ok, result.problem
    want = [
        int(r.leaf_index)
        for r in reversed(placed_entries(logged))
        if r.subject == str(ANA) and r.action.startswith("consent.")
    ]
    exported = [int(r["index"]) for r in read_records(path) if r["type"] == "entry"]
    assert exported == want  # every page's entries, not one page's
    assert result.entries == len(want) > 0


def test_an_export_by_client_carries_proofs_and_is_not_taken_for_the_whole_log(
    officer, logged, client, tmp_path
):
    path = download(officer, "client=app&size=10", "jsonl", tmp_path / "app.jsonl")
    header = next(read_records(path))
    assert header["full"] is False
    assert header["filter"] == {"client": "app"}
    result = verify_file(path, published_verifiers(client), logged.audit_keys.origin)
    assert result.ok, result.problem
    assert result.entries == sum(
        1 for r in placed_entries(logged) if r.details.get("via_client") == "app"
    )


def test_an_export_of_everything_verifies_by_its_root_with_the_cli(
    officer, logged, client, tmp_path
):
    path = download(officer, "size=25", "csv", tmp_path / "all.csv")
    assert next(read_records(path))["full"] is True
    key = tmp_path / "audit.vkey"
    key.write_text(client.get("/audit/key").text)
    verified = CliRunner().invoke(cli, ["audit", "verify", "--file", str(path), "--key", str(key)])
    assert verified.exit_code == 0, verified.output
    assert "intact" in verified.output
    path.write_text(path.read_text().replace("login.succeeded", "login.forged", 1))
    broken = CliRunner().invoke(cli, ["audit", "verify", "--file", str(path), "--key", str(key)])
    assert broken.exit_code == 1


def test_each_export_is_recorded_with_the_officer_and_the_criteria_not_the_email(
    officer, runtime, make_user, tmp_path
):
    ana = make_user("ana@example.com")
    runtime.sequencer.drain()
    download(officer, "subject=ana%40example.com&size=10", "jsonl", tmp_path / "ana.jsonl")
    (exported,) = officer_entries(runtime, "officer.exported")
    assert (exported.actor, exported.subject) == (f"user:{officer.user.id}", f"user:{ana.id}")
    assert exported.details["criteria"] == {"subject": f"user:{ana.id}"}
    assert exported.details["format"] == "jsonl"
    assert "example.com" not in json.dumps(exported.details)


def test_before_any_signed_checkpoint_the_export_says_so(officer, runtime):
    page = officer.client.get("/admin/audit?size=10")
    response = officer.client.post(
        "/admin/audit/export", data={**export_form(page.text), "format": "csv"}
    )
    assert response.status_code == 409
    assert "the log has no signed checkpoint" in page_text(response.text)
    assert officer_entries(runtime, "officer.exported") == []


def test_an_unknown_format_or_criteria_is_refused_on_the_page(officer, logged):
    page = officer.client.get("/admin/audit?size=10")
    fields = export_form(page.text)
    bad_format = officer.client.post("/admin/audit/export", data={**fields, "format": "xml"})
    assert bad_format.status_code == 400
    assert "Choose JSON Lines or CSV." in page_text(bad_format.text)
    bad_day = officer.client.post(
        "/admin/audit/export", data={**fields, "format": "csv", "from": "31/02/2026"}
    )
    assert bad_day.status_code == 400
    assert officer_entries(logged, "officer.exported") == []
