"""How the shopper signed in reaches the relying party: ``amr`` and ``acr`` in the ID token,
and ``acr_values=phr`` making a password session sign in with a passkey before a code."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support import passkeys
from tests.support.fixtures import DEFAULT_PASSWORD as PASSWORD
from tests.support.forms import login
from tests.support.rp import query_of
from tests.support.webauthn import SoftwareAuthenticator

EMAIL = "ana@example.com"


@pytest.fixture
def phone(store, shopper) -> SoftwareAuthenticator:
    """Ana signed in with her password, with a passkey on her phone."""
    authenticator = SoftwareAuthenticator()
    assert login(store.browser, EMAIL, PASSWORD).status_code == 303
    assert passkeys.register(store.browser, authenticator).status_code == 303
    return authenticator


def next_of(location: str) -> str:
    return parse_qs(urlsplit(location).query)["next"][0]


def test_discovery_offers_the_phishing_resistant_acr(client):
    metadata = client.get("/.well-known/openid-configuration").json()
    assert metadata["acr_values_supported"] == ["urn:identity:acr:password", "phr"]


def test_a_password_session_says_pwd_and_the_password_acr(store, phone):
    claims = store.verify_id_token(store.tokens(EMAIL, PASSWORD)["id_token"])
    assert claims["amr"] == ["pwd"]
    assert claims["acr"] == "urn:identity:acr:password"


def test_acr_phr_from_a_password_session_signs_in_with_a_passkey_first(store, phone, audit_actions):
    asked = store.authorize(acr_values="phr")
    assert asked.status_code == 303
    location = asked.headers["location"]
    assert location.startswith("/login/passkey?")  # not the password form
    assert 'action="/login/passkey"' in store.browser.get(location).text
    signed_in = passkeys.sign_in(store.browser, phone, next_url=next_of(location))
    assert signed_in.headers["location"] == next_of(location)  # the flow resumes
    result = store.follow_to_client(signed_in)
    claims = store.verify_id_token(store.exchange(result["code"]).json()["id_token"])
    assert claims["acr"] == "phr"
    assert claims["amr"] == ["hwk", "user", "mfa"]
    assert audit_actions()[-2:] == ["login.succeeded", "oidc.authorized"]


def test_a_passkey_session_meets_phr_without_signing_in_again(store, phone):
    store.browser.cookies.clear()
    signed_in = passkeys.sign_in(store.browser, phone)
    assert signed_in.status_code == 303
    response = store.authorize(acr_values="phr", prompt="none")
    result = query_of(response.headers["location"])
    claims = store.verify_id_token(store.exchange(result["code"]).json()["id_token"])
    assert claims["acr"] == "phr"


def test_acr_phr_with_prompt_none_from_a_password_session_is_login_required(store, phone):
    result = store.follow_to_client(store.authorize(acr_values="phr", prompt="none"))
    assert result["error"] == "login_required"
    assert "code" not in result


def test_without_a_session_acr_phr_goes_straight_to_the_passkey_page(store, shopper):
    response = store.authorize(acr_values="phr")
    assert response.headers["location"].startswith("/login/passkey?")


def test_the_least_demanding_known_acr_is_the_floor_and_unknown_ones_are_ignored(store, phone):
    for values in ("urn:identity:acr:password phr", "1 2", "urn:example:gold"):
        response = store.authorize(acr_values=values)
        assert response.status_code == 303, values
        assert "code" in query_of(response.headers["location"]), values


def test_max_age_with_phr_signs_in_again_with_a_passkey(store, phone, clock):
    store.browser.cookies.clear()
    assert passkeys.sign_in(store.browser, phone).status_code == 303
    clock.tick(5)
    response = store.authorize(acr_values="phr", max_age="1")
    location = response.headers["location"]
    assert location.startswith("/login/passkey?")  # straight to a passkey, not the password
    signed_in = passkeys.sign_in(store.browser, phone, next_url=next_of(location))
    result = store.follow_to_client(signed_in)
    claims = store.verify_id_token(store.exchange(result["code"]).json()["id_token"])
    assert claims["acr"] == "phr"
