"""Consent receipts outlive key rotations: they verify against ``/receipts/jwks``, which keeps
every receipt key ever used, never against the short-lived token keys of ``/jwks``."""

from __future__ import annotations

from datetime import timedelta

from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import login, submit
from tests.support.receipts import jws_on, kids, record_ids, verify


def download_receipt(client, runtime) -> str:
    [record_id] = record_ids(runtime)
    response = client.get(f"/account/privacy/receipts/{record_id}.jwt")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/jwt"
    return response.text


def receipt_page(client, runtime) -> str:
    [record_id] = record_ids(runtime)
    response = client.get(f"/account/privacy/receipts/{record_id}")
    assert response.status_code == 200
    return response.text


def test_a_receipt_downloaded_before_two_key_rotations_still_verifies(
    client, customer, runtime, settings, clock
):
    login(client, customer.email, DEFAULT_PASSWORD)
    submit(client, "/account/privacy", {"purpose.personalization": "on"})
    kept = download_receipt(client, runtime)
    kept_from_page = jws_on(receipt_page(client, runtime))
    first_kid = verify(kept, client.get("/receipts/jwks").json()).header["kid"]
    assert verify(kept_from_page, client.get("/receipts/jwks").json()).header["kid"] == first_kid
    past_every_window = settings.key_activation_delay + timedelta(minutes=16)
    rotated = []
    for _ in range(2):
        runtime.keys.rotate(settings.signing_alg.value)
        rotated.append(runtime.receipt_keys.rotate(settings.signing_alg.value).kid)
        # Published at once, signing only once active: travel past the activation delay (and
        # past the window in which a superseded token key stays in /jwks).
        clock.tick(past_every_window)
        now_signing = verify(download_receipt(client, runtime), client.get("/receipts/jwks").json())
        assert now_signing.header["kid"] == rotated[-1]
    published = client.get("/receipts/jwks").json()
    for receipt in (kept, kept_from_page):
        assert verify(receipt, published).claims["piiPrincipalId"] == str(customer.id)
    page = receipt_page(client, runtime)
    fresh = verify(jws_on(page), published)
    assert fresh.header["kid"] == rotated[-1] != first_kid  # signed by the newest receipt key
    assert rotated[-1] in page  # the page names the key that signed what it shows
    assert kids(published) == {first_kid, *rotated}  # start-up and two rotations, all there
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
