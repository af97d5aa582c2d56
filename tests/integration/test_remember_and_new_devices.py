""" "Keep me signed in" (a longer session, a cookie that outlives the browser) and the mail a
sign-in from a new browser sends (a signed first-party device cookie, ``known_device``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import select
from starlette.testclient import TestClient

from identity.accounts.models import BrowserSession, KnownDevice
from identity.audit.models import AuditEntryRow
from identity.crypto import token_digest
from identity.db import utcnow
from identity.settings import MailBackend
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import login, page_text, submit
from tests.support.second_factor import enrol, enter_code

ANDROID = "Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/131.0.0.0 Mobile Safari/537.36"
WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Gecko/20100101 Firefox/133.0"
ALERT = "New sign-in to your account"


def browser(app, agent: str = WINDOWS) -> TestClient:
    return TestClient(
        app, base_url="http://testserver", follow_redirects=False, headers={"user-agent": agent}
    )


def sign_in(client, email="ana@example.com", *, remember=False):
    data = {"email": email, "password": DEFAULT_PASSWORD, "next": "/account"}
    if remember:
        data["remember"] = "1"
    response = submit(client, "/login", data)
    assert response.status_code == 303, response.text
    return response


def set_cookie(response, name: str) -> str:
    return next(h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}="))


def alerts(mailbox, to="ana@example.com"):
    return [m for m in mailbox.messages() if m["to"] == to and m["subject"] == ALERT]


def session_row(runtime, client) -> BrowserSession:
    digest = token_digest(client.cookies.get("identity_session"))
    with runtime.db.read() as session:
        return session.get(BrowserSession, digest)


@pytest.fixture
def ana(make_user):
    return make_user("ana@example.com", name="Ana")


# -- keep me signed in --------------------------------------------------------------------


def test_an_ordinary_session_cookie_ends_with_the_browser(app, ana):
    header = set_cookie(sign_in(browser(app)), "identity_session")
    assert "Max-Age" not in header
    assert "expires" not in header.lower()


def test_keep_me_signed_in_gives_a_cookie_that_outlives_the_browser(app, ana, settings, runtime):
    client = browser(app)
    header = set_cookie(sign_in(client, remember=True), "identity_session")
    seconds = int(settings.session_remember_absolute_timeout.total_seconds())
    assert f"Max-Age={seconds}" in header
    assert "HttpOnly" in header
    assert "SameSite=lax" in header
    row = session_row(runtime, client)
    assert row.remember is True
    assert row.expires_at - row.created_at == settings.session_remember_absolute_timeout


def test_a_kept_session_outlives_the_ordinary_idle_timeout_but_not_its_own(app, ana, settings):
    with freeze_time("2026-03-01 08:00:00") as frozen:
        kept, ordinary = browser(app), browser(app)
        sign_in(kept, remember=True)
        sign_in(ordinary)
        frozen.tick(settings.session_idle_timeout + timedelta(minutes=1))
        assert ordinary.get("/account").status_code == 303
        assert kept.get("/account").status_code == 200
        frozen.tick(settings.session_remember_idle_timeout + timedelta(minutes=1))
        assert kept.get("/account").status_code == 303


def test_a_kept_session_still_ends_at_its_absolute_timeout(app, ana, settings):
    with freeze_time("2026-03-01 08:00:00") as frozen:
        kept = browser(app)
        sign_in(kept, remember=True)
        step = settings.session_remember_idle_timeout / 2
        elapsed = timedelta(0)
        while elapsed + step < settings.session_remember_absolute_timeout:
            frozen.tick(step)
            elapsed += step
            assert kept.get("/account").status_code == 200
        frozen.tick(step)
        assert kept.get("/account").status_code == 303


def test_housekeeping_keeps_a_kept_session_the_ordinary_idle_timeout_would_end(
    app, ana, runtime, settings
):
    with freeze_time("2026-03-01 08:00:00") as frozen:
        sign_in(browser(app), remember=True)
        sign_in(browser(app))
        frozen.tick(settings.session_idle_timeout + timedelta(minutes=1))
        with runtime.db.transaction() as session:
            assert runtime.accounts.sessions.purge_expired(session, utcnow(), 100) == 1
        with runtime.db.read() as session:
            [left] = session.scalars(select(BrowserSession)).all()
        assert left.remember is True


def test_where_you_are_signed_in_says_which_sessions_are_kept(app, ana):
    client = browser(app)
    sign_in(client, remember=True)
    assert "kept signed in" in page_text(client.get("/account").text)
    other = browser(app)
    sign_in(other)
    assert page_text(other.get("/account").text).count("kept signed in") == 1


def test_the_sign_in_form_offers_the_box_in_both_languages(client):
    assert "Keep me signed in" in page_text(client.get("/login?lang=en").text)
    assert 'name="remember"' in client.get("/login?lang=es").text


def test_keep_me_signed_in_survives_the_second_factor_step(app, ana, runtime, settings):
    owner = browser(app)
    sign_in(owner)
    factor = enrol(owner)
    client = browser(app)
    response = submit(
        client,
        "/login",
        {"email": "ana@example.com", "password": DEFAULT_PASSWORD, "remember": "1"},
    )
    assert response.headers["location"].startswith("/login/code")
    done = enter_code(client, factor.app.next_code())
    assert done.status_code == 303
    assert "Max-Age" in set_cookie(done, "identity_session")
    assert session_row(runtime, client).remember is True


# -- new-device alerts --------------------------------------------------------------------


def test_the_first_sign_in_only_learns_the_device(app, ana, mailbox, runtime):
    client = browser(app)
    response = sign_in(client)
    header = set_cookie(response, "identity_device")
    assert "HttpOnly" in header
    assert "SameSite=lax" in header
    assert "Max-Age=" in header
    assert alerts(mailbox) == []
    with runtime.db.read() as session:
        [row] = session.scalars(select(KnownDevice)).all()
    cookie = client.cookies.get("identity_device")
    assert row.device_hash != cookie
    assert cookie not in row.device_hash


def test_the_same_browser_signing_in_again_is_not_new(app, ana, mailbox):
    client = browser(app)
    sign_in(client)
    again = sign_in(client)
    assert "identity_device=" not in " ".join(again.headers.get_list("set-cookie"))
    assert alerts(mailbox) == []


def test_a_new_browser_mails_the_owner_with_the_device_the_time_and_the_account_page(
    app, ana, mailbox, runtime
):
    sign_in(browser(app))
    sign_in(browser(app, ANDROID))
    [alert] = alerts(mailbox)
    assert "Chrome · Android" in alert["text"]
    assert "http://testserver/account" in alert["text"]
    assert "Where you are signed in" in alert["text"]
    with runtime.db.read() as session:
        details = session.scalars(
            select(AuditEntryRow.details)
            .where(AuditEntryRow.action == "login.succeeded")
            .order_by(AuditEntryRow.id)
        ).all()
    assert [d["new_device"] for d in details] == [False, True]


def test_the_alert_is_in_the_shoppers_language_and_local_time(app, make_user, mailbox):
    make_user("lucia@example.com", locale="es", name="Lucía")
    with freeze_time("2026-07-01 10:00:00"):
        sign_in(browser(app), "lucia@example.com")
        sign_in(browser(app, ANDROID), "lucia@example.com")
    [alert] = [m for m in mailbox.messages() if m["to"] == "lucia@example.com"]
    assert alert["subject"] == "Nuevo inicio de sesión en tu cuenta"
    assert "Hola, Lucía" in alert["text"] or "Hola Lucía" in alert["text"]
    assert "12:00" in alert["text"]  # Madrid in summer, not UTC


def test_a_forged_device_cookie_counts_as_a_new_browser_and_is_replaced(app, ana, mailbox):
    sign_in(browser(app))
    forger = browser(app)
    forger.cookies.set("identity_device", "made-up.value", domain="testserver.local")
    response = sign_in(forger)
    assert len(alerts(mailbox)) == 1
    assert "identity_device=" in " ".join(response.headers.get_list("set-cookie"))
    assert forger.cookies.get("identity_device") != "made-up.value"


def test_another_accounts_device_is_new_to_this_one(app, ana, make_user, mailbox):
    make_user("ben@example.com")
    shared = browser(app)
    sign_in(browser(app))  # Ana's own first browser
    sign_in(shared, "ben@example.com")
    sign_in(shared)  # Ana on Ben's browser
    assert len(alerts(mailbox)) == 1
    assert alerts(mailbox, "ben@example.com") == []


def test_a_sign_in_with_the_second_factor_from_a_new_browser_alerts_too(app, ana, mailbox):
    owner = browser(app)
    sign_in(owner)
    factor = enrol(owner)
    client = browser(app, ANDROID)
    submit(client, "/login", {"email": "ana@example.com", "password": DEFAULT_PASSWORD})
    assert alerts(mailbox) == []  # the password alone opened no session
    assert enter_code(client, factor.app.next_code()).status_code == 303
    assert len(alerts(mailbox)) == 1
    assert client.cookies.get("identity_device")


def test_a_mail_relay_that_is_down_never_holds_up_the_sign_in(make_settings, make_user):
    from identity.app import create_app

    settings = make_settings(mail_backend=MailBackend.smtp, smtp_host="127.0.0.1", smtp_port=9)
    with TestClient(
        create_app(settings), base_url="http://testserver", follow_redirects=False
    ) as c:
        make_user("ana@example.com")
        assert login(c, "ana@example.com", DEFAULT_PASSWORD).status_code == 303
        other = TestClient(c.app, base_url="http://testserver", follow_redirects=False)
        assert login(other, "ana@example.com", DEFAULT_PASSWORD).status_code == 303
        assert other.get("/account").status_code == 200


def test_https_device_cookies_are_host_bound_and_secure(make_settings, make_user):
    from identity.app import create_app

    app = create_app(make_settings(issuer="https://id.example.com"))
    with TestClient(app, base_url="https://id.example.com", follow_redirects=False) as client:
        make_user("ana@example.com")
        response = login(client, "ana@example.com", DEFAULT_PASSWORD)
        header = set_cookie(response, "__Host-identity_device")
        assert "Secure" in header
        assert "Path=/" in header
        assert "Domain" not in header


def test_the_access_export_lists_known_browsers_and_the_erasure_deletes_them(
    app, ana, runtime, count_rows
):
    from identity.audit.refs import Actor

    sign_in(browser(app), remember=True)
    sign_in(browser(app, ANDROID))
    document = runtime.dsr.export(ana.id, actor=Actor.operator("test"))
    assert len(document["known_devices"]) == 2
    assert set(document["known_devices"][0]) == {"first_seen_at", "last_seen_at"}
    assert sorted(s["kept_signed_in"] for s in document["sessions"]) == [False, True]
    runtime.dsr.erase(ana.id, actor=Actor.operator("test"), reason="test erasure")
    assert count_rows(KnownDevice) == 0
