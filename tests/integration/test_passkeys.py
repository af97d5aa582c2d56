"""Passkeys: registering one from the account, signing in with it, managing them, and every
way an attacker might try to use a ceremony that is not theirs.

The responses are real WebAuthn: a software authenticator (tests/support/webauthn.py) makes
them with an ES256 key, and py_webauthn verifies them on the server."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from identity.accounts.models import BrowserSession
from identity.audit.models import AuditEntryRow
from identity.audit.refs import Actor
from identity.passkeys.models import PasskeyChallenge, PasskeyCredential
from tests.support import passkeys
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import login, page_text, submit
from tests.support.second_factor import enrol
from tests.support.webauthn import SoftwareAuthenticator

ANA, BOB = "ana@example.com", "bob@example.com"


@pytest.fixture
def ana(make_user, client):
    """Ana, signed in on ``client``."""
    user = make_user(ANA)
    assert login(client, ANA, DEFAULT_PASSWORD).status_code == 303
    return user


@pytest.fixture
def phone() -> SoftwareAuthenticator:
    return SoftwareAuthenticator()


@pytest.fixture
def with_passkey(ana, client, phone):
    """Ana with a passkey on her phone, signed out."""
    assert passkeys.register(client, phone, name="My phone").status_code == 303
    sign_out(client)
    return ana


def sign_out(client) -> None:
    submit(client, "/logout", {}, form_page="/account")
    client.cookies.delete("identity_session")


def stored(runtime) -> list[PasskeyCredential]:
    with runtime.db.read() as session:
        return list(session.scalars(select(PasskeyCredential)))


def sessions(runtime) -> list[BrowserSession]:
    with runtime.db.read() as session:
        return list(session.scalars(select(BrowserSession)))


def failures(runtime) -> list[dict]:
    with runtime.db.read() as session:
        rows = session.scalars(
            select(AuditEntryRow)
            .where(AuditEntryRow.action == "passkey.failed")
            .order_by(AuditEntryRow.id)
        )
        return [r.details for r in rows]


def signed_in_as(client) -> str | None:
    page = client.get("/account")
    return None if page.status_code != 200 else page_text(page.text)


# -- the ceremonies -------------------------------------------------------------------------


def test_a_registered_passkey_signs_in_and_the_session_says_how(
    with_passkey, client, phone, runtime, audit_actions
):
    [row] = stored(runtime)
    assert row.name == "My phone"
    assert row.transports == "hybrid internal"
    assert row.device == "testclient"
    assert not row.multi_device
    response = passkeys.sign_in(client, phone)
    assert response.status_code == 303
    assert response.headers["location"] == "/account"
    assert "Hello, Test Shopper" in signed_in_as(client)
    [session] = sessions(runtime)
    assert session.amr == "hwk user mfa"  # RFC 8176: a device-bound key, user verified
    assert audit_actions()[-3:] == ["passkey.registered", "session.ended", "login.succeeded"]
    with runtime.db.read() as session_:
        entry = session_.scalars(
            select(AuditEntryRow)
            .where(AuditEntryRow.action == "login.succeeded")
            .order_by(AuditEntryRow.id)
        ).all()[-1]
    assert entry.details["amr"] == "hwk user mfa"
    [after] = stored(runtime)
    assert after.sign_count == 1
    assert after.last_used_at is not None


def test_a_synced_passkey_signs_in_as_a_software_key(ana, client, runtime):
    cloud = SoftwareAuthenticator(synced=True, counts=False)
    assert passkeys.register(client, cloud).status_code == 303
    sign_out(client)
    assert passkeys.sign_in(client, cloud).status_code == 303
    assert passkeys.sign_in(client, cloud).status_code == 303  # a count of 0 stays 0
    assert sessions(runtime)[0].amr == "swk user mfa"
    assert stored(runtime)[0].multi_device


def test_packed_self_attestation_is_verified_and_accepted(ana, client, phone, runtime):
    response = passkeys.register(client, phone, attestation="packed")
    assert response.status_code == 303, response.text
    assert len(stored(runtime)) == 1


def test_passkey_sign_in_keeps_next_as_a_password_sign_in_does(with_passkey, client, phone):
    next_url = "/authorize/resume?interaction=abc"
    response = passkeys.sign_in(client, phone, next_url=next_url)
    assert response.headers["location"] == next_url
    evil = passkeys.sign_in(client, phone, next_url="https://evil.example/")
    assert evil.headers["location"] == "/account"


def test_an_authenticator_app_is_not_asked_for_after_a_passkey(ana, client, phone, runtime, clock):
    enrol(client)
    assert passkeys.register(client, phone).status_code == 303
    sign_out(client)
    response = passkeys.sign_in(client, phone)
    assert response.headers["location"] == "/account"  # no code step: already two factors
    assert "Hello" in signed_in_as(client)


def test_user_verification_is_required(ana, client, phone, runtime):
    options = passkeys.registration_options(client)
    unverified = phone.create(options.text, user_verified=False)
    assert passkeys.finish_registration(client, unverified).status_code == 400
    assert passkeys.register(client, phone).status_code == 303
    sign_out(client)
    options = passkeys.sign_in_options(client)
    response = passkeys.finish_sign_in(client, phone.get(options.text, user_verified=False))
    assert response.status_code == 401
    assert not sessions(runtime)


def test_the_login_page_offers_passkeys_and_the_autofill(client):
    page = client.get("/login").text
    assert 'action="/login/passkey"' in page
    assert 'data-passkey="sign-in"' in page
    assert '<script src="/static/passkeys.js" defer></script>' in page
    script = client.get("/static/passkeys.js")
    assert script.status_code == 200
    assert "webauthn" in script.text
    assert "conditional" in script.text


# -- registration needs a recent sign-in ----------------------------------------------------


def test_registration_after_a_while_needs_the_password(ana, client, phone, clock, runtime):
    clock.tick(6 * 60)
    refused = passkeys.registration_options(client)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/reauthentication-required")
    wrong = passkeys.registration_options(client, password="not it")
    assert wrong.status_code == 401
    assert wrong.json()["type"].endswith("/login-failed")
    page = client.get("/account/passkeys?add=1")
    assert 'name="password"' in page.text
    options = passkeys.registration_options(client, password=DEFAULT_PASSWORD)
    assert options.status_code == 200
    assert passkeys.finish_registration(client, phone.create(options.text)).status_code == 303


# -- attackers ------------------------------------------------------------------------------


def test_a_replayed_sign_in_response_is_refused(with_passkey, client, phone, runtime):
    options = passkeys.sign_in_options(client)
    answer = phone.get(options.text)
    assert passkeys.finish_sign_in(client, answer).status_code == 303
    sign_out(client)
    replayed = passkeys.finish_sign_in(client, answer)
    assert replayed.status_code == 401
    assert "could not be used" in page_text(replayed.text)
    assert failures(runtime)[-1]["reason"] == "unknown_challenge"
    assert len(sessions(runtime)) == 0


def test_a_replayed_registration_response_is_refused(ana, client, phone, runtime):
    options = passkeys.registration_options(client)
    answer = phone.create(options.text)
    assert passkeys.finish_registration(client, answer).status_code == 303
    assert passkeys.finish_registration(client, answer).status_code == 400
    assert len(stored(runtime)) == 1


def test_a_challenge_counts_only_in_the_browser_it_was_given_to(
    with_passkey, client, phone, app, runtime
):
    options = passkeys.sign_in_options(client)
    answer = phone.get(options.text)
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as other:
        stolen = passkeys.finish_sign_in(other, answer)
    assert stolen.status_code == 401
    assert failures(runtime)[-1]["reason"] == "wrong_browser"
    # ...and it is gone: single use, even for its own browser now.
    assert passkeys.finish_sign_in(client, answer).status_code == 401


def test_a_challenge_expires_after_five_minutes(with_passkey, client, phone, clock, runtime):
    options = passkeys.sign_in_options(client)
    clock.tick(5 * 60 + 1)
    response = passkeys.finish_sign_in(client, phone.get(options.text))
    assert response.status_code == 401
    assert failures(runtime)[-1]["reason"] == "expired"


def test_expired_challenges_are_swept_by_later_ones(client, clock, runtime, count_rows):
    for _ in range(3):
        passkeys.sign_in_options(client)
    clock.tick(5 * 60)
    passkeys.sign_in_options(client)
    assert count_rows(PasskeyChallenge) == 1


def test_a_sign_in_challenge_cannot_register_a_passkey(ana, client, phone, runtime):
    options = passkeys.sign_in_options(client)
    register_options = json.loads(passkeys.registration_options(client).text)
    register_options["challenge"] = json.loads(options.text)["challenge"]
    response = passkeys.finish_registration(client, phone.create(register_options))
    assert response.status_code == 400
    assert failures(runtime)[-1]["reason"] == "wrong_purpose"
    assert not stored(runtime)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"origin": "https://evil.example"}, "wrong_origin"),
        ({"origin": "http://testserver.evil.example"}, "wrong_origin"),
        ({"rp_id": "evil.example"}, "wrong_rp_id"),
    ],
)
def test_a_response_for_another_site_is_refused(
    with_passkey, client, phone, runtime, change, reason
):
    options = passkeys.sign_in_options(client)
    response = passkeys.finish_sign_in(client, phone.get(options.text, **change))
    assert response.status_code == 401
    assert failures(runtime)[-1] == {**failures(runtime)[-1], "stage": "sign_in", "reason": reason}
    assert not sessions(runtime)


def test_registration_for_another_site_is_refused(ana, client, phone, runtime):
    for change in ({"origin": "https://evil.example"}, {"rp_id": "evil.example"}):
        options = passkeys.registration_options(client)
        answer = phone.create(options.text, **change)
        assert passkeys.finish_registration(client, answer).status_code == 400
    assert [f["reason"] for f in failures(runtime)] == ["wrong_origin", "wrong_rp_id"]
    assert not stored(runtime)


def test_a_sign_count_that_goes_backwards_is_refused_as_a_possible_clone(
    with_passkey, client, phone, runtime
):
    assert passkeys.sign_in(client, phone).status_code == 303
    assert passkeys.sign_in(client, phone).status_code == 303  # count 2
    sign_out(client)
    cloned = passkeys.sign_in(client, phone, sign_count=1)
    assert cloned.status_code == 401
    assert failures(runtime)[-1]["reason"] == "sign_count"
    assert stored(runtime)[0].sign_count == 2  # the genuine key's count is kept
    assert passkeys.sign_in(client, phone).status_code == 303  # and it still works


def test_a_passkey_cannot_speak_for_another_account(
    with_passkey, client, phone, make_user, runtime
):
    bob = make_user(BOB)
    response = passkeys.sign_in(client, phone, user_handle=bob.id.bytes)
    assert response.status_code == 401
    assert failures(runtime)[-1]["reason"] == "wrong_user"
    # Bob's key signing for Ana's credential id fails the signature check.
    bobs = SoftwareAuthenticator()
    login(client, BOB, DEFAULT_PASSWORD)
    passkeys.register(client, bobs)
    sign_out(client)
    bobs.credentials[-1].credential_id = phone.credentials[-1].credential_id
    bobs.credentials[-1].user_handle = with_passkey.id.bytes
    forged = passkeys.sign_in(client, bobs)
    assert forged.status_code == 401
    assert failures(runtime)[-1]["reason"] == "bad_signature"
    assert not sessions(runtime)


def test_a_registration_started_by_another_account_is_refused(
    ana, client, phone, make_user, runtime
):
    make_user(BOB)
    options = passkeys.registration_options(client)  # for Ana
    sign_out(client)
    login(client, BOB, DEFAULT_PASSWORD)
    response = passkeys.finish_registration(client, phone.create(options.text))
    assert response.status_code == 400
    assert failures(runtime)[-1]["reason"] == "wrong_account"
    assert not stored(runtime)


def test_a_removed_passkey_says_so_at_sign_in(with_passkey, client, phone, runtime):
    login(client, ANA, DEFAULT_PASSWORD)
    [row] = stored(runtime)
    submit(client, "/account/passkeys/remove", {"passkey": str(row.id)}, form_page="/account")
    sign_out(client)
    response = passkeys.sign_in(client, phone)
    assert response.status_code == 401
    assert "no longer linked to an account" in page_text(response.text)


def test_a_disabled_account_cannot_sign_in_with_its_passkey(with_passkey, client, phone, runtime):
    runtime.operations.standing.disable(ANA, "fraud review", actor=Actor.operator("test"))
    response = passkeys.sign_in(client, phone)
    assert response.status_code == 401
    assert "disabled" in page_text(response.text)
    assert not sessions(runtime)


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "not json",
        "[]",
        "null",
        '{"response": {}}',
        '{"response": {"clientDataJSON": 5}}',
        '{"response": {"clientDataJSON": "!!!"}}',
        '{"response": {"clientDataJSON": "e30"}}',
        '{"id": 1, "rawId": [], "response": {"clientDataJSON": "eyJ0eXBlIjoxfQ"}}',
        "x" * 70_000,
        '{"response": {"clientDataJSON": "\\u0000"}}',
    ],
)
def test_garbage_responses_are_refused_without_a_500(ana, client, garbage, runtime):
    assert passkeys.finish_registration(client, garbage).status_code == 400
    assert passkeys.finish_sign_in(client, garbage).status_code == 401
    assert failures(runtime)[-1]["reason"] == "malformed"


def test_a_forged_challenge_finds_nothing(with_passkey, client, phone, runtime):
    options = json.loads(passkeys.sign_in_options(client).text)
    response = passkeys.finish_sign_in(client, phone.get(options, challenge=b"\x00" * 64))
    assert response.status_code == 401
    assert failures(runtime)[-1]["reason"] == "unknown_challenge"


def test_every_passkey_form_needs_its_csrf_token(with_passkey, client):
    login(client, ANA, DEFAULT_PASSWORD)
    for path in (
        "/login/passkey/options",
        "/login/passkey",
        "/account/passkeys/options",
        "/account/passkeys",
        "/account/passkeys/rename",
        "/account/passkeys/remove",
    ):
        assert client.post(path, data={"credential": "{}"}).status_code == 403, path
        forged = client.post(path, data={"csrf_token": "forged"})
        assert forged.status_code == 403, path
        cross = client.post(
            path, data={"csrf_token": "x"}, headers={"origin": "https://evil.example"}
        )
        assert cross.status_code == 403, path


def test_the_account_pages_need_a_signed_in_browser(client):
    assert client.get("/account/passkeys").headers["location"].startswith("/login?")
    page = submit(client, "/account/passkeys/options", {}, form_page="/login")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login?")


# -- managing -------------------------------------------------------------------------------


def test_the_account_page_shows_the_section_and_the_list_shows_the_passkeys(
    with_passkey, client, phone
):
    login(client, ANA, DEFAULT_PASSWORD)
    account = client.get("/account").text
    assert 'id="passkeys"' in account
    assert 'data-passkey="register"' in account
    page = page_text(client.get("/account/passkeys").text)
    assert "My phone" in page
    assert "not used yet" in page
    assert "Lost a device?" in page
    assert "Forgot your password?" in page


def test_an_unnamed_passkey_is_named_after_its_device(ana, client, phone, runtime):
    client.headers["user-agent"] = "Mozilla/5.0 (Linux; Android 14) Chrome/131.0 Mobile"
    passkeys.register(client, phone)
    assert "Passkey on Chrome / Android" in page_text(client.get("/account/passkeys").text)
    es = page_text(client.get("/account/passkeys?lang=es").text)
    assert "Chrome / Android" in es


def test_renaming_a_passkey(with_passkey, client, runtime, audit_actions):
    login(client, ANA, DEFAULT_PASSWORD)
    [row] = stored(runtime)
    done = submit(
        client,
        "/account/passkeys/rename",
        {"passkey": str(row.id), "name": "  Work\u202e laptop \x07 "},
        form_page="/account/passkeys",
    )
    assert done.headers["location"] == "/account/passkeys?notice=renamed"
    assert stored(runtime)[0].name == "Work laptop"
    assert audit_actions()[-1] == "passkey.renamed"


def test_removing_a_passkey_after_a_while_needs_the_password(
    with_passkey, client, runtime, clock, audit_actions
):
    login(client, ANA, DEFAULT_PASSWORD)
    [row] = stored(runtime)
    clock.tick(6 * 60)
    data = {"passkey": str(row.id)}
    refused = submit(client, "/account/passkeys/remove", data, form_page="/account/passkeys")
    assert refused.status_code == 401
    assert len(stored(runtime)) == 1
    wrong = submit(
        client,
        "/account/passkeys/remove",
        {**data, "password": "nope"},
        form_page="/account/passkeys",
    )
    assert wrong.status_code == 401
    assert "password is not right" in page_text(wrong.text)
    done = submit(
        client,
        "/account/passkeys/remove",
        {**data, "password": DEFAULT_PASSWORD},
        form_page="/account/passkeys",
    )
    assert done.headers["location"] == "/account/passkeys?notice=removed"
    assert not stored(runtime)
    assert audit_actions()[-1] == "passkey.removed"


def test_another_users_passkey_cannot_be_renamed_or_removed(
    with_passkey, client, make_user, runtime, audit_actions
):
    [anas] = stored(runtime)
    make_user(BOB)
    login(client, BOB, DEFAULT_PASSWORD)
    before = audit_actions()
    for path, data in (
        ("/account/passkeys/remove", {"passkey": str(anas.id), "password": DEFAULT_PASSWORD}),
        ("/account/passkeys/rename", {"passkey": str(anas.id), "name": "mine now"}),
        ("/account/passkeys/remove", {"passkey": "not-a-uuid"}),
    ):
        response = submit(client, path, data, form_page="/account/passkeys")
        assert response.status_code == 404, path
    [after] = stored(runtime)
    assert after.name == "My phone"
    assert audit_actions() == before  # not even a password check was made for Bob


def test_an_account_may_have_at_most_twenty_passkeys(ana, client, runtime):
    keys = SoftwareAuthenticator()
    for _ in range(20):
        assert passkeys.register(client, keys).status_code == 303
    refused = passkeys.registration_options(client)
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/too-many-passkeys")


# -- the data subject's rights --------------------------------------------------------------


def test_the_export_lists_passkeys_without_keys_and_erasure_removes_them(
    with_passkey, runtime, count_rows
):
    document = runtime.dsr.export(with_passkey.id, actor=Actor.operator("test"))
    [exported] = document["passkeys"]
    assert exported["name"] == "My phone"
    assert exported["synced"] is False
    assert "public_key" not in exported
    assert "credential_id" not in exported
    runtime.dsr.erase(with_passkey.id, actor=Actor.operator("test"), reason="test")
    assert count_rows(PasskeyCredential) == 0
