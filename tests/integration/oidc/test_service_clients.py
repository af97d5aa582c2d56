"""Client credentials, introspection, revocation and private_key_jwt."""

from __future__ import annotations

import time
import uuid

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.support.fixtures import DEFAULT_PASSWORD as PASSWORD

EMAIL = "ana@example.com"


@pytest.fixture
def recommender(make_client):
    return make_client(
        name="Recommender",
        client_id="recommender",
        grant_types=["client_credentials"],
        redirect_uris=[],
        scope="consent:read",
    )


def cc_token(browser, created, **data):
    return browser.post(
        "/token",
        data={"grant_type": "client_credentials", **data},
        auth=(created.client.client_id, created.client_secret),
    )


def test_client_credentials_issue_an_rfc9068_token_with_the_client_scope(browser, recommender):
    response = cc_token(browser, recommender)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "consent:read"
    assert "refresh_token" not in body
    from tests.support.rp import RelyingParty

    claims = RelyingParty(browser, "x", "x").verify(body["access_token"]).claims
    assert claims["sub"] == claims["client_id"] == "recommender"


def test_a_service_cannot_ask_for_scopes_it_was_not_given(browser, recommender):
    response = cc_token(browser, recommender, scope="consent:write")
    assert (response.status_code, response.json()["error"]) == (400, "invalid_scope")


def test_public_and_user_clients_cannot_use_client_credentials(browser, make_client):
    app = make_client(name="App", auth_method="none", redirect_uris=["http://127.0.0.1/cb"])
    response = browser.post(
        "/token", data={"grant_type": "client_credentials", "client_id": app.client.client_id}
    )
    assert response.json()["error"] in ("invalid_client", "unauthorized_client")
    store = make_client(name="Store")
    assert cc_token(browser, store).json()["error"] == "unauthorized_client"


API = "https://api.shop.example"


@pytest.fixture
def resource_server(make_client):
    """The retailer's order API: a resource server for tokens issued for its audience."""
    return make_client(
        name="Orders API",
        client_id="orders-api",
        grant_types=["client_credentials"],
        redirect_uris=[],
        scope="consent:read",
        resource_server_for=[API],
    )


def introspect(browser, created, token):
    auth = (created.client.client_id, created.client_secret)
    return browser.post("/introspect", data={"token": token}, auth=auth).json()


def test_introspection_by_the_resource_server_of_the_tokens_audience(
    make_rp, shopper, resource_server
):
    store = make_rp(name="Store", client_id="store", first_party=True, resources=[API])
    tokens = store.tokens(EMAIL, PASSWORD, resource=API)
    active = introspect(store.browser, resource_server, tokens["access_token"])
    assert active["active"] is True
    assert (active["client_id"], active["sub"], active["token_type"], active["aud"]) == (
        "store",
        str(shopper.id),
        "access_token",
        API,
    )
    # A refresh token is the issuing client's business only.
    assert introspect(store.browser, resource_server, tokens["refresh_token"]) == {"active": False}
    assert introspect(store.browser, resource_server, "nope") == {"active": False}


def test_a_client_introspects_its_own_access_and_refresh_tokens(store, shopper):
    tokens = store.tokens(EMAIL, PASSWORD)
    auth = (store.client_id, store.client_secret)
    for kind in ("access_token", "refresh_token"):
        body = store.browser.post("/introspect", data={"token": tokens[kind]}, auth=auth).json()
        assert (body["active"], body["token_type"]) == (True, kind)


def test_a_service_client_cannot_introspect_another_clients_tokens(
    store, shopper, recommender, resource_server
):
    """Only consent:read, or a resource server for another audience: nothing is revealed."""
    tokens = store.tokens(EMAIL, PASSWORD)
    for service in (recommender, resource_server):
        for kind in ("access_token", "refresh_token"):
            assert introspect(store.browser, service, tokens[kind]) == {"active": False}


def test_introspection_needs_an_authenticated_entitled_client(store, shopper, make_client):
    tokens = store.tokens(EMAIL, PASSWORD)
    anonymous = store.browser.post("/introspect", data={"token": tokens["access_token"]})
    assert anonymous.status_code == 401
    other = make_client(name="Other web client", redirect_uris=["https://other.example/cb"])
    foreign = store.browser.post(
        "/introspect",
        data={"token": tokens["access_token"]},
        auth=(other.client.client_id, other.client_secret),
    )
    assert foreign.json() == {"active": False}


def test_revoking_an_access_token(store, shopper):
    tokens = store.tokens(EMAIL, PASSWORD)
    auth = (store.client_id, store.client_secret)
    assert (
        store.browser.post("/revoke", data={"token": tokens["access_token"]}, auth=auth).status_code
        == 200
    )
    assert (
        store.browser.get(
            "/userinfo", headers={"authorization": f"Bearer {tokens['access_token']}"}
        ).status_code
        == 401
    )
    # The refresh token (and its grant) is untouched.
    assert store.refresh(tokens["refresh_token"]).status_code == 200


def test_revoking_a_refresh_token_revokes_its_grant(store, shopper):
    tokens = store.tokens(EMAIL, PASSWORD)
    auth = (store.client_id, store.client_secret)
    response = store.browser.post(
        "/revoke",
        data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
        auth=auth,
    )
    assert response.status_code == 200
    assert store.refresh(tokens["refresh_token"]).json()["error"] == "invalid_grant"
    assert (
        store.browser.get(
            "/userinfo", headers={"authorization": f"Bearer {tokens['access_token']}"}
        ).status_code
        == 401
    )


def test_a_client_cannot_revoke_another_clients_token(store, shopper, make_client):
    tokens = store.tokens(EMAIL, PASSWORD)
    other = make_client(name="Other", redirect_uris=["https://other.example/cb"])
    response = store.browser.post(
        "/revoke",
        data={"token": tokens["refresh_token"]},
        auth=(other.client.client_id, other.client_secret),
    )
    assert response.status_code == 200  # RFC 7009: nothing revealed ...
    assert store.refresh(tokens["refresh_token"]).status_code == 200  # ... and nothing revoked


@pytest.fixture
def signing_key():
    key = RSAKey.generate_key(2048, parameters={"alg": "RS256", "use": "sig"}, private=True)
    key.ensure_kid()
    return key


def assertion(key, client_id, jti=None, aud="http://testserver/token"):
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "iat": now,
        "exp": now + 60,
        "jti": jti or uuid.uuid4().hex,
    }
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


def test_private_key_jwt_authenticates_and_refuses_a_replayed_assertion(
    browser, make_client, signing_key
):
    created = make_client(
        name="CRM",
        client_id="crm",
        grant_types=["client_credentials"],
        redirect_uris=[],
        scope="consent:read consent:write",
        auth_method="private_key_jwt",
        jwks={"keys": [signing_key.as_dict(private=False)]},
    )
    assert created.client_secret is None
    signed = assertion(signing_key, "crm")
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": signed,
    }
    ok = browser.post("/token", data=form)
    assert ok.status_code == 200, ok.text
    assert ok.json()["scope"] == "consent:read consent:write"
    replay = browser.post("/token", data=form)
    assert (replay.status_code, replay.json()["error"]) == (400, "invalid_client")


def test_private_key_jwt_with_a_foreign_key_or_audience_is_refused(
    browser, make_client, signing_key
):
    make_client(
        name="CRM",
        client_id="crm",
        grant_types=["client_credentials"],
        redirect_uris=[],
        scope="consent:read",
        auth_method="private_key_jwt",
        jwks={"keys": [signing_key.as_dict(private=False)]},
    )
    stranger = RSAKey.generate_key(2048, parameters={"alg": "RS256"}, private=True)
    stranger.ensure_kid()
    base = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    }
    for signed in (
        assertion(stranger, "crm"),
        assertion(signing_key, "crm", aud="https://elsewhere"),
    ):
        response = browser.post("/token", data={**base, "client_assertion": signed})
        assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "body",
    [
        b"grant_type=authorization_code",
        b"grant_type=refresh_token&refresh_token=x",
        b"",
        b"%%%",
        b'{"grant_type": "client_credentials"}',
    ],
)
def test_malformed_token_requests_get_rfc6749_errors(browser, body):
    response = browser.post(
        "/token", content=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert 400 <= response.status_code < 500
    assert "error" in response.json()


def test_the_token_endpoint_refuses_oversized_and_undecodable_bodies(browser):
    big = browser.post(
        "/token",
        content=b"a=" + b"x" * 70_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert (big.status_code, big.json()["error"]) == (413, "invalid_request")
    garbled = browser.post(
        "/token",
        content=b"grant_type=\xff\xfe",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert (garbled.status_code, garbled.json()["error"]) == (400, "invalid_request")


def test_fast_paths_carry_the_edge_headers_once(browser, recommender, customer):
    token = cc_token(browser, recommender)
    for response in (
        token,
        browser.get(
            f"/v1/consents/{customer.id}/analytics",
            headers={"authorization": f"Bearer {token.json()['access_token']}"},
        ),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
        assert len(response.headers.get_list("x-request-id")) == 1


def test_the_gpc_fallback_through_the_framework_carries_one_request_id(
    browser, recommender, customer
):
    token = cc_token(browser, recommender).json()["access_token"]
    response = browser.get(
        f"/v1/consents/{customer.id}/partner_sharing",
        headers={"authorization": f"Bearer {token}", "sec-gpc": "1", "x-request-id": "abc"},
    )
    assert response.status_code == 200
    assert response.headers.get_list("x-request-id") == ["abc"]
