"""``identity keys retire``: a token key stops signing and leaves ``/jwks`` at once (what it
signed stops verifying); a receipt key stops signing but stays published, so every receipt it
signed still verifies; the key that signs is never retired without a published successor."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select

from identity.audit.models import AuditEntryRow
from identity.consent.models import ConsentRecord
from tests.support.fixtures import DEFAULT_PASSWORD as PASSWORD
from tests.support.forms import login, submit

EMAIL = "ana@example.com"


def kids(browser, path="/jwks") -> set[str]:
    return {k["kid"] for k in browser.get(path).json()["keys"]}


def header_kid(token: str) -> str:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["kid"]


def test_a_retired_token_key_stops_signing_and_leaves_jwks_at_once(
    store, shopper, runtime, identity
):
    before = store.tokens(EMAIL, PASSWORD)
    leaked = header_kid(before["access_token"])
    new = runtime.keys.rotate("RS256", delay=timedelta(0))  # the emergency rotation
    retired = identity("keys", "retire", "--kid", leaked)
    assert retired.code == 0, retired.err
    assert (retired.json()["kid"], retired.json()["for"]) == (leaked, "tokens")
    assert leaked not in kids(store.browser)
    with pytest.raises(JoseError):
        store.verify(before["access_token"])  # relying parties stop trusting it
    auth = (store.client_id, store.client_secret)
    introspected = store.browser.post(
        "/introspect", data={"token": before["access_token"]}, auth=auth
    )
    assert introspected.json() == {"active": False}
    after = store.refresh(before["refresh_token"]).json()
    assert header_kid(after["access_token"]) == header_kid(after["id_token"]) == new.kid
    store.verify(after["access_token"])


def test_the_only_key_signing_an_algorithm_is_not_retired(store, shopper, runtime, identity):
    current = header_kid(store.tokens(EMAIL, PASSWORD)["access_token"])
    pending = runtime.keys.rotate("RS256")  # published now, signs after the delay
    refused = identity("keys", "retire", "--kid", current)
    assert refused.code == 1
    assert "the only key signing RS256" in refused.err
    assert current in kids(store.browser)
    # A pending key may go: it will never sign.
    assert identity("keys", "retire", "--kid", pending.kid).code == 0
    assert pending.kid not in kids(store.browser)


def test_a_pending_key_that_was_retired_never_takes_over(store, shopper, runtime, clock, settings):
    from identity.audit.refs import Actor

    tokens = store.tokens(EMAIL, PASSWORD)
    current = header_kid(tokens["access_token"])
    pending = runtime.keys.rotate("RS256")
    runtime.keys.retire(pending.kid, actor=Actor.operator("test"))
    clock.tick(settings.key_activation_delay + timedelta(minutes=1))
    assert header_kid(store.refresh(tokens["refresh_token"]).json()["access_token"]) == current


def receipt(client, runtime) -> str:
    with runtime.db.read() as session:
        record_id = session.scalars(select(ConsentRecord.id)).first()
    return client.get(f"/account/privacy/receipts/{record_id}.jwt").text


def test_a_retired_receipt_key_stays_published_and_its_receipts_still_verify(
    client, customer, runtime, settings, identity
):
    login(client, customer.email, PASSWORD)
    submit(client, "/account/privacy", {"purpose.personalization": "on"})
    kept = receipt(client, runtime)
    old = header_kid(kept)
    runtime.receipt_keys.rotate(settings.signing_alg.value, delay=timedelta(0))
    retired = identity("keys", "retire", "--kid", old)
    assert (retired.code, retired.json()["for"]) == (0, "receipts")
    published = client.get("/receipts/jwks").json()
    assert old in {k["kid"] for k in published["keys"]}
    verified = jwt.decode(kept, KeySet.import_key_set(published), algorithms=["RS256", "ES256"])
    assert verified.claims["piiPrincipalId"] == str(customer.id)
    assert header_kid(receipt(client, runtime)) != old  # new receipts: the new key
    [listed] = [k for k in runtime.receipt_keys.describe() if k["kid"] == old]
    assert (listed["signing"], listed["published"], listed["retired_at"] is not None) == (
        False,
        True,
        True,
    )


def test_retiring_is_audited_with_the_operator_and_an_unknown_kid_is_refused(
    client, runtime, identity
):
    new = runtime.keys.rotate("ES256", delay=timedelta(0))
    [old] = [k["kid"] for k in runtime.keys.describe() if k["alg"] == "ES256" and not k["signing"]]
    assert identity("keys", "retire", "--kid", old, "--operator", "sec-team").code == 0
    with runtime.db.read() as session:
        [entry] = session.scalars(
            select(AuditEntryRow).where(AuditEntryRow.action == "keys.retired")
        ).all()
    assert entry.actor == "operator:sec-team"
    assert entry.details == {"kid": old, "alg": "ES256", "for": "tokens"}
    assert new.kid in kids(client)
    again = identity("keys", "retire", "--kid", old)
    assert (again.code, "retired already" in again.err) == (1, True)
    unknown = identity("keys", "retire", "--kid", "nope")
    assert (unknown.code, "no key nope" in unknown.err) == (1, True)
