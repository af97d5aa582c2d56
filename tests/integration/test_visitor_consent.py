"""An anonymous visitor's consent has what an account's has: their browser's Global Privacy
Control signal, relayed by the channel that keeps their id, and signed receipts the channel
can hand them. Only that channel may do either, and never for a customer's account."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from identity.audit.models import AuditEntryRow
from identity.consent.models import ConsentRecord
from tests.support.consent_fixtures import answer_of
from tests.support.linking_fixtures import backend, banner, new_visitor, sign_in
from tests.support.receipts import verify


def relay_gpc(rp: Any, name: str, headers: dict[str, str] | None = None) -> Any:
    return rp.browser.post(f"/v1/consents/{name}:gpc", headers=headers or backend(rp))


def records_of(runtime: Any, subject: str) -> list[ConsentRecord]:
    with runtime.db.read() as session:
        query = select(ConsentRecord).where(ConsentRecord.subject == subject)
        return list(session.scalars(query.order_by(ConsentRecord.id)))


def test_a_visitors_gpc_relayed_by_its_channel_opts_them_out_of_sharing_once(channel, runtime):
    visitor = new_visitor(channel)
    banner(channel, visitor, partner_sharing="granted")
    relayed = relay_gpc(channel, visitor["anonymous_id"])
    assert relayed.status_code == 200, relayed.text
    shown = {d["purpose"]: d for d in relayed.json()["decisions"]}
    assert (shown["partner_sharing"]["allowed"], shown["partner_sharing"]["reason"]) == (
        False,
        "withdrawn",
    )
    assert answer_of(runtime, visitor["subject"], "partner_sharing").reason == "withdrawn"
    [_, gpc] = records_of(runtime, visitor["subject"])
    assert (gpc.source, gpc.evidence) == ("gpc", {"signal": "Sec-GPC: 1", "relayed_by": "store"})
    with runtime.db.read() as session:
        entry = session.scalars(
            select(AuditEntryRow).where(AuditEntryRow.action == "consent.recorded")
            .order_by(AuditEntryRow.id.desc())
        ).first()  # fmt: skip
    assert entry.actor == "client:store"  # who relayed it
    assert relay_gpc(channel, visitor["anonymous_id"]).status_code == 200
    assert len(records_of(runtime, visitor["subject"])) == 2  # applied once


def test_the_visitors_explicit_grant_after_the_signal_wins(channel, runtime):
    visitor = new_visitor(channel)
    relay_gpc(channel, visitor["anonymous_id"])
    banner(channel, visitor, partner_sharing="granted")
    relay_gpc(channel, visitor["anonymous_id"])  # the same browser, the next page
    assert answer_of(runtime, visitor["subject"], "partner_sharing").allowed


def test_a_visitors_relayed_opt_out_follows_them_into_their_account(channel, shopper, runtime):
    visitor = new_visitor(channel)
    relay_gpc(channel, visitor["anonymous_id"])
    sign_in(channel, visitor)
    assert answer_of(runtime, str(shopper.id), "partner_sharing").reason == "denied"


def test_a_service_cannot_relay_a_signal_for_a_customers_account(channel, shopper, runtime):
    answer = relay_gpc(channel, str(shopper.id))
    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/problem+json"
    assert records_of(runtime, str(shopper.id)) == []


def test_another_clients_visitor_is_unknown_to_gpc_and_receipts(channel, make_rp, runtime):
    other = make_rp(
        name="Marketplace",
        client_id="market",
        redirect_uris=["https://market.example/cb"],
        first_party=True,
        grant_types=["client_credentials"],
        scope="consent:read consent:write anonymous:issue",
    )
    visitor = new_visitor(channel)
    banner(channel, visitor, personalization="granted")
    [record] = records_of(runtime, visitor["subject"])
    assert relay_gpc(other, visitor["anonymous_id"]).status_code == 404
    receipt = other.browser.get(
        f"/v1/consents/{visitor['anonymous_id']}/receipts/{record.id}", headers=backend(other)
    )
    assert receipt.status_code == 404
    assert receipt.headers["content-type"] == "application/problem+json"
    assert len(records_of(runtime, visitor["subject"])) == 1


def test_relaying_a_signal_needs_the_consent_write_scope(channel, runtime, make_rp):
    visitor = new_visitor(channel)
    token = channel.token_request({"grant_type": "client_credentials", "scope": "consent:read"})
    headers = {"authorization": f"Bearer {token.json()['access_token']}"}
    answer = relay_gpc(channel, visitor["anonymous_id"], headers)
    assert answer.status_code == 403
    assert records_of(runtime, visitor["subject"]) == []


def test_a_visitors_receipt_verifies_against_the_published_receipt_keys(channel, runtime):
    visitor = new_visitor(channel)
    written = channel.browser.put(
        f"/v1/consents/{visitor['anonymous_id']}/personalization",
        json={"decision": "granted", "language": "es"},
        headers=backend(channel),
    )
    record_id = written.json()["record"]["id"]
    answer = channel.browser.get(
        f"/v1/consents/{visitor['anonymous_id']}/receipts/{record_id}", headers=backend(channel)
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/jwt"
    claims = verify(answer.text, channel.browser.get("/receipts/jwks").json()).claims
    assert claims["piiPrincipalId"] == visitor["subject"]  # the stored key, no secret in it
    assert claims["language"] == "es"


@pytest.mark.parametrize("record", ["account", "unknown", "huge"])
def test_a_receipt_is_only_of_the_visitors_own_records(record, channel, shopper, runtime, writer):
    visitor = new_visitor(channel)
    account = channel.browser.put(
        f"/v1/consents/{shopper.id}/personalization", json={"decision": "granted"}, headers=writer
    )
    record_id = {"account": account.json()["record"]["id"], "unknown": 999_999, "huge": 2**64}
    answer = channel.browser.get(
        f"/v1/consents/{visitor['anonymous_id']}/receipts/{record_id[record]}",
        headers=backend(channel),
    )
    assert answer.status_code in (404, 422)
    assert answer.headers["content-type"] == "application/problem+json"


def test_a_service_gets_no_receipt_of_a_customers_record(channel, shopper, writer):
    written = channel.browser.put(
        f"/v1/consents/{shopper.id}/personalization", json={"decision": "granted"}, headers=writer
    )
    answer = channel.browser.get(
        f"/v1/consents/{shopper.id}/receipts/{written.json()['record']['id']}",
        headers=backend(channel),
    )
    assert answer.status_code == 403
