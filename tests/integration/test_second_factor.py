"""The second factor: enrolling an authenticator app, recovery codes, the code step of signing
in, what a browser that stopped after the password can do (nothing), removal.

Codes are computed by pyotp from the secret the page shows; time steps are moved with
freezegun (``clock``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from sqlalchemy import delete, select
from starlette.testclient import TestClient

from identity.accounts.models import BrowserSession, LoginThrottle, User
from identity.mfa.models import RecoveryCode, TotpFactor
from identity.models import metadata
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import login, page_text, submit
from tests.support.second_factor import (
    enrol,
    enter_code,
    recovery_codes,
    shown_secret,
    start_enrolment,
    wrong_code,
)

EMAIL = "ana@example.com"


def sessions(runtime) -> list[BrowserSession]:
    with runtime.db.read() as session:
        return list(session.scalars(select(BrowserSession)))


def post(client, path: str, data: dict[str, str]):
    """A form post from this browser (its CSRF token is the same on every page)."""
    return submit(client, path, data, form_page="/login")


def sign_out(client) -> None:
    submit(client, "/logout", {}, form_page="/account")
    client.cookies.clear()


@pytest.fixture
def enrolled(client, make_user, clock):
    """Ana, signed in, with an authenticator app enrolled; then signed out."""
    make_user(EMAIL)
    login(client, EMAIL, DEFAULT_PASSWORD)
    enrolment = enrol(client)
    sign_out(client)
    clock.tick(30)  # the enrolment used this step's code
    return enrolment


# -- enrolment ----------------------------------------------------------------------------


def test_enrolment_shows_a_qr_code_and_the_secret_and_the_first_real_code_turns_it_on(
    client, make_user, runtime, audit_actions
):
    make_user(EMAIL)
    login(client, EMAIL, DEFAULT_PASSWORD)
    intro = client.get("/account/security")
    assert "Set up an authenticator app" in page_text(intro.text)
    app = start_enrolment(client)
    page = client.get("/account/security")
    # The QR code is an SVG image in a data: URI, which the CSP allows; no script anywhere.
    [qr] = [src for src in page.text.split('src="')[1:] if src.startswith("data:image/svg+xml")]
    svg = unquote(qr.split('"', 1)[0])
    assert svg.startswith("data:image/svg+xml")
    assert "<svg" in svg
    assert "<script" not in svg
    assert "img-src 'self' data:" in page.headers["content-security-policy"]
    assert "<script" not in page.text
    assert "style=" not in page.text
    # The key is printed in groups of four for typing by hand.
    secret = shown_secret(page.text)
    assert len(secret) == 32
    assert f"{secret[:4]} {secret[4:8]}" in page.text

    done = post(client, "/account/security/totp/confirm", {"code": app.next_code()})
    assert done.status_code == 200
    assert len(set(recovery_codes(done.text))) == 10
    assert "Two-step sign-in is on" in page_text(done.text)
    assert "mfa.enrolment_started" in audit_actions()
    assert audit_actions()[-1] == "mfa.enrolled"
    # The code just proven counts for this session: it has now proven the second factor.
    [row] = sessions(runtime)
    assert row.amr == "pwd otp"
    status = page_text(client.get("/account/security").text)
    assert "Recovery codes left: 10 of 10" in status


def test_the_factor_counts_for_nothing_until_a_code_confirms_it(client, make_user):
    make_user(EMAIL)
    login(client, EMAIL, DEFAULT_PASSWORD)
    app = start_enrolment(client)
    wrong = post(client, "/account/security/totp/confirm", {"code": wrong_code(app.totp)})
    assert wrong.status_code == 400
    assert "That code is not right" in page_text(wrong.text)
    sign_out(client)
    assert login(client, EMAIL, DEFAULT_PASSWORD).headers["location"] == "/account"


def test_starting_again_gives_a_new_key_and_the_old_one_no_longer_confirms(client, make_user):
    make_user(EMAIL)
    login(client, EMAIL, DEFAULT_PASSWORD)
    first = start_enrolment(client)
    second = start_enrolment(client)
    assert first.totp.secret != second.totp.secret
    if first.totp.now() != second.totp.now():  # one chance in a million that they agree
        stale = post(client, "/account/security/totp/confirm", {"code": first.next_code()})
        assert stale.status_code == 400
    ok = post(client, "/account/security/totp/confirm", {"code": second.next_code()})
    assert ok.status_code == 200


def test_the_secret_and_the_recovery_codes_are_not_in_the_database(
    client, make_user, runtime, enrolled
):
    secret = enrolled.app.totp.secret
    forms = {
        secret,
        *enrolled.recovery_codes,
        *(c.replace("-", "") for c in enrolled.recovery_codes),
    }
    with runtime.db.read() as session:
        dump = " ".join(
            str(tuple(row))
            for table in metadata.sorted_tables
            for row in session.execute(select(table))
        )
        stored = session.scalars(select(RecoveryCode.code_hash)).all()
    assert len(stored) == 10
    assert not [f for f in forms if f in dump or f.lower() in dump]


def test_recovery_codes_are_shown_once(client, make_user):
    make_user(EMAIL)
    login(client, EMAIL, DEFAULT_PASSWORD)
    enrolment = enrol(client)
    assert not recovery_codes(client.get("/account/security").text)
    # Posting the confirmation again (the browser's "resend") shows nothing again.
    again = post(client, "/account/security/totp/confirm", {"code": enrolment.app.totp.now()})
    assert again.status_code == 303
    assert not recovery_codes(again.text)


# -- signing in ---------------------------------------------------------------------------


def test_sign_in_asks_for_the_code_and_comes_back_to_next(client, runtime, enrolled, audit_actions):
    step = login(client, EMAIL, DEFAULT_PASSWORD, next_url="/account/privacy")
    assert step.status_code == 303
    assert step.headers["location"] == "/login/code?next=%2Faccount%2Fprivacy"
    assert "identity_session" not in step.headers.get("set-cookie", "")
    assert sessions(runtime) == []  # no session at all, half or whole
    page = client.get(step.headers["location"])
    assert page.status_code == 200
    assert 'autocomplete="one-time-code"' in page.text
    done = enter_code(client, enrolled.app.next_code(), next_url="/account/privacy")
    assert (done.status_code, done.headers["location"]) == (303, "/account/privacy")
    [row] = sessions(runtime)
    assert row.amr == "pwd otp"
    assert client.get("/account").status_code == 200
    assert audit_actions()[-2:] == ["login.second_factor_due", "login.succeeded"]


def test_the_code_step_goes_on_only_to_local_pages(client, enrolled):
    step = login(client, EMAIL, DEFAULT_PASSWORD, next_url="//evil.example/")
    assert step.headers["location"] == "/login/code?next=%2Faccount"
    done = enter_code(client, enrolled.app.next_code(), next_url="https://evil.example/")
    assert done.headers["location"] == "/account"


def test_a_wrong_code_is_refused_and_then_attempts_are_throttled(
    client, runtime, enrolled, audit_actions
):
    login(client, EMAIL, DEFAULT_PASSWORD)
    right, wrong = enrolled.app.totp.now(), wrong_code(enrolled.app.totp)
    for _ in range(runtime.settings.login_max_failures_per_account):
        refused = enter_code(client, wrong)
        assert refused.status_code == 401
        assert "That code is not right" in page_text(refused.text)
    locked = enter_code(client, right)
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    assert "Too many attempts" in page_text(locked.text)
    assert sessions(runtime) == []
    assert "mfa.failed" in audit_actions()
    assert audit_actions()[-1] == "mfa.throttled"


def test_a_right_password_buys_no_extra_guesses_at_the_code(client, runtime, enrolled):
    right, wrong = enrolled.app.totp.now(), wrong_code(enrolled.app.totp)
    for _ in range(runtime.settings.login_max_failures_per_account):
        login(client, EMAIL, DEFAULT_PASSWORD)  # a fresh pending sign-in each time
        assert enter_code(client, wrong).status_code == 401
    login(client, EMAIL, DEFAULT_PASSWORD)
    assert enter_code(client, right).status_code == 429


def test_a_code_is_accepted_once(client, runtime, enrolled, clock):
    code = enrolled.app.next_code()
    login(client, EMAIL, DEFAULT_PASSWORD)
    assert enter_code(client, code).status_code == 303
    sign_out(client)
    login(client, EMAIL, DEFAULT_PASSWORD)
    replayed = enter_code(client, code)
    assert replayed.status_code == 401
    assert "has been used already" in page_text(replayed.text)
    # The previous step's code is still inside the drift window, yet older than the one used.
    clock.tick(30)
    assert enter_code(client, code).status_code == 401
    assert enter_code(client, enrolled.app.next_code()).status_code == 303


def test_codes_of_the_neighbouring_steps_are_accepted_and_older_ones_not(client, enrolled, clock):
    totp, step = enrolled.app.totp, timedelta(seconds=30)
    clock.tick(30)  # two steps after the enrolment's
    login(client, EMAIL, DEFAULT_PASSWORD)
    now = datetime.now(UTC)
    assert enter_code(client, totp.at(now - 2 * step)).status_code == 401
    assert enter_code(client, totp.at(now - step)).status_code == 303  # a slow phone clock
    sign_out(client)
    login(client, EMAIL, DEFAULT_PASSWORD)
    assert enter_code(client, totp.at(now + step)).status_code == 303  # a fast one


def test_a_recovery_code_signs_in_once(client, runtime, enrolled, audit_actions):
    code = enrolled.recovery_codes[3]
    login(client, EMAIL, DEFAULT_PASSWORD)
    form = client.get("/login/code?with=recovery")
    assert 'inputmode="text"' in form.text
    assert enter_code(client, code.upper().replace("-", " ")).status_code == 303
    assert audit_actions()[-2:] == ["mfa.recovery_used", "login.succeeded"]
    assert "Recovery codes left: 9 of 10" in page_text(client.get("/account/security").text)
    sign_out(client)
    login(client, EMAIL, DEFAULT_PASSWORD)
    again = enter_code(client, code)
    assert again.status_code == 401
    assert "has been used already" in page_text(again.text)
    with runtime.db.read() as session:
        used = session.scalars(select(RecoveryCode).where(RecoveryCode.used_at.is_not(None)))
        assert len(list(used)) == 1


def test_another_accounts_code_does_not_complete_a_sign_in(client, make_user, enrolled):
    make_user("eve@example.com")
    with TestClient(client.app, base_url="http://testserver", follow_redirects=False) as eve:
        login(eve, "eve@example.com", DEFAULT_PASSWORD)
        eves = enrol(eve)
    login(client, EMAIL, DEFAULT_PASSWORD)
    code = eves.app.next_code()
    if code not in (
        enrolled.app.totp.now(),
        enrolled.app.totp.at(datetime.now(UTC), counter_offset=1),
    ):
        assert enter_code(client, code).status_code == 401
    assert enter_code(client, eves.recovery_codes[0]).status_code == 401


def test_the_code_step_needs_a_live_pending_sign_in(client, runtime, enrolled, clock):
    assert client.get("/login/code?next=/account/apps").headers["location"] == (
        "/login?next=%2Faccount%2Fapps"
    )
    client.cookies.set("identity_pending", "forged", domain="testserver.local")
    expired = enter_code(client, enrolled.app.next_code())
    assert expired.status_code == 400
    assert "took too long" in page_text(expired.text)
    login(client, EMAIL, DEFAULT_PASSWORD)
    clock.tick(601)
    late = enter_code(client, enrolled.app.next_code())
    assert late.status_code == 400
    assert "took too long" in page_text(late.text)
    assert sessions(runtime) == []


def test_a_password_change_ends_the_pending_sign_in(client, runtime, enrolled):
    login(client, EMAIL, DEFAULT_PASSWORD)
    with runtime.db.transaction() as session:
        user = session.execute(select(User).where(User.email == EMAIL)).scalar_one()
        user.password_hash = runtime.passwords.hash("a new password, changed")
    expired = enter_code(client, enrolled.app.next_code())
    assert expired.status_code == 400
    assert sessions(runtime) == []


# -- a browser that stopped after the password ---------------------------------------------


def test_a_half_signed_in_browser_gets_nothing_as_the_user(store, marketplace, enrolled):
    client = marketplace.browser
    started = marketplace.authorize()
    sign_in = started.headers["location"]
    resume = parse_qs(urlsplit(sign_in).query)["next"][0]
    step = login(client, EMAIL, DEFAULT_PASSWORD, next_url=resume)
    assert step.headers["location"].startswith("/login/code")
    pending = client.cookies.get("identity_pending")
    assert pending

    for page in ("/account", "/account/privacy", "/account/apps", "/account/security"):
        response = client.get(page)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login")
    verify = client.get("/account/security/verify")
    assert verify.headers["location"].startswith("/login")
    # The paused authorization request and a fresh one both ask for a sign-in again.
    assert client.get(resume).headers["location"].startswith("/login?")
    assert store.authorize().headers["location"].startswith("/login?")
    interaction = parse_qs(urlsplit(resume).query)["interaction"][0]
    consent = submit(
        client,
        "/authorize/consent",
        {"interaction": interaction, "decision": "allow"},
        form_page="/login",
    )
    assert consent.headers["location"].startswith("/login?")
    # Nor does the pending token work as a session cookie, or at the API.
    client.cookies.set("identity_session", pending, domain="testserver.local")
    assert client.get("/account").headers["location"].startswith("/login")
    assert client.get("/v1/me/consents").status_code == 401
    assert client.get("/userinfo").status_code == 401


def test_an_oidc_sign_in_goes_through_the_code_step_and_the_id_token_says_pwd_otp(store, enrolled):
    step = store.authorize()
    resume = parse_qs(urlsplit(step.headers["location"]).query)["next"][0]
    to_code = urlsplit(
        login(store.browser, EMAIL, DEFAULT_PASSWORD, next_url=resume).headers["location"]
    )
    assert (to_code.path, parse_qs(to_code.query)["next"]) == ("/login/code", [resume])
    back = enter_code(store.browser, enrolled.app.next_code(), next_url=resume)
    assert back.headers["location"] == resume
    result = store.follow_to_client(back)
    tokens = store.exchange(result["code"]).json()
    claims = store.verify_id_token(tokens["id_token"])
    assert claims["amr"] == ["pwd", "otp", "mfa"]  # RFC 8176: two factors


# -- removing it, new recovery codes ------------------------------------------------------


def test_removing_the_factor_needs_a_current_code_or_the_password(
    client, runtime, enrolled, audit_actions
):
    login(client, EMAIL, DEFAULT_PASSWORD)
    enter_code(client, enrolled.app.next_code())
    refused = post(client, "/account/security/remove", {"code": "", "password": "not it"})
    assert refused.status_code == 400
    assert "password is not right" in page_text(refused.text)
    replayed = post(client, "/account/security/remove", {"code": enrolled.app.totp.now()})
    assert replayed.status_code == 400
    removed = post(client, "/account/security/remove", {"code": "", "password": DEFAULT_PASSWORD})
    assert removed.headers["location"] == "/account/security?notice=removed"
    assert audit_actions()[-1] == "mfa.removed"
    with runtime.db.read() as session:
        assert session.scalars(select(TotpFactor)).all() == []
        assert session.scalars(select(RecoveryCode)).all() == []
    sign_out(client)
    assert login(client, EMAIL, DEFAULT_PASSWORD).headers["location"] == "/account"


def test_new_recovery_codes_need_a_code_and_replace_the_old_ones(client, enrolled, clock):
    login(client, EMAIL, DEFAULT_PASSWORD)
    enter_code(client, enrolled.app.next_code())
    clock.tick(30)
    page = post(client, "/account/security/recovery-codes", {"code": enrolled.app.next_code()})
    new = recovery_codes(page.text)
    assert len(new) == 10
    assert not set(new) & set(enrolled.recovery_codes)
    sign_out(client)
    login(client, EMAIL, DEFAULT_PASSWORD)
    assert enter_code(client, enrolled.recovery_codes[0]).status_code == 401
    assert enter_code(client, new[0]).status_code == 303


def test_every_second_factor_form_needs_its_csrf_token(client, runtime, make_user):
    make_user(EMAIL)
    login(client, EMAIL, DEFAULT_PASSWORD)
    for path in (
        "/account/security/totp",
        "/account/security/totp/confirm",
        "/account/security/recovery-codes",
        "/account/security/remove",
        "/account/security/verify",
        "/login/code",
    ):
        response = client.post(path, data={"code": "123456", "password": DEFAULT_PASSWORD})
        assert response.status_code == 403, path
        assert "This form has expired" in page_text(response.text)
    with runtime.db.read() as session:
        assert session.scalars(select(TotpFactor)).all() == []


def test_the_second_factor_pages_are_in_spanish(client, make_user, enrolled):
    make_user("eva@example.com", locale="es")
    login(client, "eva@example.com", DEFAULT_PASSWORD)
    assert "Verificación en dos pasos" in page_text(client.get("/account/security").text)
    sign_out(client)
    login(client, EMAIL, DEFAULT_PASSWORD)
    page = page_text(client.get("/login/code?lang=es").text)
    assert "Introduce tu código" in page


HOSTILE = [
    "",
    "\x00",
    "123456\x00",
    "١٢٣٤٥٦",  # Arabic-Indic digits: not our six digits
    "x" * 5000,
    "💥" * 100,
    "' OR 1=1 --",
    "\r\n123456",
    "-" * 70,
    "ABCD-EFGH-IJKL\u202e",
]


def test_no_typed_value_makes_a_second_factor_page_fail(client, runtime, enrolled, caplog):
    def forget_attempts() -> None:  # so that every value reaches the code check
        with runtime.db.transaction() as session:
            session.execute(delete(LoginThrottle))

    login(client, EMAIL, DEFAULT_PASSWORD)
    assert enter_code(client, enrolled.app.next_code()).status_code == 303
    for value in HOSTILE:
        for path in (
            "/account/security/verify",
            "/account/security/totp/confirm",
            "/account/security/recovery-codes",
            "/account/security/remove",
            "/account/security/totp",
        ):
            response = post(client, path, {"code": value, "password": value, "next": value})
            assert response.status_code in (303, 400, 401), (path, value)
            forget_attempts()
        for page in ("/login/code", "/account/security", "/account/security/verify"):
            response = client.get(page, params={"next": value, "with": value, "notice": value})
            assert response.status_code in (200, 303), (page, value)
    sign_out(client)
    login(client, EMAIL, DEFAULT_PASSWORD)
    for value in HOSTILE:
        assert enter_code(client, value, next_url=value).status_code == 401
        forget_attempts()
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
