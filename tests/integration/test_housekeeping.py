"""Housekeeping: rows that can no longer answer anything go; live rows, and whatever replay
detection, consent proof or the audit log needs, stay. Time is frozen and moved by hand."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from starlette.testclient import TestClient

from identity.accounts.models import BrowserSession, LoginThrottle, User
from identity.audit.models import AuditEntryRow
from identity.audit.refs import Actor
from identity.consent.models import ConsentRecord
from identity.db import Leadership, utcnow
from identity.housekeeping.service import LEADER_LOCK, Housekeeping
from identity.links.models import UsedLink
from identity.oidc.models import (
    AuthorizationCode,
    Grant,
    RefreshToken,
    RevokedAccessToken,
    UsedClientAssertion,
)
from identity.outbox.models import OutboxMessage
from tests.support.fixtures import DEFAULT_PASSWORD as PASSWORD
from tests.support.forms import login

EMAIL = "ana@example.com"


def sweep(runtime) -> dict[str, int]:
    return runtime.operations.housekeeping.run_once()


def count(runtime, model, *where) -> int:
    with runtime.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_sessions_past_their_timeouts_go_and_live_ones_stay(
    client, browser, make_user, runtime, settings, clock
):
    make_user(EMAIL)
    make_user("bea@example.com")
    login(client, EMAIL, PASSWORD)
    clock.tick(settings.session_idle_timeout + timedelta(seconds=1))
    login(browser, "bea@example.com", PASSWORD)
    assert sweep(runtime)["browser_sessions"] == 1
    assert count(runtime, BrowserSession) == 1
    assert browser.get("/account").status_code == 200
    clock.tick(settings.session_absolute_timeout)
    assert sweep(runtime)["browser_sessions"] == 1
    assert count(runtime, BrowserSession) == 0


def test_a_code_is_kept_long_enough_that_a_late_replay_still_revokes_its_grant(
    store, shopper, runtime, settings, clock
):
    code = store.code(EMAIL, PASSWORD)
    tokens = store.exchange(code).json()
    clock.tick(settings.code_ttl * 5)
    assert sweep(runtime)["authorization_codes"] == 0
    assert store.exchange(code).json()["error"] == "invalid_grant"  # the replay
    assert store.refresh(tokens["refresh_token"]).json()["error"] == "invalid_grant"  # revoked


def test_codes_go_ten_lifetimes_after_they_expired(store, shopper, runtime, settings, clock):
    store.code(EMAIL, PASSWORD)  # never redeemed
    clock.tick(settings.code_ttl * 6)
    store.code(EMAIL, PASSWORD)
    clock.tick(settings.code_ttl * 5 + timedelta(seconds=1))
    assert sweep(runtime)["authorization_codes"] == 1
    assert count(runtime, AuthorizationCode) == 1  # expired only four lifetimes ago


def test_refresh_tokens_go_once_idle_expired_rotated_or_not(
    store, shopper, runtime, settings, clock
):
    first = store.tokens(EMAIL, PASSWORD)
    store.refresh(first["refresh_token"])  # the first is rotated, its successor is current
    clock.tick(settings.refresh_idle_ttl + timedelta(seconds=1))
    live = store.tokens(EMAIL, PASSWORD, prompt="login")
    counts = sweep(runtime)
    assert counts["refresh_tokens"] == 2
    assert count(runtime, RefreshToken) == 1
    assert store.refresh(live["refresh_token"]).status_code == 200
    # The expired one is now an unknown token: refused all the same.
    assert store.refresh(first["refresh_token"]).json()["error"] == "invalid_grant"


def test_ended_grants_go_once_no_token_issued_under_them_can_still_be_live(
    store, shopper, runtime, settings, clock
):
    auth = (store.client_id, store.client_secret)
    ended = store.tokens(EMAIL, PASSWORD)
    store.browser.post("/revoke", data={"token": ended["refresh_token"]}, auth=auth)
    clock.tick(max(settings.access_token_ttl, settings.id_token_ttl) + timedelta(seconds=1))
    just_ended = store.tokens(EMAIL, PASSWORD, prompt="login")
    store.browser.post("/revoke", data={"token": just_ended["refresh_token"]}, auth=auth)
    live = store.tokens(EMAIL, PASSWORD, prompt="login")
    counts = sweep(runtime)
    assert (counts["grants"], counts["refresh_tokens"]) == (1, 1)
    assert count(runtime, Grant) == 2  # the one revoked just now, and the live one
    assert store.refresh(live["refresh_token"]).status_code == 200


def test_revoked_access_tokens_are_remembered_until_they_expire(
    store, shopper, runtime, settings, clock
):
    auth = (store.client_id, store.client_secret)
    first = store.tokens(EMAIL, PASSWORD)["access_token"]
    store.browser.post("/revoke", data={"token": first}, auth=auth)
    clock.tick(settings.access_token_ttl / 2)
    second = store.tokens(EMAIL, PASSWORD, prompt="login")["access_token"]
    store.browser.post("/revoke", data={"token": second}, auth=auth)
    clock.tick(settings.access_token_ttl / 2 + timedelta(seconds=1))
    assert sweep(runtime)["revoked_access_tokens"] == 1
    assert count(runtime, RevokedAccessToken) == 1
    body = store.browser.post("/introspect", data={"token": second}, auth=auth).json()
    assert body == {"active": False}  # still revoked while it lives


def test_replay_memories_go_once_what_they_remember_has_expired(runtime, clock):
    """Used single-use links and private_key_jwt ``jti``s carry their own expiry."""
    now = utcnow()
    with runtime.db.transaction() as session:
        for n, expires in enumerate((now + timedelta(hours=1), now + timedelta(days=3))):
            session.add(
                UsedLink(
                    link_id_hash=f"link{n}", purpose="verify_email", used_at=now, expires_at=expires
                )
            )
            session.add(UsedClientAssertion(digest=f"jti{n}", expires_at=expires))
    clock.tick(timedelta(hours=2))
    counts = sweep(runtime)
    assert (counts["used_links"], counts["client_assertions"]) == (1, 1)
    assert count(runtime, UsedLink) == count(runtime, UsedClientAssertion) == 1


def test_a_throttle_goes_once_its_window_passed_and_no_lock_runs(
    client, make_user, runtime, settings, clock
):
    make_user(EMAIL)
    login(client, EMAIL, "wrong password, once")
    assert count(runtime, LoginThrottle) == 2  # the account's and the IP's
    clock.tick(settings.login_failure_window + timedelta(seconds=1))
    assert sweep(runtime)["throttles"] == 0  # a mail throttle's hour is the longest window
    clock.tick(settings.mail_limit_window)
    login(client, "bea@example.com", "another guess")  # a fresh window for the IP
    counts = sweep(runtime)
    assert counts["throttles"] == 1  # Ana's; the IP's row started again
    assert count(runtime, LoginThrottle) == 2


def webhook_delivery(browser, make_client, customer, receiver, runtime, decision):
    service = make_client(
        name=f"CRM {decision}",
        grant_types=["client_credentials"],
        redirect_uris=[],
        scope="consent:read consent:write",
    )
    auth = (service.client.client_id, service.client_secret)
    token = browser.post("/token", data={"grant_type": "client_credentials"}, auth=auth)
    headers = {"authorization": f"Bearer {token.json()['access_token']}"}
    browser.post("/v1/webhooks", json={"url": receiver.url}, headers=headers)
    browser.put(
        f"/v1/consents/{customer.id}/personalization", json={"decision": decision}, headers=headers
    )
    runtime.sequencer.drain()
    return runtime.outbox.deliver_due()


def test_outbox_messages_go_a_retention_after_delivery_and_pending_ones_stay(
    browser, make_client, customer, receiver, runtime, settings, clock
):
    [delivered] = webhook_delivery(browser, make_client, customer, receiver, runtime, "granted")
    assert delivered.ok
    receiver.failures = len(receiver.calls) + 10  # the next deliveries fail
    attempts = webhook_delivery(browser, make_client, customer, receiver, runtime, "withdrawn")
    assert not any(a.ok for a in attempts)
    clock.tick(settings.outbox_retention + timedelta(seconds=1))
    assert sweep(runtime)["outbox_messages"] == 1
    with runtime.db.read() as session:
        kept = session.scalars(select(OutboxMessage)).all()
    assert len(kept) == 2  # the withdrawal, to both subscriptions: still being retried
    assert all(m.delivered_at is None and m.failed_at is None for m in kept)


def test_anonymous_ids_past_their_lifetime_expire_and_their_records_stay(
    make_rp, runtime, settings, clock
):
    channel = make_rp(
        name="Web store",
        client_id="store",
        first_party=True,
        grant_types=["authorization_code", "refresh_token", "client_credentials"],
        scope="openid consent:read consent:write anonymous:issue",
    )
    token = channel.token_request(
        {"grant_type": "client_credentials", "scope": "consent:write anonymous:issue"}
    ).json()["access_token"]
    headers = {"authorization": f"Bearer {token}"}
    visitor = channel.browser.post("/v1/anonymous", json={}, headers=headers).json()
    recorded = channel.browser.put(
        f"/v1/consents/{visitor['anonymous_id']}/personalization",
        json={"decision": "granted"},
        headers=headers,
    )
    assert recorded.status_code == 200, recorded.text
    runtime.sequencer.drain()
    clock.tick(settings.anonymous_id_lifetime + timedelta(days=1))
    assert sweep(runtime)["anonymous_ids"] == 1
    assert sweep(runtime)["anonymous_ids"] == 0
    assert count(runtime, ConsentRecord, ConsentRecord.subject == visitor["subject"]) == 1


def test_consent_records_and_the_audit_log_are_never_touched(client, customer, runtime, clock):
    login(client, customer.email, PASSWORD)
    runtime.consent.set_choices(str(customer.id), {"personalization": True}, origin=_origin())
    runtime.sequencer.drain()
    records, entries = count(runtime, ConsentRecord), count(runtime, AuditEntryRow)
    clock.tick(timedelta(days=3650))
    counts = sweep(runtime)
    assert counts["browser_sessions"] == 1
    assert count(runtime, ConsentRecord) == records
    assert count(runtime, AuditEntryRow) == entries + 1  # the pass itself
    assert count(runtime, User) == 1


def _origin() -> Any:
    from identity.context import Origin

    return Origin(ip="192.0.2.1")


def test_a_pass_goes_in_batches_until_nothing_is_left(make_user, runtime, settings, clock):
    user = make_user(EMAIL)
    with runtime.db.transaction() as session:
        row = session.get(User, user.id)
        for _ in range(5):
            runtime.accounts.sessions.start(
                session, row, now=utcnow(), amr="pwd", user_agent="t", ip_hash="h"
            )
    clock.tick(settings.session_idle_timeout)
    small = Housekeeping(runtime.db, settings, runtime.accounts.sessions, batch_size=2)
    assert small.run_once()["browser_sessions"] == 5
    assert count(runtime, BrowserSession) == 0


def test_the_command_prints_its_counts_and_is_audited_with_the_operator(
    identity, runtime, make_user, client, settings, clock
):
    make_user(EMAIL)
    login(client, EMAIL, PASSWORD)
    clock.tick(settings.session_idle_timeout)
    ran = identity("housekeeping", "run", "--operator", "night-shift")
    assert ran.code == 0, ran.err
    assert ran.json()["browser_sessions"] == 1
    assert set(ran.json()) >= {"grants", "refresh_tokens", "throttles", "outbox_messages"}
    with runtime.db.read() as session:
        [entry] = session.scalars(
            select(AuditEntryRow).where(AuditEntryRow.action == "housekeeping.ran")
        ).all()
    assert entry.actor == "operator:night-shift"
    assert entry.details["browser_sessions"] == 1


def test_a_background_pass_with_nothing_to_delete_writes_no_audit_entry(runtime):
    assert not any(sweep(runtime).values())
    assert runtime.operations.housekeeping.run_once(actor=Actor.operator("x"))  # audited
    with runtime.db.read() as session:
        actors = session.scalars(
            select(AuditEntryRow.actor).where(AuditEntryRow.action == "housekeeping.ran")
        ).all()
    assert actors == ["operator:x"]


def test_the_server_runs_housekeeping_in_the_background(make_settings, make_user, runtime):
    from identity.app import create_app
    from identity.runtime import Runtime

    user = make_user(EMAIL)
    with runtime.db.transaction() as session:
        runtime.accounts.sessions.start(
            session,
            session.get(User, user.id),
            now=utcnow() - timedelta(days=400),
            amr="pwd",
            user_agent="t",
            ip_hash="h",
        )
    settings = make_settings(housekeeping=True, housekeeping_interval=timedelta(hours=1))
    served = Runtime.build(settings)
    with TestClient(create_app(settings, runtime=served)):
        assert served.operations.housekeeping.wait_for_pass(timeout=30)
    assert count(runtime, BrowserSession) == 0


def test_one_housekeeper_is_active_per_database_apart_from_the_sequencer(runtime, backend):
    from identity.audit.sequencer import LEADER_LOCK as SEQUENCER

    first, second = Leadership(runtime.db, LEADER_LOCK), Leadership(runtime.db, LEADER_LOCK)
    sequencer = Leadership(runtime.db, SEQUENCER)
    try:
        assert first.held()
        # PostgreSQL: an advisory lock, one holder; SQLite: turns under the write lock.
        assert second.held() is (backend == "sqlite")
        assert sequencer.held()  # another lock: the sequencer's leader need not be this one
        first.release()
        assert second.held()
    finally:
        for leadership in (first, second, sequencer):
            leadership.release()
