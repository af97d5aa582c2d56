"""Operators' lifecycle of clients: ``identity clients list|disable|enable|delete|reset-secret|
revoke-secret``. Each command runs as the operator would run it; the test's own runtime then
forgets its two-second client cache, as every server process does within those seconds."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from identity.audit.models import AuditEntryRow
from identity.crypto import token_digest
from identity.db import utcnow
from identity.oidc.models import Grant, OAuthClient, RememberedConsent
from identity.outbox.models import OutboxMessage
from tests.support.fixtures import DEFAULT_PASSWORD as PASSWORD
from tests.support.forms import page_text

EMAIL = "ana@example.com"
API = "https://api.shop.example"


@pytest.fixture
def run(identity, runtime):
    """An operator command, then this process's client cache forgotten."""

    def run(*args: str):
        result = identity(*args)
        runtime.clients.invalidate()
        return result

    return run


@pytest.fixture
def service(make_client):
    return make_client(
        name="Recommender",
        client_id="recommender",
        grant_types=["client_credentials"],
        redirect_uris=[],
        scope="consent:read consent:write",
        resource_server_for=[API],
    )


def cc_token(browser, created, secret=None):
    secret = secret or created.client_secret
    auth = (created.client.client_id, secret)
    return browser.post("/token", data={"grant_type": "client_credentials"}, auth=auth)


def introspect(browser, created, token):
    auth = (created.client.client_id, created.client_secret)
    return browser.post("/introspect", data={"token": token}, auth=auth).json()


def audit_of(runtime, prefix):
    with runtime.db.read() as session:
        rows = session.scalars(
            select(AuditEntryRow)
            .where(AuditEntryRow.action.startswith(prefix))
            .order_by(AuditEntryRow.id)
        )
        return [(r.action, r.actor, r.subject) for r in rows]


def test_a_disabled_client_can_neither_authorize_nor_get_tokens(store, shopper, run):
    tokens = store.tokens(EMAIL, PASSWORD)
    assert run("clients", "disable", "--client-id", "store").json() == {
        "client_id": "store",
        "status": "disabled",
    }
    page = store.authorize()
    assert (page.status_code, "location" in page.headers) == (400, False)
    assert "invalid_client" in page.text
    refreshed = store.refresh(tokens["refresh_token"])
    assert (refreshed.status_code, refreshed.json()["error"]) == (401, "invalid_client")


def test_a_disabled_clients_tokens_are_inactive_for_its_resource_servers_and_the_api(
    make_rp, shopper, service, run, browser, customer
):
    store = make_rp(name="Store", client_id="store", first_party=True, resources=[API])
    tokens = store.tokens(EMAIL, PASSWORD, resource=API)
    service_token = cc_token(browser, service).json()["access_token"]
    assert introspect(browser, service, tokens["access_token"])["active"] is True
    run("clients", "disable", "--client-id", "store")
    assert introspect(browser, service, tokens["access_token"]) == {"active": False}
    run("clients", "disable", "--client-id", "recommender")
    api = browser.get(
        f"/v1/consents/{customer.id}/personalization",
        headers={"authorization": f"Bearer {service_token}"},
    )
    assert api.status_code == 401
    assert cc_token(browser, service).json()["error"] == "invalid_client"


def test_enabling_a_client_resumes_its_users_refresh_tokens(store, shopper, run):
    """Disabling is a pause: the grants are kept."""
    tokens = store.tokens(EMAIL, PASSWORD)
    run("clients", "disable", "--client-id", "store")
    assert store.refresh(tokens["refresh_token"]).status_code == 401
    assert run("clients", "enable", "--client-id", "store").json()["status"] == "active"
    assert store.refresh(tokens["refresh_token"]).status_code == 200


def test_deleting_a_client_revokes_everything_it_holds_and_keeps_its_id(
    marketplace, shopper, run, runtime, make_client
):
    tokens = marketplace.tokens(EMAIL, PASSWORD, scope="openid offline_access")
    deleted = run("clients", "delete", "--client-id", "marketplace", "--yes")
    assert deleted.code == 0, deleted.err
    assert deleted.json() == {
        "client_id": "marketplace",
        "status": "deleted",
        "grants_revoked": 1,
        "consents_forgotten": 1,
        "messages_dropped": 0,
        "subscriptions_ended": 0,
    }
    with runtime.db.read() as session:
        assert session.scalars(select(Grant.revoked_reason)).all() == ["client_deleted"]
        assert session.scalars(select(RememberedConsent)).all() == []
        row = session.get(OAuthClient, "marketplace")
    assert (row.secret_digest, row.deleted_at is not None) == (None, True)
    assert marketplace.refresh(tokens["refresh_token"]).json()["error"] == "invalid_client"
    # Gone for good: not enabled again, and its id is never given to another client.
    assert run("clients", "enable", "--client-id", "marketplace").code == 1
    with pytest.raises(Exception, match="already exists"):
        make_client(name="Impostor", client_id="marketplace")
    [listed] = [
        c for c in run("clients", "list", "--json").lines() if c["client_id"] == "marketplace"
    ]
    assert listed["status"] == "deleted"


def test_deleting_a_service_ends_its_webhooks_and_drops_its_undelivered_messages(
    browser, service, customer, receiver, run, runtime
):
    headers = {"authorization": f"Bearer {cc_token(browser, service).json()['access_token']}"}
    response = browser.post("/v1/webhooks", json={"url": receiver.url}, headers=headers)
    assert response.status_code == 201, response.text
    browser.put(
        f"/v1/consents/{customer.id}/personalization", json={"decision": "granted"}, headers=headers
    )
    runtime.sequencer.drain()  # queues the webhook
    deleted = run("clients", "delete", "--client-id", "recommender", "--yes").json()
    assert (deleted["subscriptions_ended"], deleted["messages_dropped"]) == (1, 1)
    assert runtime.outbox.deliver_due() == []
    assert receiver.calls == []
    with runtime.db.read() as session:
        message = session.scalars(select(OutboxMessage)).one()
    assert message.last_error == "undeliverable: the client was deleted"


def test_a_client_with_many_grants_is_deleted_in_batches_and_a_rerun_finishes(
    store, shopper, runtime, run, monkeypatch
):
    from identity.oidc import client_admin

    monkeypatch.setattr(client_admin, "REVOKE_BATCH", 2)
    client = runtime.clients.get("store")
    with runtime.db.transaction() as session:
        for _ in range(5):
            runtime.oidc.provider.store.create_grant(
                session,
                client=client,
                user_id=shopper.id,
                sid=None,
                scope="openid",
                resource=None,
                auth_time=utcnow(),
                amr="pwd",
                acr_values=None,
            )
    assert runtime.operations.clients.delete("store", actor=_operator()).grants_revoked == 5
    again = runtime.operations.clients.delete("store", actor=_operator())
    assert again.grants_revoked == 0
    actions = [a for a, _, _ in audit_of(runtime, "client.")]
    assert actions[-2:] == ["client.deleted", "client.deletion_resumed"]
    assert [a for a, _, _ in audit_of(runtime, "oidc.grants_revoked")] == [
        "oidc.grants_revoked"
    ] * 3


def _operator():
    from identity.audit.refs import Actor

    return Actor.operator("test")


def test_a_reset_secret_is_printed_once_stored_as_a_digest_and_the_old_one_stops(
    browser, service, run, runtime
):
    reset = run("clients", "reset-secret", "--client-id", "recommender")
    new = reset.json()["client_secret"]
    assert cc_token(browser, service).json()["error"] == "invalid_client"
    assert cc_token(browser, service, secret=new).status_code == 200
    with runtime.db.read() as session:
        row = session.get(OAuthClient, "recommender")
    assert row.secret_digest == token_digest(new)
    assert new not in run("clients", "list", "--json").out


def test_a_revoked_secret_no_longer_authenticates_until_a_new_one_is_issued(browser, service, run):
    assert run("clients", "revoke-secret", "--client-id", "recommender").json() == {
        "client_id": "recommender",
        "has_secret": False,
    }
    assert cc_token(browser, service).json()["error"] == "invalid_client"
    again = run("clients", "revoke-secret", "--client-id", "recommender")
    assert (again.code, "no secret" in again.err) == (1, True)
    new = run("clients", "reset-secret", "--client-id", "recommender").json()["client_secret"]
    assert cc_token(browser, service, secret=new).status_code == 200


def test_clients_without_a_secret_have_none_to_reset_or_revoke(mobile_app, run):
    for command in ("reset-secret", "revoke-secret"):
        result = run("clients", command, "--client-id", "app")
        assert result.code == 1
        assert "secret" in result.err


def test_unknown_clients_are_named_in_the_refusal(run):
    for command in ("disable", "enable", "reset-secret", "revoke-secret"):
        result = run("clients", command, "--client-id", "nobody")
        assert (result.code, "no client nobody" in result.err) == (1, True)
    assert run("clients", "delete", "--client-id", "nobody", "--yes").code == 1


def test_the_list_shows_every_client_and_its_status_never_a_secret(
    store, mobile_app, service, run, runtime
):
    run("clients", "disable", "--client-id", "app")
    listed = {c["client_id"]: c for c in run("clients", "list", "--json").lines()}
    assert {k: v["status"] for k, v in listed.items()} == {
        "app": "disabled",
        "recommender": "active",
        "store": "active",
    }
    assert (listed["store"]["has_secret"], listed["app"]["has_secret"]) == (True, False)
    with runtime.db.read() as session:
        digests = session.scalars(select(OAuthClient.secret_digest)).all()
    out = run("clients", "list").out
    assert not any(d and d in out for d in digests)
    assert store.client_secret not in out
    assert "app  disabled  none  Shop app" in out.splitlines()


def test_every_client_command_is_audited_with_its_operator(service, run, runtime):
    for command in ("disable", "enable", "reset-secret", "revoke-secret"):
        assert run("clients", command, "--client-id", "recommender", "--operator", "ops1").code == 0
    run("clients", "list", "--operator", "ops1")
    run("clients", "delete", "--client-id", "recommender", "--yes", "--operator", "ops1")
    mine = [(a, s) for a, actor, s in audit_of(runtime, "client.") if actor == "operator:ops1"]
    assert mine == [
        ("client.disabled", "client:recommender"),
        ("client.enabled", "client:recommender"),
        ("client.secret_reset", "client:recommender"),
        ("client.secret_revoked", "client:recommender"),
        ("client.listed", None),
        ("client.deleted", "client:recommender"),
    ]


def test_the_apps_page_no_longer_lists_a_deleted_client(marketplace, shopper, run):
    marketplace.tokens(EMAIL, PASSWORD)
    run("clients", "delete", "--client-id", "marketplace", "--yes")
    page = marketplace.browser.get("/account/apps")
    assert "Marketplace" not in page_text(page.text)


def test_deletion_asks_for_confirmation(service, identity):
    refused = identity("clients", "delete", "--client-id", "recommender")
    assert refused.code == 1
    assert "Aborted" in refused.err
