"""A console link on another site cannot make an officer's browser search or open a customer
in the officer's name: the officer is asked first, on a page that records nothing."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.console import officer_entries
from tests.support.forms import page_text

FROM_ELSEWHERE = {"sec-fetch-site": "cross-site", "sec-fetch-mode": "navigate"}


@pytest.fixture
def ana(make_user: Any) -> Any:
    return make_user("ana@example.com")


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_a_search_linked_from_another_site_asks_first_and_records_nothing(
    officer, ana, runtime, site
):
    wanted = f"/admin/audit?subject={ana.id}"
    response = officer.client.get(wanted, headers={**FROM_ELSEWHERE, "sec-fetch-site": site})
    assert response.status_code == 303
    target = urlsplit(response.headers["location"])
    assert target.path == "/admin/continue"
    assert parse_qs(target.query)["next"] == [wanted]
    asked = officer.client.get(response.headers["location"], headers=FROM_ELSEWHERE)
    assert asked.status_code == 200
    assert f'href="{wanted}"' in asked.text
    assert "Open it" in page_text(asked.text)
    assert officer_entries(runtime, "officer.searched") == []


def test_a_subject_page_linked_from_another_site_records_nothing(officer, ana, runtime):
    response = officer.client.get(f"/admin/subjects/user:{ana.id}", headers=FROM_ELSEWHERE)
    assert response.status_code == 303
    assert urlsplit(response.headers["location"]).path == "/admin/continue"
    assert [e for e in officer_entries(runtime, "officer.viewed_subject")] == []


def test_the_officer_going_on_from_the_console_runs_the_search(officer, ana, runtime):
    wanted = f"/admin/audit?subject={ana.id}"
    same = officer.client.get(wanted, headers={"sec-fetch-site": "same-origin"})
    typed = officer.client.get(wanted, headers={"sec-fetch-site": "none"})
    assert (same.status_code, typed.status_code) == (200, 200)
    assert len(officer_entries(runtime, "officer.searched")) == 2


@pytest.mark.parametrize(
    "next_url", ["https://evil.example/admin/x", "//evil.example/admin", "/account", ""]
)
def test_the_question_page_offers_only_console_pages(officer, next_url):
    asked = officer.client.get("/admin/continue", params={"next": next_url})
    assert asked.status_code == 200
    assert '<a class="button" href="/admin">' in asked.text  # "Open it": the console's start
