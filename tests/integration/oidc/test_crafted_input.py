"""Crafted input at the provider's unauthenticated endpoints: each known case of a 500 gets a
4xx with an RFC 6749 error instead, and neither a traceback nor the attacker's text comes back.

RFC 6749 §4.1.2.1: an untrusted client or ``redirect_uri`` gets an error page, never a redirect;
§5.2 (and RFC 7523 §3.2): a client assertion that cannot authenticate the client named in it is
``invalid_client``.
"""

from __future__ import annotations

import logging
import time
import uuid
from urllib.parse import urlencode

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import login, page_text
from tests.support.oidc_fixtures import STORE_REDIRECT
from tests.support.rp import pkce_pair, query_of

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture
def logged_errors(caplog):
    """Records of level ERROR or worse: an unhandled exception is logged there with its
    traceback (and whatever attacker text it carried)."""
    caplog.set_level(logging.ERROR)
    return lambda: [r for r in caplog.records if r.levelno >= logging.ERROR]


def authorize_params(**overrides):
    _, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": "store",
        "redirect_uri": STORE_REDIRECT,
        "scope": "openid",
        "state": "s1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return params


def assert_error_page(response, error, attacker_text, logged_errors):
    assert response.status_code == 400, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    assert "location" not in response.headers
    text = page_text(response.text)
    assert error in text
    assert attacker_text not in text  # (the language links repeat the query, URL-encoded)
    assert "Traceback" not in response.text
    assert logged_errors() == []


def assert_unregistered_redirect_uri_is_an_error_page(browser, logged_errors, uri):
    response = browser.get("/authorize?" + urlencode(authorize_params(redirect_uri=uri)))
    assert_error_page(response, "invalid_request", "evil.example", logged_errors)


def test_an_unregistered_redirect_uri_with_a_quote_gets_an_error_page_not_a_500(
    browser, store, logged_errors
):
    assert_unregistered_redirect_uri_is_an_error_page(
        browser, logged_errors, 'https://evil.example/cb"onload="x'
    )


def test_an_unregistered_redirect_uri_with_a_backslash_gets_an_error_page_not_a_500(
    browser, store, logged_errors
):
    assert_unregistered_redirect_uri_is_an_error_page(
        browser, logged_errors, "https://evil.example\\@store.example/callback"
    )


def test_an_unregistered_redirect_uri_with_a_non_ascii_character_gets_an_error_page_not_a_500(
    browser, store, logged_errors
):
    assert_unregistered_redirect_uri_is_an_error_page(
        browser, logged_errors, "https://evil.example/caf\u00e9"
    )


def test_the_error_page_for_an_unregistered_redirect_uri_is_localized(
    browser, store, logged_errors
):
    response = browser.get(
        "/authorize?" + urlencode(authorize_params(redirect_uri='https://evil.example/"')),
        headers={"accept-language": "es"},
    )
    assert_error_page(response, "invalid_request", "evil.example", logged_errors)
    assert "No hemos podido iniciar tu sesión" in page_text(response.text)


def test_a_response_type_with_a_quote_is_redirected_to_the_client_as_unsupported(
    browser, store, logged_errors
):
    response = browser.get("/authorize?" + urlencode(authorize_params(response_type='co"de')))
    assert response.status_code == 303, response.text[:500]
    location = response.headers["location"]
    assert location.startswith(STORE_REDIRECT + "?")
    result = query_of(location)
    assert result["error"] == "unsupported_response_type"
    assert result["state"] == "s1"
    assert result["iss"] == "http://testserver"
    assert 'co"de' not in result.get("error_description", "")
    assert logged_errors() == []


def test_a_response_type_with_a_quote_from_an_unknown_client_gets_an_error_page_not_a_500(
    browser, logged_errors
):
    response = browser.get(
        "/authorize?" + urlencode(authorize_params(client_id="nobody", response_type='co"de'))
    )
    assert_error_page(response, "unsupported_response_type", 'co"de', logged_errors)


def forged_id_token(kid):
    key = RSAKey.generate_key(2048, private=True)
    claims = {"iss": "http://testserver", "aud": "store", "sub": "x", "iat": int(time.time())}
    return jwt.encode({"alg": "RS256", "kid": kid}, claims, key)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_id_token_hint_whose_kid_has_a_quote_gets_an_error_page_not_a_500(
    browser, store, logged_errors, method
):
    hint = forged_id_token('k"evil')
    if method == "GET":
        response = browser.get("/logout", params={"id_token_hint": hint})
    else:
        response = browser.post("/logout", data={"id_token_hint": hint})
    assert_error_page(response, "invalid_request", 'k"evil', logged_errors)


def test_an_id_token_hint_whose_kid_has_a_non_ascii_character_gets_an_error_page_not_a_500(
    browser, store, logged_errors
):
    response = browser.get("/logout", params={"id_token_hint": forged_id_token("k\u00e9vil")})
    assert_error_page(response, "invalid_request", "k\u00e9vil", logged_errors)


def client_assertion(client_id, kid="k1"):
    key = RSAKey.generate_key(2048, private=True)
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": "http://testserver/token",
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode({"alg": "RS256", "kid": kid}, claims, key)


def assert_invalid_client(response, logged_errors):
    assert response.status_code in (400, 401), response.text[:500]
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == "invalid_client"
    assert "Traceback" not in response.text
    assert logged_errors() == []


def test_a_client_assertion_naming_a_secret_client_is_invalid_client_at_the_token_endpoint(
    browser, store, logged_errors
):
    response = browser.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion("store"),
        },
    )
    assert_invalid_client(response, logged_errors)


def test_a_client_assertion_naming_a_secret_client_is_invalid_client_at_introspection(
    browser, store, logged_errors
):
    response = browser.post(
        "/introspect",
        data={
            "token": "anything",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion("store"),
        },
    )
    assert_invalid_client(response, logged_errors)


def test_a_client_assertion_whose_kid_has_a_quote_is_invalid_client(
    browser, make_client, logged_errors
):
    key = RSAKey.generate_key(2048, parameters={"alg": "RS256"}, private=True)
    make_client(
        name="CRM",
        client_id="crm",
        grant_types=["client_credentials"],
        redirect_uris=[],
        scope="consent:read",
        auth_method="private_key_jwt",
        jwks={"keys": [key.as_dict(private=False)]},
    )
    response = browser.post(
        "/token",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": client_assertion("crm", kid='k"\u00e9'),
        },
    )
    assert_invalid_client(response, logged_errors)
    assert 'k"' not in response.text


@pytest.mark.parametrize(
    "header",
    [b"Basic ", b"Basic  \t", b"Basic \xc3\xa9t\xc3\xa9", b"Basic //46"],
    ids=["empty", "blank", "non-ascii", "not-utf-8"],
)
@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect"])
def test_a_malformed_basic_authorization_header_is_invalid_client_not_a_500(
    browser, store, logged_errors, path, header
):
    response = browser.post(
        path,
        data={"grant_type": "client_credentials", "token": "anything"},
        headers={"authorization": header},
    )
    assert response.status_code == 401, response.text[:500]
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic ")
    assert logged_errors() == []


def test_a_client_id_with_a_nul_is_an_unknown_client_at_every_endpoint(
    browser, store, logged_errors
):
    # PostgreSQL text cannot hold a NUL: looking such a client up was a 500 there.
    client_id = "store\x00"
    page = browser.get("/authorize?" + urlencode(authorize_params(client_id=client_id)))
    assert_error_page(page, "invalid_client", "\x00", logged_errors)
    logout = browser.get("/logout", params={"client_id": client_id, "state": "s"})
    assert logout.status_code == 200  # the confirmation page, for no known client
    for path in ("/token", "/revoke", "/introspect"):
        response = browser.post(
            path,
            data={
                "grant_type": "client_credentials",
                "token": "x",
                "client_id": client_id,
                "client_secret": "s",
            },
        )
        assert (response.status_code, response.json()["error"]) == (400, "invalid_client")
    assert logged_errors() == []


@pytest.mark.parametrize(
    ("name", "value"),
    [("nonce", "n\x00"), ("nonce", "n" * 256), ("acr_values", "a\x00"), ("acr_values", "a" * 256)],
    ids=["nonce-nul", "nonce-long", "acr-nul", "acr-long"],
)
def test_a_nonce_or_acr_values_that_cannot_be_kept_is_invalid_request_not_a_500(
    browser, store, shopper, logged_errors, name, value
):
    # Both are kept with the code and the grant (255 characters; PostgreSQL text has no
    # NUL): issuing the code was a 500 there.
    login(browser, "ana@example.com", DEFAULT_PASSWORD)
    response = browser.get("/authorize?" + urlencode(authorize_params(**{name: value})))
    assert response.status_code == 303, response.text[:500]
    result = query_of(response.headers["location"])
    assert (result["error"], result["state"]) == ("invalid_request", "s1")
    assert logged_errors() == []
