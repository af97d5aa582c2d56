"""Changing the password from the account page: the current one first (throttled as sign-in
is), the new one by the sign-up rules, other devices signed out on request, a mail, an audit
entry. Attackers first: a forged form, a stolen session without the password, garbage."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from identity.accounts.models import BrowserSession, User
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import csrf_token, login, page_text, submit

NEW_PASSWORD = "a brand new passphrase"


def browser(app, agent: str = "Mozilla/5.0 (Windows NT 10.0) Chrome/131.0 Safari/537.36"):
    return TestClient(
        app, base_url="http://testserver", follow_redirects=False, headers={"user-agent": agent}
    )


@pytest.fixture
def ana(make_user):
    return make_user("ana@example.com", name="Ana")


@pytest.fixture
def signed_in(client, ana):
    assert login(client, "ana@example.com", DEFAULT_PASSWORD).status_code == 303
    return client


def change(client, *, password=DEFAULT_PASSWORD, new=NEW_PASSWORD, confirm=None, others="1"):
    data = {"password": password, "new_password": new, "confirm": confirm or new}
    if others:
        data["sign_out_others"] = others
    return submit(client, "/account/password", data)


def mail_about(mailbox, to: str, subject: str) -> dict:
    """The newest mail to ``to`` with ``subject`` (a new browser also gets a sign-in alert)."""
    return next(m for m in mailbox.messages() if m["to"] == to and m["subject"] == subject)


def password_hash(runtime, email="ana@example.com") -> str:
    with runtime.db.read() as session:
        return session.scalars(select(User.password_hash).where(User.email == email)).one()


# -- attackers first ------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "forged"], ids=["missing", "forged"])
def test_the_password_form_without_its_csrf_token_changes_nothing(
    signed_in, runtime, token, mailbox
):
    before = password_hash(runtime)
    data = {"password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    if token:
        data["csrf_token"] = token
    response = signed_in.post("/account/password", data=data)
    assert response.status_code == 403
    assert password_hash(runtime) == before
    assert mailbox.messages() == []


def test_a_wrong_current_password_changes_nothing_and_is_audited(
    signed_in, runtime, audit_actions, mailbox
):
    before = password_hash(runtime)
    response = change(signed_in, password="not my password")
    assert response.status_code == 401
    assert "Your current password is not right" in page_text(response.text)
    assert password_hash(runtime) == before
    assert "password.changed" not in audit_actions()
    assert audit_actions()[-1] == "session.reauthentication_failed"
    assert mailbox.messages() == []


def test_guessing_the_current_password_is_throttled_like_sign_in(signed_in, settings, runtime):
    before = password_hash(runtime)
    for _ in range(settings.login_max_failures_per_account):
        change(signed_in, password="guess")
    response = change(signed_in)  # even the right password waits now
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) > 0
    assert "Too many attempts" in page_text(response.text)
    assert password_hash(runtime) == before


def test_the_sign_in_throttle_counts_guesses_made_on_the_password_form(signed_in, app, settings):
    for _ in range(settings.login_max_failures_per_account):
        change(signed_in, password="guess")
    assert login(browser(app), "ana@example.com", DEFAULT_PASSWORD).status_code == 429


def test_a_stolen_session_without_the_password_cannot_sign_the_owner_out(app, signed_in, ana):
    thief = browser(app)
    thief.cookies.set("identity_session", signed_in.cookies.get("identity_session"))
    assert change(thief, password="no idea").status_code == 401
    assert signed_in.get("/account").status_code == 200


def test_signed_out_browsers_are_sent_to_sign_in_and_back_to_the_form(client):
    assert client.get("/account/password").headers["location"] == "/login?next=/account/password"
    token = csrf_token(client, "/login")
    response = client.post("/account/password", data={"csrf_token": token})
    assert response.headers["location"] == "/login?next=/account/password"


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"password": "x" * 100_000, "new_password": "y" * 100_000, "confirm": "z"},
        {"password": "\x00", "new_password": "\x00\x00", "sign_out_others": "\x00"},
        {"password": ["a", "b"], "new_password": "é" * 3000},
    ],
    ids=["empty", "huge", "nul", "repeated"],
)
def test_garbage_in_the_password_form_is_a_form_error_never_a_500(signed_in, data, runtime):
    before = password_hash(runtime)
    response = submit(signed_in, "/account/password", data)
    assert response.status_code in (400, 401)
    assert password_hash(runtime) == before


# -- the change ---------------------------------------------------------------------------


def test_the_new_password_must_follow_the_password_rules(signed_in, runtime, settings):
    before = password_hash(runtime)
    short = "x" * (settings.password_min_length - 1)
    response = change(signed_in, new=short)
    assert response.status_code == 400
    assert f"at least {settings.password_min_length} characters" in page_text(response.text)
    response = change(signed_in, new=NEW_PASSWORD, confirm="something else entirely")
    assert "The two passwords do not match" in page_text(response.text)
    response = change(signed_in, new="ana@example.com")
    assert "cannot be your email address" in page_text(response.text)
    assert password_hash(runtime) == before


def test_changing_the_password_signs_out_the_other_devices_and_mails_the_owner(
    app, signed_in, runtime, audit_actions, mailbox
):
    phone = browser(app, "Mozilla/5.0 (Linux; Android 14) Chrome/131.0 Mobile Safari/537.36")
    login(phone, "ana@example.com", DEFAULT_PASSWORD)
    response = change(signed_in)
    assert response.headers["location"] == "/account?security=password_changed#security"
    page = signed_in.get("/account?security=password_changed")
    assert "Your password is changed" in page_text(page.text)
    assert phone.get("/account").status_code == 303  # signed out
    assert login(browser(app), "ana@example.com", DEFAULT_PASSWORD).status_code == 401
    assert login(browser(app), "ana@example.com", NEW_PASSWORD).status_code == 303
    assert "password.changed" in audit_actions()
    mail = mail_about(mailbox, "ana@example.com", "Your password was changed")
    assert "every other device was signed out" in mail["text"]
    assert "http://testserver/forgot" in mail["text"]


def test_other_devices_stay_signed_in_when_the_box_is_not_ticked(app, signed_in, runtime, mailbox):
    phone = browser(app)
    login(phone, "ana@example.com", DEFAULT_PASSWORD)
    response = change(signed_in, others="")
    assert response.status_code == 303
    assert phone.get("/account").status_code == 200
    text = mail_about(mailbox, "ana@example.com", "Your password was changed")["text"]
    assert "The password of your account was just changed." in text
    assert "every other device" not in text


def test_the_refresh_tokens_of_the_signed_out_devices_die_with_their_sessions(
    app, store, ana, runtime
):
    tokens = store.tokens("ana@example.com", DEFAULT_PASSWORD)  # in the store's browser
    laptop = browser(app)
    login(laptop, "ana@example.com", DEFAULT_PASSWORD)
    assert change(laptop).status_code == 303
    assert store.refresh(tokens["refresh_token"]).json()["error"] == "invalid_grant"
    with runtime.db.read() as session:
        assert len(session.scalars(select(BrowserSession)).all()) == 1


def test_an_outstanding_reset_link_dies_when_the_password_is_changed(
    signed_in, client, mailbox, runtime
):
    submit(browser(client.app), "/forgot", {"email": "ana@example.com"})
    link = mailbox.last_link("ana@example.com", "/reset")
    change(signed_in)
    assert browser(client.app).get(link).status_code == 400
