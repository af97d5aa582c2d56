"""The officer gate: the console opens only to officers whose session proved the second
factor, and exports and erasures only to one that proved it within
``IDENTITY_OFFICER_REAUTH_AFTER``. The console itself is another branch's; these tests mount
placeholder pages behind the two dependencies."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import APIRouter
from starlette.responses import PlainTextResponse
from starlette.testclient import TestClient

from identity.context import OFFICER, CurrentSession
from identity.web.deps import CsrfFormDep, officer_recently_authenticated, officer_required
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import login, page_text, submit
from tests.support.officers import signed_in_officer
from tests.support.second_factor import enrol, recovery_codes, wrong_code

placeholder = APIRouter()
ConsoleUser = Annotated[CurrentSession, officer_required()]
RecentUser = Annotated[CurrentSession, officer_recently_authenticated()]
EraseUser = Annotated[CurrentSession, officer_recently_authenticated("/test/console")]


@placeholder.get("/test/console")
def console(current: ConsoleUser) -> PlainTextResponse:
    return PlainTextResponse(f"console for {current.user.id}")


@placeholder.get("/test/console/export")
def export(current: RecentUser) -> PlainTextResponse:
    return PlainTextResponse("export")


@placeholder.post("/test/console/erase")
def erase(form: CsrfFormDep, current: EraseUser) -> PlainTextResponse:
    return PlainTextResponse("erased")


@pytest.fixture
def console_client(app):
    app.include_router(placeholder)
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as client:
        yield client


def new_browser(app) -> TestClient:
    return TestClient(app, base_url="http://testserver", follow_redirects=False)


def test_the_fixture_gives_an_officer_signed_in_with_password_and_code(
    console_client, runtime, make_user
):
    officer = signed_in_officer(console_client, runtime, make_user)
    assert officer.client.get("/test/console").text == f"console for {officer.user.id}"
    assert officer.password == DEFAULT_PASSWORD
    assert len(officer.recovery_codes) == 10
    current = runtime.accounts.current(console_client.cookies.get("identity_session"))
    assert current.session.amr == "pwd otp"


def test_nobody_signed_in_is_sent_to_sign_in(console_client):
    response = console_client.get("/test/console")
    assert response.headers["location"] == "/login?next=/test/console"


def test_a_customer_gets_the_not_an_officer_page(console_client, make_user):
    make_user("ana@example.com")
    login(console_client, "ana@example.com", DEFAULT_PASSWORD)
    enrol(console_client)  # a second factor does not make anyone an officer
    response = console_client.get("/test/console")
    assert response.status_code == 403
    assert "This page is for privacy officers" in page_text(response.text)


def test_an_officer_without_a_factor_is_sent_to_enrol_and_comes_back(
    console_client, runtime, make_user
):
    user = make_user("olga@example.com")
    runtime.accounts.grant_role(user.email, OFFICER, operator="test")
    login(console_client, user.email, DEFAULT_PASSWORD)
    response = console_client.get("/test/console")
    assert response.headers["location"] == "/account/security?next=/test/console"
    page = console_client.get(response.headers["location"])
    assert "needs two-step sign-in" in page_text(page.text)
    enrolment = enrol(console_client, next_url="/test/console")
    # The recovery codes page goes on to the console; the confirmation proved the factor.
    assert 'href="/test/console"' in enrolment.page.text
    assert console_client.get("/test/console").status_code == 200


def test_an_officer_session_that_never_proved_the_factor_is_sent_to_the_code_page(
    console_client, app, runtime, make_user
):
    user = make_user("olga@example.com")
    runtime.accounts.grant_role(user.email, OFFICER, operator="test")
    with new_browser(app) as earlier:
        login(earlier, user.email, DEFAULT_PASSWORD)  # signed in before the factor existed
        login(console_client, user.email, DEFAULT_PASSWORD)
        enrolment = enrol(console_client)
        response = earlier.get("/test/console?tab=requests")
        assert response.headers["location"] == (
            "/account/security/verify?next=/test/console%3Ftab%3Drequests"
        )
        form = earlier.get(response.headers["location"])
        assert "confirm it is you" in page_text(form.text)
        refused = submit(
            earlier,
            "/account/security/verify",
            {"code": wrong_code(enrolment.app.totp), "next": "/test/console?tab=requests"},
            form_page="/account",
        )
        assert refused.status_code == 401
        assert earlier.get("/test/console").status_code == 303
        proved = submit(
            earlier,
            "/account/security/verify",
            {"code": enrolment.app.next_code(), "next": "/test/console?tab=requests"},
            form_page="/account",
        )
        assert proved.headers["location"] == "/test/console?tab=requests"
        assert earlier.get("/test/console").status_code == 200


def test_exports_need_a_proof_within_the_reauthentication_window(
    console_client, runtime, make_user, clock
):
    officer = signed_in_officer(console_client, runtime, make_user)
    clock.tick(4 * 60)
    assert console_client.get("/test/console/export").text == "export"
    clock.tick(61)
    stale = console_client.get("/test/console/export")
    assert stale.headers["location"] == "/account/security/verify?next=/test/console/export"
    assert console_client.get("/test/console").status_code == 200  # browsing is not exporting
    back = submit(
        console_client,
        "/account/security/verify",
        {"code": officer.next_code(), "next": "/test/console/export"},
        form_page="/account",
    )
    assert back.headers["location"] == "/test/console/export"
    assert console_client.get("/test/console/export").text == "export"


def test_a_stale_erasure_form_goes_to_the_code_page_and_back_to_the_form(
    console_client, runtime, make_user, clock, audit_actions
):
    signed_in_officer(console_client, runtime, make_user)
    clock.tick(6 * 60)
    response = submit(console_client, "/test/console/erase", {}, form_page="/account")
    assert response.headers["location"] == "/account/security/verify?next=/test/console"
    assert "erased" not in response.text


def test_the_window_is_a_setting(make_settings, make_user, clock):
    from identity.app import create_app

    settings = make_settings(officer_reauth_after=60)
    app = create_app(settings)
    app.include_router(placeholder)
    with new_browser(app) as client:
        runtime = app.state.runtime
        signed_in_officer(client, runtime, make_user)
        clock.tick(59)
        assert client.get("/test/console/export").status_code == 200
        clock.tick(2)
        assert client.get("/test/console/export").status_code == 303


def test_the_code_page_goes_back_only_to_local_pages(console_client, runtime, make_user, clock):
    officer = signed_in_officer(console_client, runtime, make_user)
    clock.tick(30)  # the fixture used this step's code and the next one's
    response = submit(
        console_client,
        "/account/security/verify",
        {"code": officer.next_code(), "next": "https://evil.example/steal"},
        form_page="/account",
    )
    assert response.headers["location"] == "/account"


def test_a_recovery_code_proves_the_factor_too(console_client, runtime, make_user, clock):
    officer = signed_in_officer(console_client, runtime, make_user)
    clock.tick(10 * 60)
    response = submit(
        console_client,
        "/account/security/verify",
        {"code": officer.recovery_codes[0], "next": "/test/console/export"},
        form_page="/account",
    )
    assert response.headers["location"] == "/test/console/export"
    assert console_client.get("/test/console/export").status_code == 200
    status = console_client.get("/account/security")
    assert "9 of 10" in page_text(status.text)
    assert not recovery_codes(status.text)


def test_a_revoked_officer_loses_the_console_at_once(console_client, runtime, make_user):
    officer = signed_in_officer(console_client, runtime, make_user)
    runtime.accounts.revoke_role(officer.user.email, OFFICER, operator="test")
    assert console_client.get("/test/console").status_code == 403


def test_a_removed_factor_sends_the_officer_back_to_enrolment(console_client, runtime, make_user):
    officer = signed_in_officer(console_client, runtime, make_user)
    assert runtime.mfa.remove_for_operator(officer.user.email, operator="test")
    response = console_client.get("/test/console")
    assert response.headers["location"] == "/account/security?next=/test/console"
