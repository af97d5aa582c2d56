"""userinfo-get, userinfo-post-header, userinfo-post-body and the scope-* modules."""

from __future__ import annotations

import pytest

from tests.support.fixtures import DEFAULT_PASSWORD as PASSWORD

EMAIL = "ana@example.com"


def test_oidcc_userinfo_get(store, shopper):
    token = store.tokens(EMAIL, PASSWORD)["access_token"]
    response = store.browser.get("/userinfo", headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json()["sub"] == str(shopper.id)
    assert response.headers["cache-control"] == "no-store"


def test_oidcc_userinfo_post_header(store, shopper):
    token = store.tokens(EMAIL, PASSWORD)["access_token"]
    response = store.browser.post("/userinfo", headers={"authorization": f"Bearer {token}"})
    assert (response.status_code, response.json()["sub"]) == (200, str(shopper.id))


def test_oidcc_userinfo_post_body(store, shopper):
    token = store.tokens(EMAIL, PASSWORD)["access_token"]
    response = store.browser.post("/userinfo", data={"access_token": token})
    assert (response.status_code, response.json()["sub"]) == (200, str(shopper.id))


def test_userinfo_refuses_a_missing_or_bad_token_with_a_bearer_challenge(store):
    for headers in ({}, {"authorization": "Bearer not-a-token"}, {"authorization": "Basic eDp5"}):
        response = store.browser.get("/userinfo", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_userinfo_refuses_a_token_sent_twice(store, shopper):
    token = store.tokens(EMAIL, PASSWORD)["access_token"]
    response = store.browser.post(
        "/userinfo", data={"access_token": token}, headers={"authorization": f"Bearer {token}"}
    )
    assert response.status_code == 400


def test_userinfo_refuses_a_token_without_openid(store, shopper, make_client):
    service = make_client(
        name="Service", grant_types=["client_credentials"], redirect_uris=[], scope="consent:read"
    )
    token = store.browser.post(
        "/token",
        data={"grant_type": "client_credentials"},
        auth=(service.client.client_id, service.client_secret),
    ).json()["access_token"]
    response = store.browser.get("/userinfo", headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 403
    assert "insufficient_scope" in response.headers["www-authenticate"]


@pytest.mark.parametrize(
    ("scope", "present", "absent"),
    [
        ("openid profile", {"name", "locale", "updated_at"}, {"email", "phone_number", "address"}),
        ("openid email", {"email", "email_verified"}, {"name", "phone_number", "address"}),
        ("openid address", {"address"}, {"email", "name", "phone_number"}),
        ("openid phone", {"phone_number", "phone_number_verified"}, {"email", "address"}),
        (
            "openid profile email address phone",
            {"name", "email", "address", "phone_number"},
            set(),
        ),
    ],
    ids=["scope-profile", "scope-email", "scope-address", "scope-phone", "scope-all"],
)
def test_oidcc_scope_claims(store, shopper, scope, present, absent):
    token = store.tokens(EMAIL, PASSWORD, scope=scope)["access_token"]
    claims = store.browser.get("/userinfo", headers={"authorization": f"Bearer {token}"}).json()
    assert present <= set(claims), claims
    assert not (absent & set(claims)), claims
    if "address" in claims:
        assert claims["address"]["locality"] == "Madrid"
    if "email" in claims:
        assert (claims["email"], claims["email_verified"]) == (EMAIL, True)
