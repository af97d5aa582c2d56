"""Anonymous to known: a visitor's choices at the store follow them into their account when
they sign in, by the rules, never joining two people, and undoably."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from identity.accounts.models import User
from identity.audit.models import AuditEntryRow
from identity.audit.refs import Actor
from identity.consent.models import ConsentRecord, ConsentState
from identity.db import utcnow
from identity.subjects.models import AnonymousSubject
from tests.integration.consent.test_webhooks_and_feed import verify_standard_webhook
from tests.support.consent_fixtures import answer_of
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import csrf_token, login, page_text
from tests.support.linking_fixtures import (
    ANA,
    CHANNEL_SCOPE,
    actions,
    backend,
    banner,
    new_visitor,
    sign_in,
)
from tests.support.oidc_fixtures import MARKET_REDIRECT
from tests.support.rp import RelyingParty


def test_a_visitors_banner_choice_follows_them_into_their_account_with_its_origin(
    channel, shopper, runtime, client
):
    visitor = new_visitor(channel)
    assert visitor["anonymous_id"].startswith("a_")
    assert len(visitor["anonymous_id"]) <= 64
    banner(channel, visitor, personalization="granted", analytics="denied")
    assert answer_of(runtime, visitor["subject"], "personalization").allowed  # before sign-in
    sign_in(channel, visitor)
    assert answer_of(runtime, str(shopper.id), "personalization").allowed
    assert answer_of(runtime, str(shopper.id), "analytics").reason == "objected"
    with runtime.db.read() as session:
        merged = session.scalars(select(ConsentRecord).where(ConsentRecord.source == "link_merge"))
        evidence = [r.evidence for r in merged]
    assert all(e["anonymous"] == visitor["subject"] and e["from_records"] for e in evidence)
    login(client, ANA, DEFAULT_PASSWORD)
    page = page_text(client.get("/account/privacy").text)
    assert "Elecciones de antes de iniciar sesión" in page
    assert "Elegido antes de iniciar sesión (Web store, " in page
    assert [a for a, _ in actions(runtime)] == ["link.created"]


def test_the_link_commits_in_the_code_redemptions_transaction(channel, shopper, runtime):
    visitor = new_visitor(channel)
    banner(channel, visitor, personalization="granted")
    seen: list[list[str]] = []

    def inside(session, redeemed):  # a later listener sees the link, not yet committed
        rows = session.scalars(
            select(AuditEntryRow.action).where(AuditEntryRow.action == "link.created")
        )
        seen.append(list(rows))
        with runtime.db.read() as other:
            seen.append(
                list(
                    other.scalars(
                        select(AuditEntryRow.action).where(AuditEntryRow.action == "link.created")
                    )
                )
            )

    runtime.oidc.provider.on_code_redeemed(inside)
    sign_in(channel, visitor)
    assert seen == [["link.created"], []]  # in the redemption's transaction, before its commit
    assert [a for a, _ in actions(runtime)] == ["link.created"]


def test_a_failing_step_at_redemption_undoes_only_its_own_writes_and_the_sign_in_goes_on(
    channel, shopper, runtime
):
    def broken(session, redeemed):
        session.execute(
            AuditEntryRow.__table__.insert().values(
                at=utcnow(), action="test.half_written", actor="system", subject=None, details={}
            )
        )
        raise RuntimeError("a bug in a listener")

    runtime.oidc.provider.on_code_redeemed(broken)
    visitor = new_visitor(channel)
    banner(channel, visitor, personalization="granted")
    tokens = sign_in(channel, visitor)
    assert tokens["access_token"]
    assert tokens["id_token"]
    assert [a for a, _ in actions(runtime)] == ["link.created"]  # the link, before the bug
    assert actions(runtime, "test.") == []
    assert answer_of(runtime, str(shopper.id), "personalization").allowed


@pytest.mark.parametrize(
    "token",
    ["a_" + "A" * 48, "a_notbase64!!", "a_" + "A" * 10, "not-an-anonymous-id", "a_\x00" * 90],
    ids=["forged", "garbage", "short", "other", "nul_and_too_long"],
)
def test_a_forged_id_is_refused_and_audited_and_the_sign_in_goes_on(
    channel, shopper, runtime, token
):
    tokens = channel.tokens(ANA, DEFAULT_PASSWORD, anon_id=token)
    assert tokens["access_token"]
    [(action, details)] = actions(runtime)
    assert action == "link.refused"
    assert details["reason"] in ("forged", "malformed")


def test_an_expired_id_is_refused_and_fills_nothing(channel, shopper, runtime, clock):
    visitor = new_visitor(channel)
    banner(channel, visitor, personalization="granted")
    clock.tick(timedelta(days=400))  # past thirteen months
    sign_in(channel, visitor)
    assert answer_of(runtime, str(shopper.id), "personalization").reason == "not_asked"
    assert actions(runtime)[-1][1]["reason"] == "expired"


def test_another_clients_id_is_refused(channel, make_rp, shopper, runtime):
    app_channel = make_rp(
        name="Shop app",
        client_id="app",
        redirect_uris=["http://127.0.0.1/callback"],
        first_party=True,
        grant_types=["authorization_code", "refresh_token", "client_credentials"],
        scope=CHANNEL_SCOPE,
    )
    visitor = new_visitor(app_channel)
    banner(app_channel, visitor, personalization="granted")
    sign_in(channel, visitor)  # the store presents the app's id
    assert answer_of(runtime, str(shopper.id), "personalization").reason == "not_asked"
    assert actions(runtime)[-1][1]["reason"] == "forged"


def test_an_id_is_never_used_by_another_client_for_decisions(channel, make_rp, service_headers):
    visitor = new_visitor(channel)
    banner(channel, visitor, personalization="granted")
    other = service_headers("consent:read")
    answer = channel.browser.get(
        f"/v1/consents/{visitor['anonymous_id']}/personalization", headers=other
    )
    assert answer.status_code == 404


def test_a_visitors_choice_is_in_its_channels_change_feed_and_in_no_other_clients(
    channel, runtime, service_headers
):
    visitor = new_visitor(channel)
    banner(channel, visitor, personalization="granted")
    runtime.sequencer.drain()
    own = channel.browser.get("/v1/consents/changes", headers=backend(channel)).json()
    assert [(i["subject"], i["purpose"], i["decision"]) for i in own["items"]] == [
        (visitor["subject"], "personalization", "granted")
    ]
    other = service_headers("consent:read")
    assert channel.browser.get("/v1/consents/changes", headers=other).json()["items"] == []


def test_a_visitors_choice_reaches_its_channels_webhook_signed_and_no_other_clients(
    channel, runtime, service_headers, receiver
):
    own = channel.browser.post(
        "/v1/webhooks", json={"url": receiver.url, "purposes": []}, headers=backend(channel)
    ).json()
    another = channel.browser.post(
        "/v1/webhooks", json={"url": receiver.url, "purposes": []}, headers=service_headers()
    )
    assert another.status_code == 201, another.text
    visitor = new_visitor(channel)
    banner(channel, visitor, personalization="granted")
    runtime.sequencer.drain()
    runtime.outbox.deliver_due()
    [call] = receiver.calls
    assert verify_standard_webhook(own["secret"], call.headers, call.body)
    data = json.loads(call.body)["data"]
    assert (data["subject"], data["purpose"], data["decision"]) == (
        visitor["subject"],
        "personalization",
        "granted",
    )


def test_a_third_party_cannot_link_its_ids_to_a_customers_account(make_rp, shopper, runtime):
    market = make_rp(
        name="Marketplace",
        client_id="marketplace",
        redirect_uris=[MARKET_REDIRECT],
        subject_type="pairwise",
        grant_types=["authorization_code", "refresh_token", "client_credentials"],
        scope="openid profile email consent:read consent:write anonymous:issue",
    )
    visitor = new_visitor(market)
    banner(market, visitor, partner_sharing="granted")
    market.tokens(ANA, DEFAULT_PASSWORD, anon_id=visitor["anonymous_id"])
    assert answer_of(runtime, str(shopper.id), "partner_sharing").reason == "not_asked"
    assert actions(runtime)[-1][1]["reason"] == "third_party"


def test_a_crafted_sign_in_link_carrying_someone_elses_id_merges_nothing(channel, shopper, runtime):
    """The attacker's own visitor id, granted, in a store sign-in link the victim follows: the
    code reaches the store, which never started that flow and cannot redeem it (PKCE)."""
    attacker = new_visitor(channel)
    banner(channel, attacker, personalization="granted")
    channel.code(ANA, DEFAULT_PASSWORD, anon_id=attacker["anonymous_id"])
    assert answer_of(runtime, str(shopper.id), "personalization").reason == "not_asked"
    assert actions(runtime) == []


def test_a_second_account_with_a_linked_id_gets_no_merge(channel, shopper, make_user, runtime):
    other = make_user("ben@example.com")
    visitor = new_visitor(channel)
    banner(channel, visitor, personalization="granted")
    sign_in(channel, visitor)
    channel.browser.cookies.clear()
    sign_in(channel, visitor, email="ben@example.com")
    assert answer_of(runtime, str(other.id), "personalization").reason == "not_asked"
    assert actions(runtime)[-1] == (
        "link.refused",
        {"anonymous": visitor["subject"], "client_id": "store", "reason": "linked_elsewhere"},
    )


def test_a_shared_device_stops_merging_once_too_many_accounts_present_it(
    channel, shopper, make_user, runtime
):
    visitor = new_visitor(channel)
    banner(channel, visitor, personalization="granted")
    for n in range(3):  # the limit is two accounts per id
        make_user(f"kiosk{n}@example.com")
        channel.browser.cookies.clear()
        sign_in(channel, visitor, email=f"kiosk{n}@example.com")
    assert [a for a, _ in actions(runtime)] == [
        "link.created",
        "link.refused",
        "link.shared",
        "link.refused",
    ]


def test_an_id_first_used_at_sign_in_links_and_still_counts_toward_the_shared_limit(
    channel, shopper, make_user, runtime
):
    """No banner choice: the sign-in is the id's first use (nothing to merge), and the
    accounts that present it afterwards are counted from it."""
    visitor = new_visitor(channel)
    sign_in(channel, visitor)
    for n in range(2):
        make_user(f"kiosk{n}@example.com")
        channel.browser.cookies.clear()
        sign_in(channel, visitor, email=f"kiosk{n}@example.com")
    assert actions(runtime) == [
        ("link.created", {"anonymous": visitor["subject"], "client_id": "store", "merged": []}),
        (
            "link.refused",
            {"anonymous": visitor["subject"], "client_id": "store", "reason": "linked_elsewhere"},
        ),
        ("link.shared", {"accounts": 3}),
        (
            "link.refused",
            {"anonymous": visitor["subject"], "client_id": "store", "reason": "shared"},
        ),
    ]
    with runtime.db.read() as session:
        row = session.get(AnonymousSubject, visitor["subject"])
        assert row is not None
        assert (row.shared, row.user_id) == (True, shopper.id)


def test_signing_in_again_with_the_id_merges_what_the_visitor_chose_since(
    channel, shopper, runtime
):
    visitor = new_visitor(channel)
    banner(channel, visitor, personalization="granted")
    sign_in(channel, visitor)
    banner(channel, visitor, analytics="granted")  # still browsing under the id, signed out
    channel.browser.cookies.clear()
    sign_in(channel, visitor)
    assert answer_of(runtime, str(shopper.id), "analytics").allowed
    merged = [(a, d["merged"]) for a, d in actions(runtime)]
    assert merged == [("link.created", ["personalization"]), ("link.merged_again", ["analytics"])]


def test_two_accounts_are_never_joined_through_anonymous_ids(channel, shopper, make_user, runtime):
    """No transitive merge: ids link to one account each, never onwards to another."""
    ben = make_user("ben@example.com")
    first, second = new_visitor(channel), new_visitor(channel)
    banner(channel, first, personalization="granted")
    banner(channel, second, partner_sharing="granted")
    sign_in(channel, first)  # Ana: first
    channel.browser.cookies.clear()
    sign_in(channel, second, email="ben@example.com")  # Ben: second
    channel.browser.cookies.clear()
    sign_in(channel, first, email="ben@example.com")  # Ben presents Ana's id: refused
    channel.browser.cookies.clear()
    sign_in(channel, second)  # Ana presents Ben's id: refused
    assert answer_of(runtime, str(ben.id), "personalization").reason == "not_asked"
    assert answer_of(runtime, str(shopper.id), "partner_sharing").reason == "not_asked"


def _state(runtime: Any, subject: str, purpose: str) -> tuple[Any, ...] | None:
    with runtime.db.read() as session:
        row = session.get(ConsentState, (subject, purpose))
        if row is None:
            return None
        return (row.status, row.purpose_version, row.decided_at, row.expires_at, row.record_id)


def test_undo_restores_the_previous_state_exactly_and_the_ledger_shows_both_ways(
    channel, shopper, runtime, client, writer
):
    account = str(shopper.id)
    channel.browser.put(
        f"/v1/consents/{account}/partner_sharing", json={"decision": "granted"}, headers=writer
    )
    before = {p: _state(runtime, account, p) for p in ("partner_sharing", "personalization")}
    visitor = new_visitor(channel)
    banner(channel, visitor, partner_sharing="denied", personalization="granted")
    sign_in(channel, visitor)
    assert answer_of(runtime, account, "partner_sharing").reason == "withdrawn"
    assert answer_of(runtime, account, "personalization").allowed
    login(client, ANA, DEFAULT_PASSWORD)
    token = csrf_token(client, "/account/privacy")
    undone = client.post(
        "/account/privacy/links/undo", data={"csrf_token": token, "key": visitor["subject"]}
    )
    assert undone.headers["location"] == "/account/privacy?notice=undone"
    after = {p: _state(runtime, account, p) for p in before}
    assert after == before  # the granted sharing is back, personalization never asked
    with runtime.db.read() as session:
        sources = session.scalars(
            select(ConsentRecord.source).where(ConsentRecord.subject == account)
        ).all()
    assert sorted(sources).count("link_merge") == 2
    assert sorted(sources).count("link_undo") == 2
    assert "link.undone" in [a for a, _ in actions(runtime)]
    # The id links to nobody again: signing in with it once more merges nothing.
    sign_in(channel, visitor)
    assert answer_of(runtime, account, "personalization").reason == "not_asked"


def test_an_undo_keeps_what_the_customer_decided_since(channel, shopper, runtime, writer):
    account = str(shopper.id)
    visitor = new_visitor(channel)
    banner(channel, visitor, personalization="granted", analytics="denied")
    sign_in(channel, visitor)
    channel.browser.put(
        f"/v1/consents/{account}/personalization", json={"decision": "withdrawn"}, headers=writer
    )
    reverted = runtime.linking.undo(
        visitor["subject"], user_id=shopper.id, actor=Actor.user(shopper.id)
    )
    assert reverted == ["analytics"]
    assert answer_of(runtime, account, "personalization").reason == "withdrawn"
    assert answer_of(runtime, account, "analytics").reason == "legitimate_interest"


@pytest.fixture
def recommender(make_client: Any, browser: Any) -> dict[str, str]:
    created = make_client(
        name="Recommender",
        client_id="recommender",
        grant_types=["client_credentials"],
        redirect_uris=[],
        scope="identity:resolve",
        resolve_purpose="personalization",
    )
    token = browser.post(
        "/token",
        data={"grant_type": "client_credentials"},
        auth=(created.client.client_id, created.client_secret),
    )
    return {"authorization": f"Bearer {token.json()['access_token']}"}


def test_resolution_names_the_account_only_when_its_consent_allows(
    channel, shopper, runtime, recommender, writer
):
    visitor = new_visitor(channel)
    banner(channel, visitor, personalization="granted")
    url = f"/v1/links/{visitor['anonymous_id']}"
    assert channel.browser.get(url, headers=recommender).status_code == 404  # not linked yet
    sign_in(channel, visitor)
    found = channel.browser.get(url, headers=recommender)
    assert (found.status_code, found.json()) == (200, {"subject": str(shopper.id)})
    channel.browser.put(
        f"/v1/consents/{shopper.id}/personalization", json={"decision": "withdrawn"}, headers=writer
    )
    refused = channel.browser.get(url, headers=recommender)
    assert refused.status_code == 404
    assert refused.json()["title"] == found_title(channel, recommender)
    resolved = [a for a, _ in actions(runtime, "link.resol")]
    assert resolved == [
        "link.resolve_refused",
        "link.resolved",
        "link.resolve_refused",
        "link.resolve_refused",
    ]


def found_title(channel: RelyingParty, headers: dict[str, str]) -> str:
    """The answer for a garbage id: a refusal must look the same."""
    return channel.browser.get("/v1/links/a_garbage", headers=headers).json()["title"]


def test_a_pairwise_client_resolves_to_its_own_pairwise_subject(
    channel, make_rp, make_client, shopper, runtime
):
    market = make_rp(
        name="Marketplace",
        client_id="marketplace",
        redirect_uris=[MARKET_REDIRECT],
        subject_type="pairwise",
        grant_types=["authorization_code", "refresh_token", "client_credentials"],
        scope="openid profile email identity:resolve",
        resolve_purpose="personalization",
    )
    visitor = new_visitor(channel)
    banner(channel, visitor, personalization="granted")
    sign_in(channel, visitor)
    token = market.token_request({"grant_type": "client_credentials", "scope": "identity:resolve"})
    headers = {"authorization": f"Bearer {token.json()['access_token']}"}
    url = f"/v1/links/{visitor['anonymous_id']}"
    assert market.browser.get(url, headers=headers).status_code == 404  # never signed in there
    market_tokens = market.tokens(ANA, DEFAULT_PASSWORD)
    pairwise_sub = market.verify_id_token(market_tokens["id_token"])["sub"]
    found = market.browser.get(url, headers=headers)
    assert found.json() == {"subject": pairwise_sub}
    assert pairwise_sub != str(shopper.id)


def test_anonymous_state_is_removed_when_the_id_expires_and_the_records_stay(
    channel, runtime, clock
):
    visitor = new_visitor(channel)
    banner(channel, visitor, personalization="granted")
    clock.tick(timedelta(days=396))
    assert runtime.linking.expire(utcnow()) == 1
    assert _state(runtime, visitor["subject"], "personalization") is None
    with runtime.db.read() as session:
        kept = session.scalars(
            select(ConsentRecord).where(ConsentRecord.subject == visitor["subject"])
        ).all()
    assert len(kept) == 1


def test_an_anonymous_id_is_renewed_keeping_the_visitors_choices(channel, runtime, clock):
    visitor = new_visitor(channel)
    banner(channel, visitor, personalization="granted")
    clock.tick(timedelta(days=300))
    renewed = channel.browser.post(
        "/v1/anonymous", json={"renew": visitor["anonymous_id"]}, headers=backend(channel)
    ).json()
    assert renewed["subject"] == visitor["subject"]
    assert renewed["expires_at"] > visitor["expires_at"]
    clock.tick(timedelta(days=200))  # the first id has expired, the renewed one has not
    answer = channel.browser.get(
        f"/v1/consents/{renewed['anonymous_id']}/personalization", headers=backend(channel)
    ).json()
    assert answer["allowed"] is True


def test_issuing_ids_needs_the_anonymous_issue_scope(browser, reader):
    response = browser.post("/v1/anonymous", json={}, headers=reader)
    assert response.status_code == 403


def test_an_erased_account_leaves_its_anonymous_ids_unlinked(channel, shopper, runtime):
    visitor = new_visitor(channel)
    sign_in(channel, visitor)
    with runtime.db.transaction() as session:
        session.delete(session.get(User, shopper.id))
    with runtime.db.read() as session:
        row = session.get(AnonymousSubject, visitor["subject"])
        assert row is not None
        assert row.user_id is None


# -- POST /v1/links: the app links after a native sign-in ---------------------------------------


def link_later(rp: RelyingParty, bearer: str, anonymous_id: str) -> Any:
    return rp.browser.post(
        "/v1/links",
        json={"anonymous_id": anonymous_id},
        headers={"authorization": f"Bearer {bearer}"},
    )


def customer_token(rp: RelyingParty, email: str = ANA) -> str:
    """The app's token for the signed-in customer, with the scope their own data needs."""
    return str(rp.tokens(email, DEFAULT_PASSWORD, scope="openid preferences")["access_token"])


def test_the_app_links_an_id_with_the_customers_token_after_sign_in(channel, shopper, runtime):
    visitor = new_visitor(channel)
    banner(channel, visitor, personalization="granted")
    customer = customer_token(channel)
    response = link_later(channel, customer, visitor["anonymous_id"])
    assert response.status_code == 200, response.text
    assert response.json() == {"outcome": "linked", "merged": ["personalization"]}
    assert answer_of(runtime, str(shopper.id), "personalization").allowed
    assert [a for a, _ in actions(runtime)] == ["link.created"]


def test_a_service_token_without_a_customer_links_nothing(channel, shopper, runtime):
    visitor = new_visitor(channel)
    banner(channel, visitor, personalization="granted")
    service = backend(channel)["authorization"].removeprefix("Bearer ")
    response = link_later(channel, service, visitor["anonymous_id"])
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert answer_of(runtime, str(shopper.id), "personalization").reason == "not_asked"
    assert actions(runtime) == []


@pytest.mark.parametrize("kind", ["forged", "other_client"])
def test_a_forged_or_other_clients_id_is_refused_by_the_link_api_and_merges_nothing(
    kind, channel, make_rp, shopper, runtime
):
    if kind == "forged":
        anonymous_id = "a_" + "A" * 40
    else:
        app_channel = make_rp(
            name="Shop app",
            client_id="app",
            redirect_uris=["http://127.0.0.1/callback"],
            first_party=True,
            grant_types=["authorization_code", "refresh_token", "client_credentials"],
            scope=CHANNEL_SCOPE,
        )
        visitor = new_visitor(app_channel)
        banner(app_channel, visitor, personalization="granted")
        anonymous_id = visitor["anonymous_id"]
    customer = customer_token(channel)
    response = link_later(channel, customer, anonymous_id)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert answer_of(runtime, str(shopper.id), "personalization").reason == "not_asked"
    assert [a for a, _ in actions(runtime)] == ["link.refused"]


def test_an_id_linked_to_one_account_is_refused_to_another_through_the_link_api(
    channel, shopper, make_user, runtime
):
    other = make_user("ben@example.com")
    visitor = new_visitor(channel)
    banner(channel, visitor, personalization="granted")
    link_later(channel, customer_token(channel), visitor["anonymous_id"])
    channel.browser.cookies.clear()
    ben = customer_token(channel, "ben@example.com")
    response = link_later(channel, ben, visitor["anonymous_id"])
    assert response.status_code == 409, response.text
    assert response.json()["reason"] == "linked_elsewhere"
    assert actions(runtime)[-1][0] == "link.refused"
    assert answer_of(runtime, str(other.id), "personalization").reason == "not_asked"
