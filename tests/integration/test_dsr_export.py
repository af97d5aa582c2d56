"""The access export (GDPR Art. 15 and 20): one JSON document with everything held about the
customer, downloaded from their account page after confirming the password of an older
sign-in, or produced by an officer; audited either way, and nobody else's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select
from starlette.testclient import TestClient

from identity.audit.models import AuditEntryRow
from identity.audit.refs import CLI, Actor
from identity.dsr.rules import EXPORT_FORMAT
from tests.support.dsr_fixtures import EMAIL, NAME, PHONE, POSTAL_CODE, STREET, Held
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import csrf_token, login, page_text

SECRET = "cli-test-secret-key-0123456789-abcdefghij"


def download(browser: Any, password: str | None = None, **extra: str) -> Any:
    data = {"csrf_token": csrf_token(browser, "/account/data"), **extra}
    if password is not None:
        data["password"] = password
    return browser.post("/account/data", data=data)


def audited(runtime: Any, action: str) -> list[AuditEntryRow]:
    with runtime.db.read() as session:
        return list(session.scalars(select(AuditEntryRow).where(AuditEntryRow.action == action)))


def test_the_export_holds_every_kind_of_data_about_the_customer(held: Held, runtime, browser):
    response = download(browser)  # signed in a moment ago: no password asked
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-disposition"].startswith('attachment; filename="my-data-')
    data = response.json()
    assert (data["format"], data["subject"]) == (EXPORT_FORMAT, str(held.user.id))
    account = data["account"]
    assert (account["email"], account["name"], account["phone_number"]) == (EMAIL, NAME, PHONE)
    assert (account["address"]["street_address"], account["locale"]) == (STREET, "es")
    assert account["created_at"]
    assert account["email_verified_at"]
    [session] = data["sessions"]
    assert session["user_agent"]
    assert session["auth_time"]
    assert "ip_hash" not in session
    assert {g["client"] for g in data["grants"]} == {"Web store", "Marketplace"}
    assert {tuple(g["scopes"]) for g in data["grants"]} >= {("openid", "email", "offline_access")}
    assert [a["client"] for a in data["apps"]] == ["Marketplace"]
    assert {t["client_id"] for t in data["refresh_tokens"]} == {"store", "marketplace"}
    assert [p["sector"] for p in data["pairwise_subjects"]] == ["marketplace.example"]
    assert [a["subject"] for a in data["anonymous_ids"]] == [held.visitor["subject"]]
    assert [p["subject"] for p in data["anonymous_presentations"]] == [held.visitor["subject"]]
    assert {t["counts"] for t in data["sign_in_throttles"]} == {"sign_in", "mail"}
    current = {(c["subject"], c["purpose"]): c["status"] for c in data["consent_current"]}
    assert current[(str(held.user.id), "analytics")] == "denied"  # an objection
    assert current[(held.visitor["subject"], "personalization")] == "denied"
    actions = {e["action"] for e in data["audit_entries"]}
    assert {"account.created", "login.succeeded", "consent.recorded", "link.created"} <= actions
    assert {"user:" + str(held.user.id), "visitor:" + held.visitor["subject"]} >= {
        e["subject"] for e in data["audit_entries"] if e["action"] == "consent.recorded"
    }
    # Said why: codes are short-lived secrets; recovery codes are keyed hashes, their dates
    # are in the second_factor section; passkey challenges live five minutes.
    not_exported = ["mfa_recovery_code", "oauth_code", "passkey_challenge"]
    assert sorted(data["not_exported"]) == not_exported
    assert not {"id_hash", "password_hash", "digest", "secret_digest"} & set(json.dumps(data))


def test_every_consent_record_comes_with_a_receipt_that_verifies(held: Held, runtime, browser):
    data = download(browser).json()
    keys = KeySet.import_key_set(browser.get("/receipts/jwks").json())
    records = data["consent_records"]
    assert {r["source"] for r in records} >= {"api:store", "link_merge", "preference_center"}
    for record in records:
        receipt = jwt.decode(record["receipt"], keys, algorithms=["RS256", "ES256"])
        assert receipt.header["typ"] == "consent-receipt+jwt"
        claims = receipt.claims
        assert (claims["consentReceiptID"], claims["piiPrincipalId"]) == (
            str(record["id"]),
            record["subject"],
        )


def test_the_download_is_audited_and_registered_as_a_done_request(held: Held, runtime, browser):
    download(browser)
    [entry] = audited(runtime, "dsr.access_exported")
    assert (entry.actor, entry.subject) == (f"user:{held.user.id}", f"user:{held.user.id}")
    [request] = runtime.dsr.queue(kind="access")
    assert (request.status, request.requested_by) == ("done", f"user:{held.user.id}")
    assert request.summary["consent_records"] == 4  # banner, merge, preference center, POS
    assert str(request.id) == entry.details["request"]
    # The next export lists the earlier one among the customer's requests.
    assert [r["kind"] for r in download(browser).json()["requests"]] == ["access"]


def test_another_customer_downloads_only_their_own_data(held: Held, app, make_user, runtime):
    other = make_user("zoe@example.com", name="Zoe")
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as zoe:
        login(zoe, "zoe@example.com", DEFAULT_PASSWORD)
        # There is no way to name another subject: the page serves the signed-in customer.
        response = download(zoe, subject=str(held.user.id), email=EMAIL)
        assert response.status_code == 200
        text = response.text
    assert json.loads(text)["subject"] == str(other.id)
    for theirs in (EMAIL, str(held.user.id), POSTAL_CODE):
        assert theirs not in text


def test_nobody_signed_in_gets_a_sign_in_page_and_no_data(held: Held, app):
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as stranger:
        response = stranger.post(
            "/account/data", data={"csrf_token": csrf_token(stranger, "/login")}
        )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=/account/data")


def test_a_download_without_the_csrf_token_or_from_another_site_is_refused(held: Held, browser):
    assert browser.post("/account/data", data={}).status_code == 403
    token = csrf_token(browser, "/account/data")
    crossed = browser.post(
        "/account/data", data={"csrf_token": token}, headers={"origin": "https://evil.example"}
    )
    assert crossed.status_code == 403
    assert "application/json" not in crossed.headers["content-type"]


def test_an_older_sign_in_must_confirm_the_password_first(
    app, make_user, runtime, clock, audit_actions
):
    make_user("zoe@example.com", name="Zoe")
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as zoe:
        login(zoe, "zoe@example.com", DEFAULT_PASSWORD)
        assert 'name="password"' not in zoe.get("/account/data").text.split("/account/erase")[0]
        clock.tick(5 * 60 + 1)
        page = zoe.get("/account/data")
        assert "Your password, to download your data" in page_text(page.text)
        missing = download(zoe)
        wrong = download(zoe, "not my password")
        assert (missing.status_code, wrong.status_code) == (401, 401)
        assert "That password is not right" in page_text(wrong.text)
        assert audited(runtime, "dsr.access_exported") == []
        right = download(zoe, DEFAULT_PASSWORD)
        assert right.status_code == 200
        assert right.json()["account"]["email"] == "zoe@example.com"
        assert download(zoe).status_code == 200  # confirmed: a fresh sign-in again
    assert "session.reauthenticated" in audit_actions()
    assert audit_actions().count("session.reauthentication_failed") == 2


def test_guessing_the_password_at_the_confirmation_is_throttled_like_sign_in(
    app, make_user, runtime, clock, settings
):
    make_user("zoe@example.com", name="Zoe")
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as zoe:
        login(zoe, "zoe@example.com", DEFAULT_PASSWORD)
        clock.tick(6 * 60)
        statuses = [
            download(zoe, f"guess {i}").status_code
            for i in range(settings.login_max_failures_per_account + 1)
        ]
        assert statuses[-1] == 429
        locked = download(zoe, DEFAULT_PASSWORD)
        assert locked.status_code == 429
        assert "retry-after" in locked.headers


def test_an_officer_exports_a_customer_by_email_or_id(held: Held, runtime):
    by_email = runtime.dsr.export(EMAIL, actor=Actor.operator("dpo"))
    by_id = runtime.dsr.export(str(held.user.id), actor=CLI)
    assert by_email["account"] == by_id["account"]
    assert [e.actor for e in audited(runtime, "dsr.access_exported")] == [
        "operator:dpo",
        "operator:cli",
    ]


@pytest.fixture
def run(database_url, tmp_path):
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        environment = {
            **os.environ,
            "IDENTITY_DATABASE_URL": database_url,
            "IDENTITY_SECRET_KEY": SECRET,
            "IDENTITY_VAR_DIR": str(tmp_path / "var"),
        }
        return subprocess.run(
            [sys.executable, "-m", "identity", *args],
            capture_output=True,
            text=True,
            env=environment,
            timeout=120,
            check=False,
        )

    return run


def test_the_export_command_prints_the_document_and_is_audited_as_the_operator(
    run, make_user, runtime
):
    user = make_user("carla@example.com", name="Carla Pérez")
    result = run("dsr", "export", "--subject", "Carla@Example.com", "--operator", "maria")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert (document["subject"], document["account"]["name"]) == (str(user.id), "Carla Pérez")
    [entry] = audited(runtime, "dsr.access_exported")
    assert (entry.actor, entry.subject) == ("operator:maria", f"user:{user.id}")
    email_as_operator = run("dsr", "export", "--subject", str(user.id), "--operator", "a@b.c")
    assert email_as_operator.returncode != 0
    assert "login name" in email_as_operator.stderr
    unknown = run("dsr", "export", "--subject", "nobody@example.com")
    assert unknown.returncode != 0
    assert "no account has that email" in unknown.stderr
