"""Consent receipts outlive key rotations: they verify against ``/receipts/jwks``, which keeps
every receipt key ever used, never against the short-lived token keys of ``/jwks``."""

from __future__ import annotations

from datetime import timedelta

from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import select

from identity.consent.models import ConsentRecord
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import login, submit

ALGORITHMS = ["RS256", "ES256"]


def download_receipt(client, runtime) -> str:
    with runtime.db.read() as session:
        record_id = session.scalars(select(ConsentRecord.id)).first()
    response = client.get(f"/account/privacy/receipts/{record_id}")
    assert response.status_code == 200
    return response.text


def verify(token: str, jwks: dict) -> jwt.Token:
    return jwt.decode(token, KeySet.import_key_set(jwks), algorithms=ALGORITHMS)


def kids(jwks: dict) -> set[str]:
    return {k["kid"] for k in jwks["keys"]}


def test_a_receipt_downloaded_before_two_key_rotations_still_verifies(
    client, customer, runtime, settings, clock
):
    login(client, customer.email, DEFAULT_PASSWORD)
    submit(client, "/account/privacy", {"purpose.personalization": "on"})
    kept = download_receipt(client, runtime)
    first_kid = verify(kept, client.get("/receipts/jwks").json()).header["kid"]
    past_every_window = settings.key_activation_delay + timedelta(minutes=16)
    for _ in range(2):
        runtime.keys.rotate(settings.signing_alg.value)
        runtime.receipt_keys.rotate(settings.signing_alg.value)
        clock.tick(past_every_window)  # the superseded token key has left /jwks
    published = client.get("/receipts/jwks").json()
    assert verify(kept, published).claims["piiPrincipalId"] == str(customer.id)
    fresh = verify(download_receipt(client, runtime), published)
    assert fresh.header["kid"] != first_kid  # signed by the newest receipt key
    assert len(kids(published)) == 3  # start-up and two rotations, all still published
    first = next(k for k in runtime.receipt_keys.describe() if k["kid"] == first_kid)
    assert (first["for"], first["signing"], first["published"]) == ("receipts", False, True)


def test_receipt_keys_and_token_keys_are_never_the_same(client, customer, runtime):
    login(client, customer.email, DEFAULT_PASSWORD)
    submit(client, "/account/privacy", {"purpose.personalization": "on"})
    receipt = verify(download_receipt(client, runtime), client.get("/receipts/jwks").json())
    assert receipt.header["typ"] == "consent-receipt+jwt"
    assert not kids(client.get("/jwks").json()) & kids(client.get("/receipts/jwks").json())
    assert receipt.header["kid"] not in kids(client.get("/jwks").json())


def test_discovery_names_the_receipt_keys(client):
    meta = client.get("/.well-known/openid-configuration").json()
    assert meta["consent_receipts_jwks_uri"] == "http://testserver/receipts/jwks"
    response = client.get("/receipts/jwks")
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.json()["keys"]
