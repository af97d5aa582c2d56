"""``identity consent export``: every matching record with a receipt that verifies against
``/receipts/jwks``, filters, exact resumption after any cursor, CSV a spreadsheet reads safely."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from identity.audit.models import AuditEntryRow
from identity.audit.refs import Actor
from identity.consent.export import ConsentExport, ExportEnd, ExportFilter
from identity.consent.policy import Catalog
from identity.context import Origin

OPERATOR = Actor.operator("dpo")


def decide(runtime, user, **choices: bool) -> None:
    runtime.consent.set_choices(str(user.id), choices, origin=Origin(ip="192.0.2.7"))


def records(ran) -> list[dict]:
    lines = ran.lines()
    assert lines[-1]["type"] == "end"
    return [line for line in lines if line["type"] == "record"]


def facts(lines: list[dict]) -> list[dict]:
    """The records without their receipts (signed anew, with a new ``iat``, each time)."""
    return [{k: v for k, v in line.items() if k != "receipt"} for line in lines]


def test_every_record_comes_with_a_receipt_that_verifies_against_the_receipt_keys(
    client, make_user, runtime, identity
):
    users = [make_user(f"s{n}@example.com") for n in range(3)]
    for user in users:
        decide(runtime, user, personalization=True, analytics=False)
    ran = identity("consent", "export")  # places the records in the feed first
    assert ran.code == 0, ran.err
    exported = records(ran)
    assert len(exported) == 6
    assert ran.lines()[-1] == {"type": "end", "count": 6, "cursor": exported[-1]["cursor"]}
    keys = KeySet.import_key_set(client.get("/receipts/jwks").json())
    for line in exported:
        receipt = jwt.decode(line["receipt"], keys, algorithms=["RS256", "ES256"])
        assert receipt.header["typ"] == "consent-receipt+jwt"
        claims = receipt.claims
        assert claims["consentReceiptID"] == str(line["id"])
        assert claims["piiPrincipalId"] == line["subject"]
        [purpose] = claims["services"][0]["purposes"]
        assert (purpose["purposeId"], purpose["decision"]) == (line["purpose"], line["decision"])
    assert [line["cursor"] for line in exported] == sorted(line["cursor"] for line in exported)


def test_filters_by_subject_purpose_and_recording_time(make_user, runtime, identity, clock):
    ana, bea = make_user("ana@example.com"), make_user("bea@example.com")
    decide(runtime, ana, personalization=True)
    clock.tick(timedelta(days=1))
    middle = datetime.now(UTC)
    decide(runtime, bea, personalization=True, analytics=False)
    clock.tick(timedelta(days=1))
    later = datetime.now(UTC)
    decide(runtime, ana, personalization=False)

    def exported(*args: str) -> list[tuple[str, str, str]]:
        return [
            (r["subject"], r["purpose"], r["decision"] if r["purpose"] != "analytics" else "-")
            for r in records(identity("consent", "export", *args))
        ]

    a, b = str(ana.id), str(bea.id)
    assert exported("--subject", a) == [
        (a, "personalization", "granted"),
        (a, "personalization", "withdrawn"),
    ]
    assert exported("--purpose", "analytics") == [(b, "analytics", "-")]
    stamp = "%Y-%m-%dT%H:%M:%S"
    assert {
        s
        for s, _, _ in exported("--since", middle.strftime(stamp), "--until", later.strftime(stamp))
    } == {b}
    assert exported("--subject", a, "--since", later.strftime(stamp)) == [
        (a, "personalization", "withdrawn")
    ]
    assert exported("--subject", "nobody") == []


def test_resuming_after_any_cursor_gives_exactly_the_rest(make_user, runtime, identity):
    for n in range(4):
        decide(runtime, make_user(f"s{n}@example.com"), personalization=True, analytics=False)
    everything = records(identity("consent", "export"))
    for cut in (0, 3, 7):
        rest = records(identity("consent", "export", "--after", str(everything[cut]["cursor"])))
        assert facts(rest) == facts(everything[cut + 1 :])  # the same, in order, no duplicate
    end = identity("consent", "export").lines()[-1]["cursor"]
    assert records(identity("consent", "export", "--after", str(end))) == []
    decide(runtime, make_user("late@example.com"), personalization=True)
    [late] = records(identity("consent", "export", "--after", str(end)))
    assert late["cursor"] > end


def test_an_export_reads_in_pages_and_stops_where_the_feed_was_when_it_started(
    make_user, runtime, settings
):
    for n in range(5):
        decide(runtime, make_user(f"s{n}@example.com"), personalization=True)
    runtime.audit_keys.ensure()
    runtime.sequencer.drain()
    export = ConsentExport(
        db=runtime.db,
        catalog=runtime.consent.catalog,
        receipts=runtime.receipts,
        page_size=2,
    )
    runtime.receipt_keys.ensure()
    lines = export.run(ExportFilter(), actor=OPERATOR)
    first = next(lines)
    decide(runtime, make_user("during@example.com"), personalization=True)
    runtime.sequencer.drain()
    rest = list(lines)
    end = rest[-1]
    assert isinstance(end, ExportEnd)
    assert end.count == 5  # not the decision made during the export
    assert [r.cursor for r in [first, *rest[:-1]]] == list(range(first.cursor, first.cursor + 5))
    [during] = list(export.run(ExportFilter(after=end.cursor), actor=OPERATOR))[:-1]
    assert during.fields["subject"] != first.fields["subject"]


def test_a_record_not_yet_placed_in_the_feed_waits_for_the_next_export(
    make_user, runtime, settings
):
    runtime.receipt_keys.ensure()
    runtime.audit_keys.ensure()
    decide(runtime, make_user(), personalization=True)
    export = runtime.operations.consent_export
    [end] = list(export.run(ExportFilter(), actor=OPERATOR))
    assert (end.count, end.cursor) == (0, 0)
    runtime.sequencer.drain()
    assert list(export.run(ExportFilter(after=end.cursor), actor=OPERATOR))[-1].count == 1


def test_a_record_whose_purpose_file_was_removed_is_exported_without_a_receipt(
    make_user, runtime, settings
):
    runtime.receipt_keys.ensure()
    runtime.audit_keys.ensure()
    decide(runtime, make_user(), personalization=True, analytics=False)
    runtime.sequencer.drain()
    kept = {k: v for k, v in runtime.consent.catalog.purposes.items() if k != "analytics"}
    export = ConsentExport(db=runtime.db, catalog=Catalog(kept), receipts=runtime.receipts)
    lines = list(export.run(ExportFilter(), actor=OPERATOR))[:-1]
    assert {r.fields["purpose"]: r.receipt is not None for r in lines} == {
        "personalization": True,
        "analytics": False,
    }


def test_csv_quotes_commas_quotes_and_line_breaks_and_defuses_formulas(
    make_user, runtime, identity
):
    user = make_user()
    tricky = 'Mozilla/5.0 ("quoted", with, commas)\nand a line break'
    runtime.consent.set_choices(
        str(user.id),
        {"personalization": True},
        origin=Origin(ip="192.0.2.7", user_agent=tricky),
        source='=HYPERLINK("http://evil.example")',
    )
    ran = identity("consent", "export", "--format", "csv")
    assert ran.code == 0, ran.err
    rows = list(csv.DictReader(io.StringIO(ran.out, newline="")))
    [record, end] = rows
    assert record["user_agent"] == tricky
    assert record["source"] == '\'=HYPERLINK("http://evil.example")'  # text, not a formula
    assert (record["pending"], record["evidence"]) == ("false", "{}")
    assert record["receipt"].count(".") == 2
    assert (end["type"], end["count"], end["cursor"]) == ("end", "1", record["cursor"])
    jsonl = records(identity("consent", "export"))
    assert jsonl[0]["source"] == '=HYPERLINK("http://evil.example")'  # JSON keeps it exact


def test_an_export_is_audited_with_its_operator_and_filter(make_user, runtime, identity):
    user = make_user()
    decide(runtime, user, personalization=True)
    identity(
        "consent", "export", "--subject", str(user.id), "--purpose", "personalization",
        "--since", "2020-01-01", "--operator", "dpo",
    )  # fmt: skip
    with runtime.db.read() as session:
        [entry] = session.scalars(
            select(AuditEntryRow).where(AuditEntryRow.action == "consent.exported")
        ).all()
    assert (entry.actor, entry.subject) == ("operator:dpo", f"user:{user.id}")
    assert entry.details == {
        "purpose": "personalization",
        "since": "2020-01-01T00:00:00Z",
        "upto": 1,
    }


def test_the_output_file_holds_the_same_lines(make_user, runtime, identity, tmp_path):
    decide(runtime, make_user(), personalization=True)
    target = tmp_path / "consents.jsonl"
    assert identity("consent", "export", "--output", str(target)).code == 0
    assert target.read_text().count("\n") == 2
