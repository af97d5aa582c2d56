"""oidcc-server, idtoken-*, request-without-nonce, codereuse*, refresh-token, pkce,
client-secret-post."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support.fixtures import DEFAULT_PASSWORD as PASSWORD
from tests.support.rp import pkce_pair

EMAIL = "ana@example.com"


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_oidcc_server_metadata_is_complete(browser):
    meta = browser.get("/.well-known/openid-configuration").json()
    issuer = "http://testserver"
    assert meta["issuer"] == issuer
    for name in (
        "authorization",
        "token",
        "userinfo",
        "revocation",
        "introspection",
        "end_session",
    ):
        assert meta[f"{name}_endpoint"].startswith(issuer + "/")
    assert meta["jwks_uri"] == f"{issuer}/jwks"
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["backchannel_logout_supported"] is True
    assert meta["backchannel_logout_session_supported"] is True
    assert set(meta["subject_types_supported"]) == {"public", "pairwise"}
    assert "none" not in meta["id_token_signing_alg_values_supported"]  # idtoken-unsigned: n/a
    assert "password" not in meta["grant_types_supported"]
    assert "implicit" not in meta["grant_types_supported"]
    assert {"openid", "profile", "email", "address", "phone", "offline_access"} <= set(
        meta["scopes_supported"]
    )
    assert set(meta["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "none",
    }
    # RFC 8414 metadata at its own well-known path tells the same story.
    assert browser.get("/.well-known/oauth-authorization-server").json() == meta


def test_oidcc_idtoken_signature_verifies_against_the_published_key(store, shopper):
    tokens = store.tokens(EMAIL, PASSWORD)
    claims = store.verify_id_token(tokens["id_token"])
    assert claims["sub"] == str(shopper.id)
    assert claims["aud"] == "store"
    assert {"iat", "exp", "auth_time", "sid", "amr", "at_hash", "nonce"} <= set(claims)


def test_oidcc_idtoken_es256_for_a_client_registered_for_it(make_rp, shopper):
    rp = make_rp(name="ES client", id_token_alg="ES256", first_party=True)
    tokens = rp.tokens(EMAIL, PASSWORD)
    decoded = rp.verify(tokens["id_token"], aud=rp.client_id)
    assert decoded.header["alg"] == "ES256"


def test_oidcc_request_without_nonce_succeeds_for_code_flow(store, shopper):
    tokens = store.tokens(EMAIL, PASSWORD, nonce=None)
    claims = store.verify_id_token(tokens["id_token"])
    assert "nonce" not in claims


def test_oidcc_codereuse_is_refused(store, shopper):
    code = store.code(EMAIL, PASSWORD)
    assert store.exchange(code).status_code == 200
    again = store.exchange(code)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_oidcc_codereuse_30seconds_revokes_the_first_tokens(store, shopper, clock):
    code = store.code(EMAIL, PASSWORD)
    first = store.exchange(code).json()
    assert store.browser.get("/userinfo", headers=bearer(first["access_token"])).status_code == 200
    clock.tick(30)
    assert store.exchange(code).json()["error"] == "invalid_grant"
    assert store.browser.get("/userinfo", headers=bearer(first["access_token"])).status_code == 401
    assert store.refresh(first["refresh_token"]).json()["error"] == "invalid_grant"


def test_oidcc_refresh_token_rotates_and_keeps_the_subject(store, shopper):
    first = store.tokens(EMAIL, PASSWORD)
    refreshed = store.refresh(first["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    body = refreshed.json()
    assert body["refresh_token"] != first["refresh_token"]
    old_id, new_id = (
        store.verify_id_token(first["id_token"]),
        store.verify(body["id_token"], aud="store"),
    )
    assert new_id.claims["sub"] == old_id["sub"]
    assert new_id.claims["auth_time"] == old_id["auth_time"]
    assert store.browser.get("/userinfo", headers=bearer(body["access_token"])).status_code == 200


def test_oidcc_refresh_may_narrow_but_not_widen_the_scope(store, shopper):
    first = store.tokens(EMAIL, PASSWORD, scope="openid email")
    narrowed = store.refresh(first["refresh_token"], scope="openid").json()
    assert narrowed["scope"] == "openid"
    widened = store.refresh(narrowed["refresh_token"], scope="openid email phone")
    assert widened.json()["error"] == "invalid_scope"


def test_oidcc_pkce_verifier_must_match(store, shopper):
    code = store.code(EMAIL, PASSWORD)
    wrong, _ = pkce_pair()
    response = store.exchange(code, verifier=wrong)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")


def test_oidcc_pkce_verifier_is_required(store, shopper):
    code = store.code(EMAIL, PASSWORD)
    response = store.exchange(code, verifier="")
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


@pytest.mark.parametrize(
    ("extra", "description"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "PKCE is required"),
        ({"code_challenge_method": "plain"}, "S256"),
        ({"code_challenge_method": None}, "S256"),
    ],
    ids=["missing", "plain", "method-missing"],
)
def test_oidcc_pkce_challenge_must_be_s256(store, shopper, extra, description):
    from tests.support.forms import login

    login(store.browser, EMAIL, PASSWORD)
    result = store.follow_to_client(store.authorize(**extra))
    assert result["error"] == "invalid_request"
    assert description in result["error_description"]
    assert result["iss"] == "http://testserver"


def test_oidcc_client_secret_post_authenticates(make_rp, shopper):
    rp = make_rp(name="Post client", auth_method="client_secret_post", first_party=True)
    tokens = rp.tokens(EMAIL, PASSWORD)
    assert rp.verify_id_token(tokens["id_token"])["aud"] == rp.client_id
    # ... and that client may not switch to another method.
    rp.auth_method = "client_secret_basic"
    code = rp.code(EMAIL, PASSWORD)
    assert rp.exchange(code).status_code == 401


def test_oidcc_wrong_client_secret_is_invalid_client(store, shopper):
    code = store.code(EMAIL, PASSWORD)
    store.client_secret = "not-the-secret"
    response = store.exchange(code)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")


def test_codes_expire_after_sixty_seconds(store, shopper, settings, clock):
    code = store.code(EMAIL, PASSWORD)
    clock.tick(settings.code_ttl + timedelta(seconds=1))
    assert store.exchange(code).json()["error"] == "invalid_grant"
