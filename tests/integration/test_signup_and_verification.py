"""Sign-up, the verification mail and its single-use link."""

from __future__ import annotations

from freezegun import freeze_time
from sqlalchemy import select

from identity.accounts.models import User
from tests.support.forms import login, page_text, submit

SIGNUP = {
    "email": "Nuria@Example.com",
    "name": "Nuria",
    "password": "a long enough secret",
    "locale": "es",
}


def test_signup_creates_an_unverified_account_and_mails_a_link(
    client, runtime, mailbox, audit_actions
):
    response = submit(client, "/signup", SIGNUP)
    assert response.status_code == 303
    assert response.headers["location"] == "/signup/sent"
    with runtime.db.read() as session:
        user = session.scalars(select(User)).one()
    assert (user.email, user.locale, user.email_verified) == ("nuria@example.com", "es", False)
    assert user.password_hash.startswith("$argon2id$")
    mail = mailbox.last("nuria@example.com")
    assert mail["subject"] == "Confirma tu dirección de correo"  # in the account's language
    assert "/verify?token=" in mail["text"]
    assert audit_actions() == ["account.signup"]


def test_an_unverified_account_cannot_sign_in_yet(client):
    submit(client, "/signup", SIGNUP)
    response = login(client, SIGNUP["email"], SIGNUP["password"])
    assert response.status_code == 403
    assert "confirm your email" in page_text(response.text)


def test_the_verification_link_confirms_the_address_once(client, runtime, mailbox, audit_actions):
    submit(client, "/signup", SIGNUP)
    link = mailbox.last_link("nuria@example.com", "/verify")
    first = client.get(link)
    assert first.status_code == 303
    # The sign-in form comes with the confirmed address filled in.
    assert first.headers["location"] == "/login?notice=verified&login_hint=nuria%40example.com"
    again = client.get(link)
    assert again.status_code == 400
    assert "already been used" in page_text(again.text)
    assert login(client, SIGNUP["email"], SIGNUP["password"]).status_code == 303
    assert audit_actions()[:2] == ["account.signup", "account.email_verified"]


def test_a_verification_link_expires(client, mailbox, settings):
    with freeze_time("2026-05-01 10:00:00"):
        submit(client, "/signup", SIGNUP)
        link = mailbox.last_link("nuria@example.com", "/verify")
    with freeze_time("2026-05-01 10:00:00") as frozen:
        frozen.tick(settings.verify_link_ttl.total_seconds() + 1)
        response = client.get(link)
    assert response.status_code == 400
    assert "expired" in page_text(response.text)


def test_a_forged_or_truncated_link_is_refused(client, mailbox):
    submit(client, "/signup", SIGNUP)
    link = mailbox.last_link("nuria@example.com", "/verify")
    for bad in (link[:-3], "/verify?token=abc", "/verify"):
        response = client.get(bad)
        assert response.status_code == 400
        assert "not valid" in page_text(response.text)


def test_signing_up_again_with_a_known_address_looks_the_same_and_warns_the_owner(
    client, make_user, mailbox, count_rows
):
    make_user("nuria@example.com")
    response = submit(client, "/signup", SIGNUP)
    assert (response.status_code, response.headers["location"]) == (303, "/signup/sent")
    assert count_rows(User) == 1
    assert mailbox.last("nuria@example.com")["subject"] == "You already have an account"


def test_invalid_signup_shows_every_problem_and_creates_nothing(client, count_rows, mailbox):
    response = submit(
        client, "/signup", {"email": "nope", "name": "", "password": "short", "locale": "en"}
    )
    assert response.status_code == 400
    text = page_text(response.text)
    assert "valid email address" in text
    assert "Tell us your name" in text
    assert "at least 10 characters" in text
    assert count_rows(User) == 0
    assert mailbox.messages() == []


def test_resending_the_link_sends_a_fresh_one(client, mailbox):
    submit(client, "/signup", SIGNUP)
    response = submit(client, "/verify/resend", {"email": SIGNUP["email"]}, form_page="/login")
    assert response.status_code == 303
    links = [m for m in mailbox.messages() if "/verify?token=" in m["text"]]
    assert len(links) == 2
