"""Erasure (GDPR Art. 17): asked for from the account page with the password and a grace period
to cancel, or executed at once by an officer with a reason. Afterwards the database holds
none of the customer's email, name, phone or address; the audit log still verifies; every
token is dead; the channels got their back-channel logouts and the services their
``subject.erased`` webhooks (pairwise ones only if they knew the customer)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date
from joserfc import jwt
from sqlalchemy import func, select

from identity.accounts.models import User
from identity.audit.models import AuditEntryRow
from identity.audit.refs import Actor
from identity.audit.verify import verify_database
from identity.consent.models import ConsentRecord, ConsentState
from identity.errors import InvalidInput
from identity.subjects.models import AnonymousSubject
from identity.web.i18n import format_locale
from tests.support.dsr_fixtures import EMAIL, NAME, PERSONAL, Held, dump_database, traces_of
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import csrf_token, login, page_text, submit
from tests.support.rp import query_of

OFFICER = Actor.operator("dpo")
SUBJECT_ES = "Se eliminará tu cuenta"


def long_date(moment: Any, settings: Any, locale: str = "es") -> str:
    """A date as pages and mails show it (the customer's language and the display zone)."""
    local = moment.astimezone(ZoneInfo(settings.display_timezone))
    return format_date(local.date(), format="long", locale=format_locale(locale))


def ask_for_erasure(browser: Any, password: str = DEFAULT_PASSWORD) -> Any:
    return submit(browser, "/account/erase", {"password": password}, form_page="/account/data")


def account_exists(runtime: Any, user_id: Any) -> bool:
    with runtime.db.read() as session:
        return session.get(User, user_id) is not None


def entries(runtime: Any, action: str) -> list[AuditEntryRow]:
    with runtime.db.read() as session:
        return list(session.scalars(select(AuditEntryRow).where(AuditEntryRow.action == action)))


def deliver(runtime: Any) -> list[Any]:
    runtime.sequencer.drain()
    return runtime.outbox.deliver_due()


# -- the customer asks ---------------------------------------------------------------------------


def test_an_erasure_waits_for_the_grace_period_then_runs(
    held: Held, runtime, clock, settings, mailbox
):
    response = ask_for_erasure(held.browser)
    assert response.headers["location"] == "/account/data?notice=erasure_requested"
    assert mailbox.last(EMAIL)["subject"] in ("Your account will be deleted", SUBJECT_ES)
    [pending] = runtime.dsr.queue(status="pending")
    assert pending.scheduled_for - pending.requested_at == settings.erasure_grace
    assert pending.due_at > pending.scheduled_for  # one month, Art. 12(3)
    assert long_date(pending.scheduled_for, settings) in page_text(
        held.browser.get("/account").text
    )
    clock.tick(settings.erasure_grace - timedelta(minutes=1))
    assert runtime.dsr.run_due() == []
    assert account_exists(runtime, held.user.id)
    clock.tick(timedelta(minutes=2))
    [done] = runtime.dsr.run_due()
    assert (done.id, done.status, done.executed_by) == (pending.id, "done", "system")
    assert not account_exists(runtime, held.user.id)
    assert runtime.dsr.run_due() == []  # once
    [entry] = entries(runtime, "dsr.erasure_executed")
    assert (entry.actor, entry.subject) == ("system", f"user:{held.user.id}")
    assert entry.details["requested_by"] == f"user:{held.user.id}"


def test_the_mail_says_when_it_was_asked_for_and_when_it_will_happen(
    held: Held, runtime, mailbox, settings
):
    ask_for_erasure(held.browser)
    [pending] = runtime.dsr.queue(status="pending")
    text = mailbox.last(EMAIL)["text"]
    assert "http://testserver/account/data" in text
    assert long_date(pending.requested_at, settings) in text  # in the customer's language
    assert long_date(pending.scheduled_for, settings) in text


def test_the_account_page_says_it_is_pending_and_the_data_page_can_cancel_it(
    held: Held, runtime, clock, settings
):
    ask_for_erasure(held.browser)
    assert 'action="/account/erase/cancel"' in held.browser.get("/account/data").text
    cancelled = submit(held.browser, "/account/erase/cancel", {}, form_page="/account/data")
    assert cancelled.headers["location"] == "/account/data?notice=erasure_cancelled"
    clock.tick(settings.erasure_grace + timedelta(days=1))
    assert runtime.dsr.run_due() == []
    assert account_exists(runtime, held.user.id)
    [request] = runtime.dsr.queue()
    assert (request.status, request.cancelled_by) == ("cancelled", f"user:{held.user.id}")
    assert [e.action for e in entries(runtime, "dsr.erasure_cancelled")] == [
        "dsr.erasure_cancelled"
    ]


def test_asking_twice_is_one_request(held: Held, runtime):
    ask_for_erasure(held.browser)
    ask_for_erasure(held.browser)
    assert len(runtime.dsr.queue(status="pending")) == 1


def test_an_erasure_needs_the_password_and_the_csrf_token(held: Held, runtime):
    wrong = ask_for_erasure(held.browser, "not my password")
    assert wrong.status_code == 401
    assert "Esa contraseña no es correcta" in page_text(wrong.text)  # the customer reads Spanish
    no_token = held.browser.post("/account/erase", data={"password": DEFAULT_PASSWORD})
    assert no_token.status_code == 403
    token = csrf_token(held.browser, "/account/data")
    crossed = held.browser.post(
        "/account/erase",
        data={"csrf_token": token, "password": DEFAULT_PASSWORD},
        headers={"origin": "https://evil.example"},
    )
    assert crossed.status_code == 403
    assert held.browser.post("/account/erase/cancel", data={}).status_code == 403
    assert runtime.dsr.queue() == []


def test_another_customer_cannot_cancel_or_ask_for_someone_elses_erasure(
    held: Held, runtime, app, make_user
):
    from starlette.testclient import TestClient

    ask_for_erasure(held.browser)
    make_user("zoe@example.com", name="Zoe")
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as zoe:
        login(zoe, "zoe@example.com", DEFAULT_PASSWORD)
        submit(
            zoe, "/account/erase/cancel", {"subject": str(held.user.id)}, form_page="/account/data"
        )
    [pending] = runtime.dsr.queue(status="pending")
    assert pending.subject == str(held.user.id)


# -- an officer erases ---------------------------------------------------------------------------


def test_an_officer_erases_at_once_with_a_reason_that_is_audited(held: Held, runtime):
    view = runtime.dsr.erase(EMAIL, actor=OFFICER, reason="Art. 17 letter, ticket DPO-77")
    assert (view.status, view.executed_by, view.reason) == (
        "done",
        "operator:dpo",
        "Art. 17 letter, ticket DPO-77",
    )
    assert not account_exists(runtime, held.user.id)
    [entry] = entries(runtime, "dsr.erasure_executed")
    assert (entry.actor, entry.subject) == ("operator:dpo", f"user:{held.user.id}")
    assert entry.details["reason"] == "Art. 17 letter, ticket DPO-77"
    assert entry.details["summary"]["user_account.deleted"] == 1


def test_an_officers_reason_naming_the_customer_is_refused_and_nothing_is_erased(
    held: Held, runtime
):
    for reason in (f"asked by {NAME}", f"mail from {EMAIL}", " "):
        with pytest.raises(InvalidInput):
            runtime.dsr.erase(held.user.id, actor=OFFICER, reason=reason)
    assert account_exists(runtime, held.user.id)
    assert runtime.dsr.queue() == []


def test_an_officer_erasure_executes_a_pending_request_of_the_customer(held: Held, runtime):
    ask_for_erasure(held.browser)
    runtime.dsr.erase(held.user.id, actor=OFFICER, reason="asked to hurry, ticket DPO-78")
    [request] = runtime.dsr.queue()
    assert (request.status, request.requested_by, request.executed_by) == (
        "done",
        f"user:{held.user.id}",
        "operator:dpo",
    )


def test_the_queue_lists_pending_requests_oldest_deadline_first(
    held: Held, runtime, make_user, clock
):
    runtime.dsr.erase(held.user.id, actor=OFFICER, reason="by post", immediately=False)
    clock.tick(timedelta(days=1))
    later = make_user("zoe@example.com", name="Zoe")
    runtime.dsr.erase(later.id, actor=OFFICER, reason="by phone", immediately=False)
    clock.tick(timedelta(days=40))
    queue = runtime.dsr.queue()
    assert [q.subject for q in queue] == [str(held.user.id), str(later.id)]
    assert all(q.overdue and q.status == "pending" for q in queue)
    runtime.dsr.run_due()
    assert [q.status for q in runtime.dsr.queue()] == ["done", "done"]


# -- what erasure leaves -------------------------------------------------------------------------


def test_erasure_leaves_no_email_name_phone_or_address_anywhere_in_the_database(
    held: Held, runtime, database_url
):
    assert traces_of(dump_database(database_url)) == list(PERSONAL)  # the dump does see them
    runtime.dsr.erase(held.user.id, actor=OFFICER, reason="erasure test")
    deliver(runtime)
    assert traces_of(dump_database(database_url)) == []


def test_consent_records_and_audit_entries_stay_as_pseudonymous_proof(held: Held, runtime):
    with runtime.db.read() as session:
        before = session.scalar(select(func.count()).select_from(ConsentRecord))
    runtime.dsr.erase(held.user.id, actor=OFFICER, reason="erasure test")
    with runtime.db.read() as session:
        records = session.scalars(select(ConsentRecord)).all()
        states = session.scalars(
            select(ConsentState).where(ConsentState.subject == str(held.user.id))
        ).all()
    assert len(records) == before
    assert states == []
    [pos] = [r for r in records if r.purpose == "partner_sharing"]
    assert pos.evidence == {"store": "MAD-3", "note": "[erased]", "email": "[erased]"}
    assert entries(runtime, "consent.recorded")  # still there


def test_every_audit_proof_still_verifies_after_erasure(held: Held, runtime):
    runtime.dsr.erase(held.user.id, actor=OFFICER, reason="erasure test")
    runtime.audit_keys.ensure()
    runtime.sequencer.drain()
    keys = runtime.audit_keys
    with runtime.db.read() as session:
        result = verify_database(session, keys.verifiers(), keys.origin)
    assert result.ok, result.problem
    assert result.entries == runtime.audit_log.status().size


def test_every_token_dies_with_the_account(held: Held, runtime, browser):
    runtime.dsr.erase(held.user.id, actor=OFFICER, reason="erasure test")
    store, marketplace = held.store, held.marketplace
    assert store.refresh(held.store_tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert (
        marketplace.refresh(held.market_tokens["refresh_token"]).json()["error"] == "invalid_grant"
    )
    auth = (store.client_id, store.client_secret)
    for kind in ("access_token", "refresh_token"):
        body = browser.post("/introspect", data={"token": held.store_tokens[kind]}, auth=auth)
        assert body.json() == {"active": False}
    userinfo = browser.get(
        "/userinfo", headers={"authorization": f"Bearer {held.store_tokens['access_token']}"}
    )
    assert userinfo.status_code == 401
    # The browser's session is gone, and so is the account: signing in again fails.
    assert query_of(store.authorize(prompt="none").headers["location"])["error"] == (
        "login_required"
    )
    assert login(browser, EMAIL, DEFAULT_PASSWORD).status_code == 401
    assert [e.details["reason"] for e in entries(runtime, "oidc.grant_revoked")] == [
        "account_erased",
        "account_erased",
    ]


def test_the_channels_get_a_back_channel_logout(held: Held, runtime, receiver):
    runtime.dsr.erase(held.user.id, actor=OFFICER, reason="erasure test")
    deliver(runtime)
    logouts = [
        parse_qs(c.body.decode())["logout_token"][0]
        for c in receiver.delivered
        if c.headers["content-type"] == "application/x-www-form-urlencoded"
    ]
    claims = {}
    for token in logouts:
        decoded = jwt.decode(token, held.store.jwks(), algorithms=["RS256", "ES256"])
        claims[decoded.claims["aud"]] = decoded.claims
    assert set(claims) == {"store", "marketplace"}
    assert claims["store"]["sub"] == str(held.user.id)
    pairwise = held.marketplace.verify_id_token(held.market_tokens["id_token"])["sub"]
    assert claims["marketplace"]["sub"] == pairwise != str(held.user.id)


def verify_standard_webhook(secret: str, headers: dict[str, str], body: bytes) -> bool:
    import base64
    import hashlib
    import hmac

    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(s.split(",", 1)[1], expected)
        for s in headers["webhook-signature"].split()
        if s.startswith("v1,")
    )


def test_subscribed_services_get_subject_erased_and_an_unrelated_pairwise_one_does_not(
    held: Held, runtime, receiver, browser
):
    runtime.dsr.erase(held.user.id, actor=OFFICER, reason="erasure test")
    deliver(runtime)
    hooks = [c for c in receiver.delivered if "webhook-signature" in c.headers]
    [call] = hooks
    assert verify_standard_webhook(held.subscriber["secret"], call.headers, call.body)
    assert not verify_standard_webhook(held.partner["secret"], call.headers, call.body)
    event = json.loads(call.body)
    assert event["type"] == "subject.erased"
    assert event["data"] == {"subject": str(held.user.id), "unlinked_anonymous": []}
    deliveries = browser.get(
        f"/v1/webhooks/{held.partner['id']}/deliveries", headers=held.partner["headers"]
    ).json()
    assert deliveries == []  # the pairwise partner never met the customer: not introduced


def test_anonymous_ids_are_unlinked_for_good(held: Held, runtime, make_user):
    runtime.dsr.erase(held.user.id, actor=OFFICER, reason="erasure test")
    with runtime.db.read() as session:
        row = session.get(AnonymousSubject, held.visitor["subject"])
    assert (row.user_id, row.linked_at) == (None, None)
    assert row.unlinked_at is not None
    make_user("new@example.com", name="New")
    held.store.tokens("new@example.com", DEFAULT_PASSWORD, anon_id=held.visitor["anonymous_id"])
    [refused] = [e for e in entries(runtime, "link.refused")]
    assert refused.details["reason"] == "unlinked"


def test_links_mailed_before_the_erasure_no_longer_work(held: Held, runtime, browser):
    runtime.dsr.erase(held.user.id, actor=OFFICER, reason="erasure test")
    assert browser.get(held.reset_link).status_code == 400


def test_services_no_longer_know_the_subject(held: Held, runtime, browser, reader):
    runtime.dsr.erase(held.user.id, actor=OFFICER, reason="erasure test")
    response = browser.get(f"/v1/consents/{held.user.id}/analytics", headers=reader)
    assert response.status_code == 404


@pytest.fixture
def run(database_url, tmp_path):
    import os
    import subprocess
    import sys

    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        environment = {
            **os.environ,
            **env,
            "IDENTITY_DATABASE_URL": database_url,
            "IDENTITY_SECRET_KEY": "cli-test-secret-key-0123456789-abcdefghij",
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


def test_the_users_delete_command_erases_at_once(run, make_user, runtime):
    user = make_user("carla@example.com", name="Carla Pérez")
    refused = run("users", "delete", "--email", "carla@example.com", "--reason", "Carla Pérez")
    assert refused.returncode != 0
    assert "must not contain" in refused.stderr
    result = run(
        "users", "delete", "--email", "carla@example.com", "--reason", "ticket 9",
        "--operator", "maria",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "done"
    assert not account_exists(runtime, user.id)
    [entry] = entries(runtime, "dsr.erasure_executed")
    assert (entry.actor, entry.details["reason"]) == ("operator:maria", "ticket 9")


def test_the_run_command_executes_due_erasures(run, make_user, runtime):
    user = make_user("carla@example.com", name="Carla Pérez")
    no_grace = {"IDENTITY_ERASURE_GRACE": "0"}  # the process's clock cannot be moved on
    scheduled = run("dsr", "erase", "--subject", str(user.id), "--reason", "by post", **no_grace)
    assert scheduled.returncode == 0, scheduled.stderr
    assert json.loads(scheduled.stdout)["status"] == "pending"
    done = run("dsr", "run")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"erased {user.id} (request {json.loads(scheduled.stdout)['id']})",
        "1 erasures executed",
    ]
    assert not account_exists(runtime, user.id)
    queue = run("dsr", "queue", "--status", "done")
    assert [q["subject"] for q in json.loads(queue.stdout)] == [str(user.id)]
