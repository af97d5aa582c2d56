"""Login, server-side sessions, their cookies, rotation and timeouts."""

from __future__ import annotations

from datetime import timedelta

from freezegun import freeze_time
from sqlalchemy import select

from identity.accounts.models import BrowserSession
from identity.crypto import token_digest
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import login, page_text, submit


def session_rows(runtime):
    with runtime.db.read() as session:
        return session.scalars(select(BrowserSession)).all()


def test_login_sets_an_opaque_httponly_lax_cookie_and_stores_only_its_hash(
    client, make_user, runtime
):
    make_user("ana@example.com")
    response = login(client, "ana@example.com", DEFAULT_PASSWORD)
    assert response.status_code == 303
    header = next(
        h for h in response.headers.get_list("set-cookie") if h.startswith("identity_session=")
    )
    value = header.split(";")[0].split("=", 1)[1]
    assert len(value) >= 43
    assert "HttpOnly" in header
    assert "SameSite=lax" in header
    [row] = session_rows(runtime)
    assert row.id_hash == token_digest(value)
    assert value not in (row.id_hash, row.sid)


def test_https_issuers_get_host_prefixed_secure_cookies(make_settings, make_user):
    from starlette.testclient import TestClient

    from identity.app import create_app

    app = create_app(make_settings(issuer="https://id.example.com"))
    with TestClient(app, base_url="https://id.example.com", follow_redirects=False) as client:
        make_user("ana@example.com")
        page = client.get("/login")
        assert "__Host-identity_csrf=" in page.headers["set-cookie"]
        assert "Secure" in page.headers["set-cookie"]
        response = login(client, "ana@example.com", DEFAULT_PASSWORD)
        cookie = next(
            h
            for h in response.headers.get_list("set-cookie")
            if h.startswith("__Host-identity_session=")
        )
        assert "Secure" in cookie
        assert "Path=/" in cookie
        assert "Domain" not in cookie
        assert response.headers["strict-transport-security"].startswith("max-age=")


def test_the_session_id_is_rotated_at_login(client, make_user, runtime):
    make_user("ana@example.com")
    login(client, "ana@example.com", DEFAULT_PASSWORD)
    first = client.cookies.get("identity_session")
    login(client, "ana@example.com", DEFAULT_PASSWORD)
    second = client.cookies.get("identity_session")
    assert first != second
    assert [r.id_hash for r in session_rows(runtime)] == [token_digest(second)]


def test_a_planted_session_cookie_is_never_adopted(client, make_user, runtime):
    make_user("ana@example.com")
    client.cookies.set("identity_session", "attacker-chosen-value", domain="testserver.local")
    login(client, "ana@example.com", DEFAULT_PASSWORD)
    assert client.cookies.get("identity_session") != "attacker-chosen-value"
    assert token_digest("attacker-chosen-value") not in [r.id_hash for r in session_rows(runtime)]


def test_logout_ends_the_session_on_the_server(client, make_user, runtime, audit_actions):
    make_user("ana@example.com")
    login(client, "ana@example.com", DEFAULT_PASSWORD)
    stolen = client.cookies.get("identity_session")
    response = submit(client, "/logout", {})
    assert response.headers["location"] == "/login?notice=signed_out"
    assert session_rows(runtime) == []
    client.cookies.set("identity_session", stolen, domain="testserver.local")
    assert client.get("/account").headers["location"] == "/login?next=/account"
    assert audit_actions()[-1] == "session.ended"


def test_a_session_ends_after_the_idle_timeout(client, make_user, settings):
    make_user("ana@example.com")
    with freeze_time("2026-02-01 08:00:00") as frozen:
        login(client, "ana@example.com", DEFAULT_PASSWORD)
        frozen.tick(settings.session_idle_timeout - timedelta(minutes=1))
        assert client.get("/account").status_code == 200  # activity refreshes the idle timer
        frozen.tick(settings.session_idle_timeout - timedelta(minutes=1))
        assert client.get("/account").status_code == 200
        frozen.tick(settings.session_idle_timeout + timedelta(seconds=1))
        assert client.get("/account").status_code == 303


def test_a_session_ends_at_the_absolute_timeout_despite_activity(client, make_user, settings):
    make_user("ana@example.com")
    with freeze_time("2026-02-01 08:00:00") as frozen:
        login(client, "ana@example.com", DEFAULT_PASSWORD)
        step = settings.session_idle_timeout / 2
        elapsed = timedelta(0)
        while elapsed + step < settings.session_absolute_timeout:
            frozen.tick(step)
            elapsed += step
            assert client.get("/account").status_code == 200
        frozen.tick(step)
        assert client.get("/account").status_code == 303


def test_the_account_page_lists_sessions_and_can_end_the_others(
    app, make_user, runtime, audit_actions
):
    from starlette.testclient import TestClient

    make_user("ana@example.com")
    phone = TestClient(
        app,
        base_url="http://testserver",
        follow_redirects=False,
        headers={"user-agent": "Mozilla/5.0 (Linux; Android 14) Chrome/130.0 Mobile Safari/537.36"},
    )
    laptop = TestClient(
        app,
        base_url="http://testserver",
        follow_redirects=False,
        headers={"user-agent": "Mozilla/5.0 (Windows NT 10.0) Gecko/20100101 Firefox/133.0"},
    )
    login(phone, "ana@example.com", DEFAULT_PASSWORD)
    login(laptop, "ana@example.com", DEFAULT_PASSWORD)
    page = page_text(laptop.get("/account").text)
    assert "Chrome · Android" in page
    assert "Firefox · Windows" in page
    response = submit(laptop, "/account/sessions/end-others", {}, form_page="/account")
    assert response.headers["location"] == "/account?notice=sessions_ended"
    assert phone.get("/account").status_code == 303
    assert laptop.get("/account").status_code == 200
    assert len(session_rows(runtime)) == 1
    assert audit_actions()[-1] == "session.ended_others"


def test_one_session_can_be_ended_by_its_id_but_only_by_its_owner(app, make_user, runtime):
    from starlette.testclient import TestClient

    make_user("ana@example.com")
    make_user("ben@example.com")
    ana, ana2, ben = (
        TestClient(app, base_url="http://testserver", follow_redirects=False) for _ in range(3)
    )
    login(ana, "ana@example.com", DEFAULT_PASSWORD)
    login(ana2, "ana@example.com", DEFAULT_PASSWORD)
    login(ben, "ben@example.com", DEFAULT_PASSWORD)
    with runtime.db.read() as session:
        ana2_sid = session.scalars(
            select(BrowserSession.sid).where(
                BrowserSession.id_hash == token_digest(ana2.cookies.get("identity_session"))
            )
        ).one()
    submit(ben, "/account/sessions/end", {"sid": ana2_sid}, form_page="/account")
    assert ana2.get("/account").status_code == 200  # Ben cannot end Ana's session
    submit(ana, "/account/sessions/end", {"sid": ana2_sid}, form_page="/account")
    assert ana2.get("/account").status_code == 303


def test_login_redirects_only_to_local_paths(client, make_user):
    make_user("ana@example.com")
    for evil in (
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "javascript:alert(1)",
    ):
        response = login(client, "ana@example.com", DEFAULT_PASSWORD, next_url=evil)
        assert response.headers["location"] == "/account", evil
    response = login(client, "ana@example.com", DEFAULT_PASSWORD, next_url="/authorize?client_id=x")
    assert response.headers["location"] == "/authorize?client_id=x"


def test_profile_changes_are_saved_and_audited(client, make_user, runtime, audit_actions):
    user = make_user("ana@example.com", locale="en")
    login(client, "ana@example.com", DEFAULT_PASSWORD)
    response = submit(
        client,
        "/account/profile",
        {
            "name": "Ana María",
            "locale": "es",
            "phone_number": "+34 600  123 456",
            "street_address": "Calle Mayor 1",
            "locality": "Madrid",
            "postal_code": "28013",
            "country": "es",
        },
        form_page="/account",
    )
    assert response.headers["location"] == "/account?notice=profile_saved"
    page = client.get("/account")
    assert 'lang="es"' in page.text
    assert "Ana María" in page.text
    assert 'value="Calle Mayor 1"' in page.text
    assert audit_actions()[-1] == "account.profile_updated"
    with runtime.db.read() as session:
        from identity.accounts.models import User

        saved = session.get(User, user.id)
        assert saved.phone_number == "+34 600 123 456"
        assert saved.phone_number_verified is False
        assert saved.address == {
            "street_address": "Calle Mayor 1",
            "locality": "Madrid",
            "postal_code": "28013",
            "country": "ES",
        }


def test_invalid_profile_changes_are_refused_and_change_nothing(client, make_user, runtime):
    user = make_user("ana@example.com", locale="en")
    login(client, "ana@example.com", DEFAULT_PASSWORD)
    for fields, message in (
        ({"name": "", "locale": "fr"}, "Tell us your name"),
        ({"name": "Ana", "locale": "en", "phone_number": "call me"}, "phone number"),
        ({"name": "Ana", "locale": "en", "locality": "Madrid"}, "street, the town and the country"),
        (
            {
                "name": "Ana",
                "locale": "en",
                "street_address": "x",
                "locality": "y",
                "country": "Spain",
            },
            "Choose a country from the list",
        ),
    ):
        bad = submit(client, "/account/profile", fields, form_page="/account")
        assert bad.status_code == 400
        assert message in page_text(bad.text)
    with runtime.db.read() as session:
        from identity.accounts.models import User

        saved = session.get(User, user.id)
        assert (saved.name, saved.phone_number, saved.address) == ("Test Shopper", None, None)
