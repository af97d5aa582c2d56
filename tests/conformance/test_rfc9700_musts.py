"""RFC 9700 (OAuth 2.0 Security Best Current Practice): one test per MUST, then the SHOULDs
we follow."""

from __future__ import annotations

from datetime import timedelta

import pytest

from identity.errors import InvalidInput
from tests.support.fixtures import DEFAULT_PASSWORD as PASSWORD
from tests.support.forms import login, page_text
from tests.support.rp import query_of

EMAIL = "ana@example.com"


@pytest.fixture
def signed_in(store, shopper):
    login(store.browser, EMAIL, PASSWORD)
    return store


def test_redirect_uris_are_compared_by_exact_string(signed_in):
    """§4.1.3 / §2.1: no prefix, case, trailing-slash, port or query games."""
    for variant in (
        "https://store.example/callback/",
        "https://store.example/callback/../x",
        "https://store.example/callback#frag",
        "https://store.example/CALLBACK",
    ):
        assert signed_in.authorize(redirect_uri=variant).status_code == 400


def test_native_loopback_redirect_uris_may_change_only_the_port(mobile_app, shopper):
    """§2.1 / RFC 8252 §7.3."""
    login(mobile_app.browser, EMAIL, PASSWORD)
    ok = mobile_app.authorize(redirect_uri="http://127.0.0.1:53127/callback")
    assert ok.headers["location"].startswith("http://127.0.0.1:53127/callback?code=")
    for variant in (
        "http://127.0.0.1:53127/other",
        "http://localhost:53127/callback",
        "http://127.0.0.2:53127/callback",
    ):
        assert mobile_app.authorize(redirect_uri=variant).status_code == 400


def test_no_open_redirector_at_login_or_logout(signed_in):
    """§4.11: neither the login ``next`` nor post-logout redirects leave the site unchecked."""
    assert (
        login(signed_in.browser, EMAIL, PASSWORD, next_url="https://evil.example").headers[
            "location"
        ]
        == "/account"
    )
    tokens = signed_in.tokens(EMAIL, PASSWORD)
    response = signed_in.browser.get(
        "/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "https://evil.example/",
        },
    )
    assert not response.headers.get("location", "").startswith("https://evil.example")


def test_pkce_is_required_for_every_client(signed_in):
    """§2.1.1: a confidential first-party client is no exception."""
    result = signed_in.follow_to_client(
        signed_in.authorize(code_challenge=None, code_challenge_method=None)
    )
    assert result["error"] == "invalid_request"


def test_no_pkce_downgrade_a_challenged_code_needs_its_verifier(signed_in):
    """§4.8.2: a code issued with a challenge cannot be redeemed without the verifier."""
    code = signed_in.code(EMAIL, PASSWORD)
    response = signed_in.token_request(
        {"grant_type": "authorization_code", "code": code, "redirect_uri": signed_in.redirect_uri}
    )
    assert response.json()["error"] == "invalid_request"


def test_errors_never_redirect_to_an_unverified_redirect_uri(signed_in):
    """§4.1.2.1 of RFC 6749 as required by §4.1: bad client or URI -> page, not redirect."""
    response = signed_in.authorize(
        client_id="store", redirect_uri="https://evil.example/cb", scope="openid unknown"
    )
    assert response.status_code == 400
    assert "location" not in response.headers


def test_post_to_the_authorization_endpoint_is_answered_with_303(signed_in):
    """§4.11: 307 would make the browser re-post the form to the client."""
    response = signed_in.authorize(method="POST")
    assert response.status_code == 303


def test_consent_decisions_are_answered_with_303(marketplace, shopper):
    login(marketplace.browser, EMAIL, PASSWORD)
    page = marketplace.authorize()
    assert 'action="/authorize/consent"' in page.text
    from tests.support.rp import _field

    response = marketplace.browser.post(
        "/authorize/consent",
        data={
            "csrf_token": _field(page.text, "csrf_token"),
            "interaction": _field(page.text, "interaction"),
            "decision": "allow",
        },
    )
    assert response.status_code == 303


@pytest.mark.parametrize("path", ["/login", "/authorize", "/account"])
def test_interaction_pages_cannot_be_framed(signed_in, path):
    """§4.16: clickjacking protection on pages where the user acts."""
    response = signed_in.browser.get(path)
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"


def test_consent_page_cannot_be_framed(marketplace, shopper):
    login(marketplace.browser, EMAIL, PASSWORD)
    page = marketplace.authorize()
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["referrer-policy"] == "no-referrer"


def test_public_client_refresh_tokens_rotate_with_reuse_detection(mobile_app, shopper):
    """§4.14.2: reuse of a rotated refresh token revokes the whole grant."""
    first = mobile_app.tokens(EMAIL, PASSWORD)
    second = mobile_app.refresh(first["refresh_token"]).json()
    assert second["refresh_token"] != first["refresh_token"]
    reused = mobile_app.refresh(first["refresh_token"])
    assert reused.json()["error"] == "invalid_grant"
    # The legitimate holder's newer token died with the grant.
    assert mobile_app.refresh(second["refresh_token"]).json()["error"] == "invalid_grant"
    userinfo = mobile_app.browser.get(
        "/userinfo", headers={"authorization": f"Bearer {second['access_token']}"}
    )
    assert userinfo.status_code == 401


def test_no_resource_owner_password_grant(store, shopper):
    """§2.4."""
    response = store.token_request(
        {"grant_type": "password", "username": EMAIL, "password": PASSWORD}
    )
    assert response.json()["error"] == "unsupported_grant_type"


def test_no_implicit_or_hybrid_response_types(signed_in):
    """§2.1.2 (SHOULD NOT implicit): only ``code``."""
    for response_type in ("token", "id_token", "code id_token", "code token"):
        result = query_of(signed_in.authorize(response_type=response_type).headers["location"])
        assert result["error"] == "unsupported_response_type"


@pytest.mark.parametrize(
    "uri",
    ["http://store.example/callback", "https://store.example/*", "https://store.example/cb#x"],
)
def test_http_redirect_uris_are_refused_except_on_loopback(make_client, uri):
    """§2.6 / §4.1.1: and no wildcards or fragments either."""
    with pytest.raises(InvalidInput):
        make_client(name="Bad", redirect_uris=[uri])
    assert make_client(name="Dev", redirect_uris=["http://127.0.0.1:8001/cb"]).client


def test_no_cors_on_the_authorization_endpoint(signed_in):
    """§4.11.2 ... the authorization endpoint is navigated to, never fetched."""
    response = signed_in.browser.get(
        "/authorize",
        headers={"origin": "https://evil.example"},
        params=signed_in.authorization_params().params,
    )
    assert "access-control-allow-origin" not in response.headers
    options = signed_in.browser.options(
        "/authorize",
        headers={"origin": "https://evil.example", "access-control-request-method": "GET"},
    )
    assert "access-control-allow-origin" not in options.headers


def test_codes_are_single_use_and_a_replay_revokes_the_tokens(signed_in):
    """§4.2.4 / RFC 6749 §4.1.2."""
    code = signed_in.code(EMAIL, PASSWORD)
    tokens = signed_in.exchange(code).json()
    assert signed_in.exchange(code).json()["error"] == "invalid_grant"
    introspection = signed_in.browser.post(
        "/introspect",
        data={"token": tokens["access_token"]},
        auth=(signed_in.client_id, signed_in.client_secret),
    )
    assert introspection.json() == {"active": False}


def test_every_authorization_response_names_its_issuer(signed_in, store):
    """§4.4 mix-up defence via RFC 9207, in success and error responses."""
    ok = query_of(signed_in.authorize().headers["location"])
    error = query_of(signed_in.authorize(prompt="none login").headers["location"])
    assert ok["iss"] == error["iss"] == "http://testserver"
    assert "error" in error


# -- SHOULDs ---------------------------------------------------------------------------------


def test_access_tokens_are_audience_restricted(make_rp, shopper):
    """RFC 8707 resource indicators: a token for one API is not accepted by another."""
    rp = make_rp(name="Shop", first_party=True, resources=["https://api.shop.example"])
    tokens = rp.tokens(EMAIL, PASSWORD, resource="https://api.shop.example")
    claims = rp.verify(tokens["access_token"]).claims
    assert claims["aud"] == "https://api.shop.example"
    userinfo = rp.browser.get(
        "/userinfo", headers={"authorization": f"Bearer {tokens['access_token']}"}
    )
    assert userinfo.status_code == 401  # userinfo is another audience
    refused = rp.follow_to_client(rp.authorize(resource="https://other.example"))
    assert refused["error"] == "invalid_target"


def test_short_code_lifetime(settings):
    assert settings.code_ttl <= timedelta(seconds=60)


def test_idle_refresh_tokens_expire(store, shopper, settings, clock):
    tokens = store.tokens(EMAIL, PASSWORD)
    clock.tick(settings.refresh_idle_ttl + timedelta(seconds=1))
    assert store.refresh(tokens["refresh_token"]).json()["error"] == "invalid_grant"


def test_refresh_tokens_end_at_the_absolute_lifetime_despite_use(store, shopper, settings, clock):
    token = store.tokens(EMAIL, PASSWORD)["refresh_token"]
    elapsed = timedelta(0)
    step = settings.refresh_idle_ttl - timedelta(days=1)
    while elapsed + step < settings.refresh_absolute_ttl:
        clock.tick(step)
        elapsed += step
        token = store.refresh(token).json()["refresh_token"]
    clock.tick(step)
    assert store.refresh(token).json()["error"] == "invalid_grant"


def test_interaction_pages_send_no_referrer(store, shopper):
    response = store.browser.get(store.authorize().headers["location"])
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "No hemos podido iniciar tu sesión" not in page_text(response.text)
