"""Changing the account's email address: asked for with the password, a link to the new
address, a notice (without the link) to the old one, the change only on confirmation by the
same account. Attackers first: forged forms, a stolen session, a replayed, expired, foreign
or stale link, an address that has an account (now or by the time of confirming), garbage."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from identity.accounts.models import User
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import csrf_token, login, page_text, submit

NEW = "ana.new@example.com"


def browser(app):
    return TestClient(app, base_url="http://testserver", follow_redirects=False)


@pytest.fixture
def ana(make_user):
    return make_user("ana@example.com", name="Ana")


@pytest.fixture
def signed_in(client, ana):
    assert login(client, "ana@example.com", DEFAULT_PASSWORD).status_code == 303
    return client


def ask(client, new_email=NEW, password=DEFAULT_PASSWORD):
    return submit(client, "/account/email", {"email": new_email, "password": password})


def confirm(client, link):
    """Open the mailed link (a page with a button) and press the button."""
    page = client.get(link)
    if page.status_code != 200:
        return page
    token = parse_qs(urlsplit(link).query)["token"][0]
    return submit(client, "/account/email/confirm", {"token": token}, form_page=link)


def email_of(runtime, user_id):
    with runtime.db.read() as session:
        user = session.get(User, user_id)
        return user.email, user.email_verified_at is not None


def subjects(mailbox, to):
    return [m["subject"] for m in mailbox.messages() if m["to"] == to]


# -- attackers first ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/account/email", "/account/email/confirm"])
def test_the_email_forms_without_a_csrf_token_change_and_mail_nothing(
    signed_in, path, runtime, ana, mailbox
):
    before = len(mailbox.messages())
    response = signed_in.post(path, data={"email": NEW, "password": DEFAULT_PASSWORD, "token": "x"})
    assert response.status_code == 403
    assert email_of(runtime, ana.id) == ("ana@example.com", True)
    assert len(mailbox.messages()) == before


def test_a_stolen_session_cannot_ask_for_a_change_without_the_password(
    app, signed_in, mailbox, audit_actions
):
    thief = browser(app)
    thief.cookies.set("identity_session", signed_in.cookies.get("identity_session"))
    before = len(mailbox.messages())
    response = ask(thief, "thief@example.com", password="guess")
    assert response.status_code == 401
    assert "Your current password is not right" in page_text(response.text)
    assert len(mailbox.messages()) == before
    assert "email.change_requested" not in audit_actions()


def test_guessing_the_password_on_the_email_form_is_throttled(signed_in, settings, mailbox):
    for _ in range(settings.login_max_failures_per_account):
        ask(signed_in, password="guess")
    response = ask(signed_in)
    assert response.status_code == 429
    assert subjects(mailbox, NEW) == []


def test_the_notice_to_the_old_address_never_carries_the_link(signed_in, mailbox):
    assert ask(signed_in).headers["location"] == "/account?security=email_change_sent#security"
    link = mailbox.last_link(NEW, "/account/email/confirm")
    token = parse_qs(urlsplit(link).query)["token"][0]
    notice = next(m for m in mailbox.messages() if m["to"] == "ana@example.com")
    assert notice["subject"] == "A change of your email address was requested"
    assert token not in notice["text"]
    assert "/account/email/confirm" not in notice["text"]
    assert NEW not in notice["text"]
    assert "If it was not you" in notice["text"]


def test_a_confirmation_link_works_once(signed_in, mailbox, runtime, ana):
    ask(signed_in)
    link = mailbox.last_link(NEW, "/account/email/confirm")
    assert confirm(signed_in, link).status_code == 303
    replayed = confirm(signed_in, link)
    assert replayed.status_code == 400
    assert "already been used" in page_text(replayed.text)
    assert email_of(runtime, ana.id) == (NEW, True)


def test_an_expired_confirmation_link_changes_nothing(
    signed_in, mailbox, runtime, ana, clock, settings
):
    ask(signed_in)
    link = mailbox.last_link(NEW, "/account/email/confirm")
    clock.tick(settings.email_change_link_ttl + timedelta(seconds=1))
    login(signed_in, "ana@example.com", DEFAULT_PASSWORD)  # the session would have ended too
    response = confirm(signed_in, link)
    assert response.status_code == 400
    assert "The link has expired" in page_text(response.text)
    assert email_of(runtime, ana.id) == ("ana@example.com", True)


def test_another_signed_in_account_cannot_use_the_link(
    app, signed_in, mailbox, make_user, runtime, ana
):
    ask(signed_in)
    link = mailbox.last_link(NEW, "/account/email/confirm")
    ben = make_user("ben@example.com")
    other = browser(app)
    login(other, "ben@example.com", DEFAULT_PASSWORD)
    response = other.get(link)
    assert response.status_code == 400
    token = parse_qs(urlsplit(link).query)["token"][0]
    posted = submit(other, "/account/email/confirm", {"token": token}, form_page="/account")
    assert posted.status_code == 400
    assert email_of(runtime, ben.id) == ("ben@example.com", True)
    assert email_of(runtime, ana.id) == ("ana@example.com", True)
    assert confirm(signed_in, link).status_code == 303  # still good for its own account


def test_the_link_needs_the_account_signed_in_and_comes_back_after_sign_in(
    app, signed_in, mailbox, runtime, ana
):
    ask(signed_in)
    link = mailbox.last_link(NEW, "/account/email/confirm")
    elsewhere = browser(app)
    response = elsewhere.get(link)
    assert response.status_code == 303
    next_url = parse_qs(urlsplit(response.headers["location"]).query)["next"][0]
    assert next_url == link
    login(elsewhere, "ana@example.com", DEFAULT_PASSWORD, next_url=next_url)
    assert confirm(elsewhere, link).status_code == 303
    assert email_of(runtime, ana.id) == (NEW, True)


def test_an_address_with_an_account_gets_the_same_answer_and_a_mail_of_its_own(
    signed_in, make_user, mailbox, runtime, ana
):
    make_user("taken@example.com")
    free = ask(signed_in, "free@example.com")
    taken = ask(signed_in, "taken@example.com")
    assert (taken.status_code, taken.headers["location"]) == (
        free.status_code,
        free.headers["location"],
    )
    assert subjects(mailbox, "taken@example.com") == ["Someone tried to use your email address"]
    text = mailbox.last("taken@example.com")["text"]
    assert "/account/email/confirm" not in text
    assert "ana@example.com" not in text
    assert (
        subjects(mailbox, "ana@example.com").count("A change of your email address was requested")
        == 2
    )  # the old address hears of both, alike
    assert email_of(runtime, ana.id) == ("ana@example.com", True)


def test_an_address_taken_before_the_link_is_confirmed_is_not_given_away(
    signed_in, mailbox, make_user, runtime, ana
):
    ask(signed_in)
    link = mailbox.last_link(NEW, "/account/email/confirm")
    make_user(NEW)
    response = confirm(signed_in, link)
    assert response.status_code == 400
    assert "used by another account" in page_text(response.text)
    assert email_of(runtime, ana.id) == ("ana@example.com", True)


def test_a_password_change_kills_an_outstanding_link(signed_in, mailbox, runtime, ana):
    ask(signed_in)
    link = mailbox.last_link(NEW, "/account/email/confirm")
    new_password = "another long passphrase"
    data = {"password": DEFAULT_PASSWORD, "new_password": new_password, "confirm": new_password}
    submit(signed_in, "/account/password", data)
    response = confirm(signed_in, link)
    assert response.status_code == 400
    assert email_of(runtime, ana.id) == ("ana@example.com", True)


def test_a_second_change_kills_the_first_link(signed_in, mailbox, runtime, ana):
    ask(signed_in, "first@example.com")
    first = mailbox.last_link("first@example.com", "/account/email/confirm")
    ask(signed_in, "second@example.com")
    second = mailbox.last_link("second@example.com", "/account/email/confirm")
    assert confirm(signed_in, second).status_code == 303
    assert confirm(signed_in, first).status_code == 400
    assert email_of(runtime, ana.id) == ("second@example.com", True)


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "a" * 5000, "\x00", "eyJ1IjoiMSJ9.AAAA.BBBB", "../../etc/passwd"],
)
def test_garbage_links_are_a_friendly_page_never_a_500(signed_in, token):
    assert signed_in.get("/account/email/confirm", params={"token": token}).status_code == 400
    posted = submit(signed_in, "/account/email/confirm", {"token": token}, form_page="/account")
    assert posted.status_code == 400


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("not an address", "Enter a valid email address"),
        ("ANA@example.com", "That is already your email address"),
        ("x" * 5000 + "@example.com", "Enter a valid email address"),
    ],
)
def test_a_refused_address_is_said_on_the_form(signed_in, email, message, mailbox):
    before = len(mailbox.messages())
    response = ask(signed_in, email)
    assert response.status_code == 400
    assert message in page_text(response.text)
    assert len(mailbox.messages()) == before


def test_asking_for_many_links_to_one_address_is_limited(signed_in, settings):
    for _ in range(settings.mail_max_per_address):
        assert ask(signed_in).status_code == 303
    assert ask(signed_in).status_code == 429


# -- the change ---------------------------------------------------------------------------


def test_the_new_address_works_only_once_confirmed(
    app, signed_in, mailbox, runtime, ana, audit_actions
):
    ask(signed_in)
    assert "email.change_requested" in audit_actions()
    assert email_of(runtime, ana.id) == ("ana@example.com", True)
    assert login(browser(app), NEW, DEFAULT_PASSWORD).status_code == 401
    mail = next(m for m in mailbox.messages() if m["to"] == NEW)
    assert mail["subject"] == "Confirm your new email address"
    link = mailbox.last_link(NEW, "/account/email/confirm")
    page = signed_in.get(link)
    assert NEW in page_text(page.text)
    assert email_of(runtime, ana.id) == ("ana@example.com", True)  # a GET changes nothing
    response = confirm(signed_in, link)
    assert response.headers["location"] == "/account?security=email_changed#security"
    assert "this is your email address now" in page_text(
        signed_in.get("/account?security=email_changed").text
    )
    assert email_of(runtime, ana.id) == (NEW, True)
    assert audit_actions()[-1] == "email.changed"
    assert login(browser(app), NEW, DEFAULT_PASSWORD).status_code == 303
    assert login(browser(app), "ana@example.com", DEFAULT_PASSWORD).status_code == 401


def test_the_audit_log_names_no_address(signed_in, mailbox, runtime):
    from identity.audit.models import AuditEntryRow

    ask(signed_in)
    confirm(signed_in, mailbox.last_link(NEW, "/account/email/confirm"))
    with runtime.db.read() as session:
        rows = session.scalars(
            select(AuditEntryRow).where(AuditEntryRow.action.like("email.%"))
        ).all()
    assert [r.action for r in rows] == ["email.change_requested", "email.changed"]
    assert all("@" not in str(r.details) for r in rows)


def test_tokens_and_userinfo_show_the_new_address_confirmed(store, ana, mailbox, runtime):
    tokens = store.tokens("ana@example.com", DEFAULT_PASSWORD, scope="openid email")
    client = store.browser
    ask(client)
    confirm(client, mailbox.last_link(NEW, "/account/email/confirm"))
    userinfo = client.get(
        "/userinfo", headers={"authorization": f"Bearer {tokens['access_token']}"}
    ).json()
    assert (userinfo["email"], userinfo["email_verified"]) == (NEW, True)
    fresh = store.tokens(NEW, DEFAULT_PASSWORD, scope="openid email", prompt="login")
    userinfo = client.get(
        "/userinfo", headers={"authorization": f"Bearer {fresh['access_token']}"}
    ).json()
    assert (userinfo["email"], userinfo["email_verified"]) == (NEW, True)
    # This provider's ID tokens carry no scope claims (they are read from userinfo), so no
    # ID token can go on naming the old address.
    assert "email" not in store.verify_id_token(fresh["id_token"])


def test_the_account_page_links_to_both_changes_in_both_languages(signed_in):
    en = page_text(signed_in.get("/account?lang=en").text)
    assert "Sign-in and security" in en
    assert "Change your password" in en
    assert "Change your email address" in en
    es = signed_in.get("/account?lang=es").text
    assert 'href="/account/password"' in es
    assert 'href="/account/email"' in es
    assert 'href="/account/data"' in es


def test_signed_out_browsers_are_sent_to_sign_in_first(client):
    assert client.get("/account/email").headers["location"] == "/login?next=/account/email"
    token = csrf_token(client, "/login")
    response = client.post("/account/email/confirm", data={"csrf_token": token, "token": "x"})
    assert response.status_code == 303
