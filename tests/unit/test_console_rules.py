"""The console's search rules without a database: what each field accepts, how days become
instants, and keyset cursors that only this server, for this search, can make."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from identity.console.rules import (
    BadCursor,
    Cursor,
    Email,
    InvalidSearch,
    Search,
    day_range,
    decode_cursor,
    encode_cursor,
    parse_person,
    parse_search,
    window,
)
from identity.subjects.anonymous import AnonymousIds

ACCOUNT = "4bfad246-9c42-443e-915e-892fa0e4ba81"
KEY = b"k" * 32


def problems(**fields: str) -> list[tuple[str, str]]:
    with pytest.raises(InvalidSearch) as caught:
        parse_search(fields)
    return [(p.field, p.code) for p in caught.value.problems]


def test_an_empty_form_searches_everything_a_page_of_the_default_size():
    assert parse_search({}) == Search()
    assert parse_search({"subject": "  ", "size": ""}).size == 25


@pytest.mark.parametrize(
    ("typed", "means"),
    [
        (ACCOUNT, f"user:{ACCOUNT}"),
        (ACCOUNT.upper(), f"user:{ACCOUNT}"),
        (ACCOUNT.replace("-", ""), f"user:{ACCOUNT}"),
        (f"user:{ACCOUNT.upper()}", f"user:{ACCOUNT}"),
        ("client:web-store", "client:web-store"),
        ("a:AAAAAAAAAAAAAAAAAAAAAA", "visitor:a:AAAAAAAAAAAAAAAAAAAAAA"),
        ("visitor:a:AAAAAAAAAAAAAAAAAAAAAA", "visitor:a:AAAAAAAAAAAAAAAAAAAAAA"),
    ],
)
def test_a_subject_is_named_by_id_key_or_reference_in_one_spelling(typed, means):
    assert parse_search({"subject": typed}).subject == means


def test_an_anonymous_id_as_a_channel_holds_it_names_its_stored_visitor():
    issued = AnonymousIds(b"s" * 32, lifetime=timedelta(days=1)).issue("shop", datetime.now(UTC))
    assert parse_search({"subject": issued.token}).subject == f"visitor:{issued.key}"
    assert problems(subject="a_notanid") == [("subject", "anonymous_invalid")]


def test_an_email_address_is_kept_apart_for_the_service_to_resolve_and_never_described():
    search = parse_search({"subject": " Ana@Example.COM ", "actor": "ben@example.com"})
    assert search.subject == Email("ana@example.com")
    assert not search.resolved
    assert "example" not in repr(search)
    with pytest.raises(ValueError, match="resolve the email"):
        search.describe()
    resolved = search.with_refs(f"user:{ACCOUNT}", "user:" + ACCOUNT)
    assert resolved.describe() == {"subject": f"user:{ACCOUNT}", "actor": f"user:{ACCOUNT}"}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"subject": "operator:cli"}, [("subject", "subject_invalid")]),
        ({"subject": "user:not-a-uuid"}, [("subject", "subject_invalid")]),
        ({"subject": "visitor:a:short"}, [("subject", "subject_invalid")]),
        ({"subject": "not@valid"}, [("subject", "email_invalid")]),
        ({"subject": "x" * 400}, [("subject", "subject_invalid")]),
        ({"actor": "visitor:a:AAAAAAAAAAAAAAAAAAAAAA"}, [("actor", "actor_invalid")]),
        ({"action": "login failed"}, [("action", "action_invalid")]),
        ({"action": "'; drop table"}, [("action", "action_invalid")]),
        ({"client": "has space"}, [("client", "client_invalid")]),
        ({"from": "2026-02-30"}, [("from", "day_invalid")]),
        ({"from": "9999-12-31"}, [("from", "day_invalid")]),
        ({"to": "yesterday"}, [("to", "day_invalid")]),
        ({"from": "2026-12-02", "to": "2026-12-01"}, [("to", "range_reversed")]),
        ({"size": "1000"}, [("size", "size_invalid")]),
        ({"size": "-1", "action": "%"}, [("action", "action_invalid"), ("size", "size_invalid")]),
    ],
)
def test_each_refused_field_is_named_with_its_reason(fields, expected):
    assert problems(**fields) == expected


def test_actors_include_operators_the_system_and_anonymous_requests():
    for actor in ("operator:cli", "system", "anonymous", "client:pos", f"user:{ACCOUNT}"):
        assert parse_search({"actor": actor}).actor == actor


def test_an_action_family_is_lowercased_and_loses_a_trailing_dot():
    assert parse_search({"action": "Login."}).action == "login"


def test_days_come_as_a_date_input_sends_them_or_as_written_in_spanish():
    search = parse_search({"from": "1/12/2026", "to": "2026-12-31"})
    assert (search.since, search.until) == (date(2026, 12, 1), date(2026, 12, 31))


def test_a_day_range_covers_whole_days_in_the_display_time_zone():
    madrid = ZoneInfo("Europe/Madrid")
    since, until = day_range(date(2026, 7, 1), date(2026, 7, 1), madrid)
    assert since == datetime(2026, 6, 30, 22, 0, tzinfo=UTC)  # summer time, UTC+2
    assert until == datetime(2026, 7, 1, 22, 0, tzinfo=UTC)
    assert day_range(None, None, madrid) == (None, None)


def test_only_accounts_and_visitors_have_a_consent_history():
    assert parse_person(ACCOUNT) == f"user:{ACCOUNT}"
    with pytest.raises(InvalidSearch) as caught:
        parse_person("client:web-store")
    assert caught.value.problems[0].code == "subject_not_person"


def test_a_cursor_round_trips_for_its_own_search_only():
    search = parse_search({"action": "consent"})
    text = encode_cursor(Cursor("older", 41), search, KEY)
    assert decode_cursor(text, search, KEY) == Cursor("older", 41)
    with pytest.raises(BadCursor):
        decode_cursor(text, parse_search({"action": "login"}), KEY)  # another search's
    with pytest.raises(BadCursor):
        decode_cursor(text, search, b"x" * 32)  # another server's


@pytest.mark.parametrize(
    "tampered", ["o42" + "x", "n41.", "o041.AAAA", "zzz", "", "o" + "9" * 30 + ".A", "o41.\u00e9"]
)
def test_an_edited_or_invented_cursor_is_refused(tampered):
    search = Search()
    good = encode_cursor(Cursor("older", 41), search, KEY)
    with pytest.raises(BadCursor):
        decode_cursor(tampered, search, KEY)
    edited = good.replace("o41", "o40")
    with pytest.raises(BadCursor):
        decode_cursor(edited, search, KEY)


def test_the_first_page_links_older_only_when_more_entries_exist():
    first = window([9, 8, 7], None, 2)
    assert (first.indexes, first.older, first.newer) == ([9, 8], Cursor("older", 8), None)
    last = window([9], None, 2)
    assert (last.older, last.newer) == (None, None)


def test_going_older_links_back_newer_and_further_older_if_there_is_more():
    page = window([5, 4, 3], Cursor("older", 6), 2)
    assert (page.indexes, page.older, page.newer) == (
        [5, 4],
        Cursor("older", 4),
        Cursor("newer", 5),
    )
    end = window([1], Cursor("older", 2), 2)
    assert (end.indexes, end.older, end.newer) == ([1], None, Cursor("newer", 1))


def test_going_newer_reads_upwards_and_shows_newest_first():
    page = window([3, 4, 5], Cursor("newer", 2), 2)
    assert (page.indexes, page.older, page.newer) == (
        [4, 3],
        Cursor("older", 3),
        Cursor("newer", 4),
    )
    top = window([3], Cursor("newer", 2), 2)
    assert (top.indexes, top.older, top.newer) == ([3], Cursor("older", 3), None)
    assert window([], Cursor("newer", 2), 2).indexes == []
