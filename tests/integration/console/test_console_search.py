"""Audit search in the console: each criterion lists exactly the entries it names (checked
against the log read directly), an email address is resolved without ever being kept, pages
are keyset pages that stay whole while entries arrive, and no input breaks the page."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from identity import audit
from identity.audit.refs import ANONYMOUS, Actor, Subject
from identity.console.rules import FIELDS
from tests.support.console import (
    cursor_of,
    every_page,
    link,
    listed,
    officer_entries,
    placed_entries,
)
from tests.support.forms import page_text
from tests.support.fuzz import FUZZ, nasty


class Seeded:
    """Two customers, a visitor and two clients, with entries of every kind about them."""

    def __init__(self, runtime: Any, make_user: Any) -> None:
        self.ana = make_user("ana@example.com")
        self.ben = make_user("ben@example.com")
        self.visitor = runtime.anonymous_ids.issue("web-store", datetime.now(UTC))
        ana, ben = Subject.user(self.ana.id), Subject.user(self.ben.id)
        visitor = Subject.visitor(self.visitor.key)
        writes = [
            ("login.failed", ANONYMOUS, ben, {"ip": "h1"}),
            ("login.succeeded", Actor.user(self.ana.id), ana, {"ip": "h2"}),
            ("oidc.consent_given", Actor.user(self.ana.id), ana, {"client_id": "web-store"}),
            ("consent.recorded", Actor.client("pos"), ben, {"purpose": "analytics"}),
            ("consent.recorded", Actor.user(self.ben.id), ben, {"via_client": "web-store"}),
            ("consent.recorded", Actor.client("web-store"), visitor, {"purpose": "analytics"}),
            ("link.shared", Actor.client("web-store"), visitor, {"accounts": 4}),
            ("client.updated", Actor.operator("cli"), Subject.client("web-store"), {}),
            ("consentx.other", Actor.operator("cli"), None, {}),  # not of the consent family
        ]
        for action, actor, subject, details in writes:
            with runtime.db.transaction() as session:
                audit.record(session, action, actor=actor, subject=subject, details=details)
        runtime.sequencer.drain()


@pytest.fixture
def seeded(runtime, make_user) -> Seeded:
    return Seeded(runtime, make_user)


def search(officer: Any, **fields: str) -> list[int]:
    return every_page(officer.client, "/admin/audit?" + urlencode({"size": "100", **fields}))


def expected(runtime: Any, keep: Any) -> list[int]:
    return [int(row.leaf_index) for row in placed_entries(runtime) if keep(row)]


def test_a_search_by_account_id_lists_exactly_the_entries_about_that_account(
    officer, seeded, runtime
):
    ben = f"user:{seeded.ben.id}"
    want = expected(runtime, lambda r: r.subject == ben)
    assert len(want) == 4  # created, failed sign-in, two consent records
    assert search(officer, subject=str(seeded.ben.id)) == want
    assert search(officer, subject=ben) == want


def test_a_search_by_email_is_resolved_to_the_account_and_the_address_is_never_kept(
    officer, seeded, runtime
):
    typed = officer.client.get("/admin/audit?subject=Ana%40Example.com&size=25")
    assert typed.status_code == 303
    location = typed.headers["location"]
    assert "example.com" not in location
    assert f"user%3A{seeded.ana.id}" in location
    page = officer.client.get(location)
    ana = f"user:{seeded.ana.id}"
    assert listed(page.text) == expected(runtime, lambda r: r.subject == ana)
    assert "ana@example.com" not in page.text  # not in the form, the links or the export
    (searched,) = officer_entries(runtime, "officer.searched")
    assert (searched.actor, searched.subject) == (f"user:{officer.user.id}", ana)
    assert searched.details["criteria"] == {"subject": ana}
    assert "example.com" not in json.dumps(searched.details) + str(searched.subject)


def test_an_email_no_account_has_is_said_on_the_form_and_nothing_is_recorded(officer, runtime):
    page = officer.client.get("/admin/audit?subject=nobody%40example.com")
    assert page.status_code == 400
    assert "No account has that email address." in page_text(page.text)
    assert officer_entries(runtime, "officer.searched") == []


def test_a_search_by_anonymous_id_lists_the_visitors_entries(officer, seeded, runtime):
    visitor = f"visitor:{seeded.visitor.key}"
    want = expected(runtime, lambda r: r.subject == visitor)
    assert len(want) == 2
    assert search(officer, subject=seeded.visitor.token) == want  # as the channel holds it
    assert search(officer, subject=seeded.visitor.key) == want  # as it is stored
    (searched, _) = officer_entries(runtime, "officer.searched")
    assert searched.subject == visitor


def test_a_search_by_action_family_lists_the_family_and_not_its_lookalikes(
    officer, seeded, runtime
):
    want = expected(runtime, lambda r: r.action.startswith("consent."))
    assert len(want) == 3
    assert search(officer, action="consent") == want
    assert search(officer, action="login.failed") == expected(
        runtime, lambda r: r.action == "login.failed"
    )


def test_a_search_by_actor_lists_what_that_actor_did(officer, seeded, runtime):
    ana = f"user:{seeded.ana.id}"
    assert search(officer, actor="ben@example.com") == expected(
        runtime, lambda r: r.actor == f"user:{seeded.ben.id}"
    )
    assert search(officer, actor=ana) == expected(runtime, lambda r: r.actor == ana)
    assert search(officer, actor="operator:cli") == expected(
        runtime, lambda r: r.actor == "operator:cli"
    )
    assert search(officer, actor="anonymous") == expected(runtime, lambda r: r.actor == "anonymous")


def test_a_search_by_client_lists_what_it_did_what_is_about_it_and_what_names_it(
    officer, seeded, runtime
):
    def concerns_web_store(row: Any) -> bool:
        return (
            row.actor == "client:web-store"
            or row.subject == "client:web-store"
            or row.details.get("client_id") == "web-store"
            or row.details.get("via_client") == "web-store"
        )

    want = expected(runtime, concerns_web_store)
    assert len(want) == 5
    assert search(officer, client="web-store") == want
    assert search(officer, client="client:pos") == expected(
        runtime, lambda r: r.actor == "client:pos"
    )


def test_criteria_combine(officer, seeded, runtime):
    ben = f"user:{seeded.ben.id}"
    assert search(officer, subject=ben, action="consent", client="web-store") == expected(
        runtime,
        lambda r: (
            r.subject == ben
            and r.action == "consent.recorded"
            and r.details.get("via_client") == "web-store"
        ),
    )


def test_a_search_by_days_lists_whole_days_in_the_display_time_zone(
    client, runtime, make_user, clock
):
    from tests.support.officers import signed_in_officer

    start = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    days = [start + timedelta(days=n) for n in (1, 2, 3)]
    for day in days:
        clock.move_to(day)
        for _ in range(2):
            with runtime.db.transaction() as session:
                audit.record(session, "test.daily", actor=Actor.operator("cli"))
    officer = signed_in_officer(client, runtime, make_user)  # after the clock moved on
    runtime.sequencer.drain()
    middle = days[1].date()

    def on(*wanted: Any) -> list[int]:
        dates = {d.date() for d in wanted}
        return expected(runtime, lambda r: r.action == "test.daily" and r.at.date() in dates)

    assert search(
        officer, action="test", **{"from": middle.isoformat(), "to": middle.isoformat()}
    ) == on(days[1])
    spanish = f"{middle.day}/{middle.month}/{middle.year}"
    assert search(officer, action="test", **{"from": spanish}) == on(days[1], days[2])
    assert search(officer, action="test", to=spanish) == on(days[0], days[1])


def test_pages_walk_every_entry_once_while_new_entries_arrive(officer, runtime):
    for i in range(27):
        with runtime.db.transaction() as session:
            audit.record(session, "test.event", actor=Actor.operator("cli"), details={"i": i})
    runtime.sequencer.drain()
    before = [int(r.leaf_index) for r in placed_entries(runtime)]

    page = officer.client.get("/admin/audit?size=10")
    seen, pages = listed(page.text), 1
    while (older := link(page.text, "older")) is not None:
        with runtime.db.transaction() as session:  # entries keep arriving between pages
            audit.record(session, "test.late", actor=Actor.operator("cli"))
        runtime.sequencer.drain()
        page = officer.client.get(older)
        seen += listed(page.text)
        pages += 1
    assert seen == before  # newest first, none twice, none skipped
    assert pages == 4

    # And back up from the last page: every entry now in the log, once, to the newest.
    top = [int(r.leaf_index) for r in placed_entries(runtime)]
    going_up = listed(page.text)
    while (newer := link(page.text, "newer")) is not None:
        page = officer.client.get(newer)
        going_up = listed(page.text) + going_up
    assert going_up == top


def test_a_tampered_cursor_is_a_friendly_400_that_offers_the_first_page(officer, runtime):
    for i in range(12):
        with runtime.db.transaction() as session:
            audit.record(session, "test.event", actor=Actor.operator("cli"), details={"i": i})
    runtime.sequencer.drain()
    older = link(officer.client.get("/admin/audit?size=10&action=test").text, "older")
    assert older is not None
    cursor = cursor_of(older)
    searched = len(officer_entries(runtime, "officer.searched"))
    for bad in (cursor[:-1] + ("A" if cursor[-1] != "A" else "B"), "o1", "garbage", "n" + "9" * 40):
        query = urlencode({"size": 10, "action": "test", "cursor": bad})
        page = officer.client.get("/admin/audit?" + query)
        assert page.status_code == 400
        assert "This page link is broken" in page_text(page.text)
        assert 'href="/admin/audit?action=test&amp;size=10"' in page.text
    query = urlencode({"size": 10, "action": "login", "cursor": cursor})
    other_search = officer.client.get("/admin/audit?" + query)
    assert other_search.status_code == 400  # a cursor belongs to its own search
    assert len(officer_entries(runtime, "officer.searched")) == searched  # refused: not searched


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"subject": "operator:cli"}, "Enter an account id, an email address, an anonymous id"),
        ({"action": "drop table"}, "Enter an action such as login.failed"),
        ({"from": "2026-13-01"}, "Enter a day as 2026-12-31 or 31/12/2026."),
        ({"from": "2026-12-02", "to": "2026-12-01"}, "The last day comes before the first one."),
        ({"size": "7"}, "Choose one of the page sizes offered."),
    ],
)
def test_invalid_input_is_named_on_the_form_never_a_500(officer, runtime, query, message):
    page = officer.client.get("/admin/audit?" + urlencode(query))
    assert page.status_code == 400
    assert message in page_text(page.text)
    assert 'aria-invalid="true"' in page.text
    assert officer_entries(runtime, "officer.searched") == []


def test_the_search_page_speaks_spanish_and_english(officer, seeded):
    spanish = page_text(officer.client.get("/admin/audit?action=consent&lang=es").text)
    assert "Registro de auditoría" in spanish
    assert "Exportar como CSV" in spanish
    english = page_text(officer.client.get("/admin/audit?action=consent&lang=en").text)
    assert "Audit log" in english
    assert "Export as CSV" in english
    error = officer.client.get("/admin/audit?action=%25&lang=es")
    assert "Escribe una acción" in page_text(error.text)


@FUZZ
@given(
    # Cut to what fits in a URL at all (the test client refuses longer ones itself).
    st.dictionaries(
        st.sampled_from([*FIELDS, "cursor", "lang"]), nasty.map(lambda v: v[:2001]), max_size=5
    ),
)
def test_no_search_input_breaks_the_page(officer, fields):
    response = officer.client.get("/admin/audit", params=fields)
    assert response.status_code in (200, 303, 400), response.text[:500]
