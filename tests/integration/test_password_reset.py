"""Password reset links: mailed only to real accounts, single use, expiring, and a reset ends
every other session."""

from __future__ import annotations

from freezegun import freeze_time
from starlette.testclient import TestClient

from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import login, page_text, submit

NEW = "a brand new passphrase"


def request_link(client, mailbox, email="ana@example.com") -> str:
    response = submit(client, "/forgot", {"email": email})
    assert response.headers["location"] == "/forgot/sent"
    return mailbox.last_link(email, "/reset")


def reset(client, link, password=NEW, confirm=None):
    token = link.split("token=", 1)[1]
    return submit(
        client,
        "/reset",
        {"token": token, "password": password, "confirm": confirm or password},
        form_page="/forgot",
    )


def test_reset_changes_the_password_and_the_old_one_stops_working(
    client, make_user, mailbox, audit_actions
):
    make_user("ana@example.com")
    link = request_link(client, mailbox)
    response = reset(client, link)
    assert response.headers["location"] == (
        "/login?notice=password_reset&login_hint=ana%40example.com"
    )
    assert login(client, "ana@example.com", DEFAULT_PASSWORD).status_code == 401
    assert login(client, "ana@example.com", NEW).status_code == 303
    assert mailbox.last("ana@example.com")["subject"] == "Your password was changed"
    assert "password.reset" in audit_actions()


def test_a_reset_link_works_once(client, make_user, mailbox):
    make_user("ana@example.com")
    link = request_link(client, mailbox)
    assert reset(client, link).status_code == 303
    again = client.get(link)
    assert again.status_code == 400
    assert "already been used" in page_text(again.text)
    assert reset(client, link, password="yet another passphrase").status_code == 400
    assert login(client, "ana@example.com", NEW).status_code == 303


def test_a_reset_link_expires(client, make_user, mailbox, settings):
    make_user("ana@example.com")
    with freeze_time("2026-06-01 12:00:00") as frozen:
        link = request_link(client, mailbox)
        frozen.tick(settings.reset_link_ttl.total_seconds() - 5)
        assert client.get(link).status_code == 200
        frozen.tick(10)
        expired = client.get(link)
        assert expired.status_code == 400
        assert "expired" in page_text(expired.text)
        assert reset(client, link).status_code == 400
    assert login(client, "ana@example.com", DEFAULT_PASSWORD).status_code == 303


def test_an_older_link_dies_when_the_password_changes_through_a_newer_one(
    client, make_user, mailbox
):
    make_user("ana@example.com")
    first = request_link(client, mailbox)
    second = request_link(client, mailbox)
    assert reset(client, second).status_code == 303
    assert reset(client, first, password="sneaky other passphrase").status_code == 400


def test_reset_signs_out_every_other_session(app, client, make_user, mailbox, audit_actions):
    make_user("ana@example.com")
    other = TestClient(app, base_url="http://testserver", follow_redirects=False)
    login(other, "ana@example.com", DEFAULT_PASSWORD)
    assert other.get("/account").status_code == 200
    reset(client, request_link(client, mailbox))
    assert other.get("/account").status_code == 303


def test_reset_from_a_signed_in_browser_keeps_that_session(app, client, make_user, mailbox):
    make_user("ana@example.com")
    login(client, "ana@example.com", DEFAULT_PASSWORD)
    other = TestClient(app, base_url="http://testserver", follow_redirects=False)
    login(other, "ana@example.com", DEFAULT_PASSWORD)
    reset(client, request_link(client, mailbox))
    assert client.get("/account").status_code == 200
    assert other.get("/account").status_code == 303


def test_unknown_addresses_get_the_same_answer_and_no_mail(client, mailbox):
    response = submit(client, "/forgot", {"email": "nobody@example.com"})
    assert response.headers["location"] == "/forgot/sent"
    assert mailbox.messages() == []


def test_a_weak_or_mismatched_new_password_is_refused_and_the_link_stays_usable(
    client, make_user, mailbox
):
    make_user("ana@example.com")
    link = request_link(client, mailbox)
    short = reset(client, link, password="short")
    assert short.status_code == 400
    assert "at least 10 characters" in page_text(short.text)
    mismatch = reset(client, link, password=NEW, confirm=NEW + "x")
    assert "do not match" in page_text(mismatch.text)
    assert reset(client, link).status_code == 303
