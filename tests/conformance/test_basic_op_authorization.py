"""The authorization request modules: response-type-missing, prompt-*, max-age-*,
unknown-parameter, id-token-hint, login-hint, ui-locales, claims-locales, acr-values,
ensure-registered-redirect-uri, ensure-post-request-succeeds, request(-uri)-unsupported,
display-*, claims-essential."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.support.fixtures import DEFAULT_PASSWORD as PASSWORD
from tests.support.forms import login, page_text
from tests.support.rp import query_of

EMAIL = "ana@example.com"
ISSUER = "http://testserver"


@pytest.fixture
def signed_in(store, shopper):
    assert login(store.browser, EMAIL, PASSWORD).status_code == 303
    return store


def test_oidcc_response_type_missing_is_an_error_redirect(signed_in):
    result = signed_in.follow_to_client(signed_in.authorize(response_type=None))
    assert result["error"] in ("invalid_request", "unsupported_response_type")
    assert result["state"] == signed_in.last.state
    assert result["iss"] == ISSUER


def test_oidcc_prompt_none_not_logged_in_returns_login_required(store, shopper):
    result = store.follow_to_client(store.authorize(prompt="none"))
    assert result["error"] == "login_required"
    assert result["state"] == store.last.state
    assert result["iss"] == ISSUER


def test_oidcc_prompt_none_logged_in_issues_a_code_without_interaction(signed_in):
    response = signed_in.authorize(prompt="none")
    assert response.status_code == 303
    result = query_of(response.headers["location"])
    assert "code" in result
    assert signed_in.exchange(result["code"]).status_code == 200


def test_oidcc_prompt_login_forces_a_new_sign_in(signed_in, clock):
    first = signed_in.verify_id_token(signed_in.tokens(EMAIL, PASSWORD)["id_token"])
    clock.tick(5)
    response = signed_in.authorize(prompt="login")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?")
    result = signed_in.follow_to_client(response, password=PASSWORD, email=EMAIL)
    second = signed_in.verify_id_token(signed_in.exchange(result["code"]).json()["id_token"])
    assert second["auth_time"] >= first["auth_time"] + 5
    assert second["sid"] == first["sid"]  # same user signing in again keeps the session


def test_oidcc_max_age_1_requires_a_recent_sign_in(signed_in, clock):
    clock.tick(2)
    response = signed_in.authorize(max_age="1")
    assert response.headers["location"].startswith("/login?")
    result = signed_in.follow_to_client(response, password=PASSWORD, email=EMAIL)
    tokens = signed_in.exchange(result["code"]).json()
    claims = signed_in.verify_id_token(tokens["id_token"])
    assert claims["iat"] - claims["auth_time"] <= 1


def test_oidcc_max_age_10000_reuses_the_session_and_reports_auth_time(signed_in, clock):
    clock.tick(60)
    response = signed_in.authorize(max_age="10000")
    result = query_of(response.headers["location"])
    claims = signed_in.verify_id_token(signed_in.exchange(result["code"]).json()["id_token"])
    assert claims["iat"] - claims["auth_time"] >= 60


def test_oidcc_max_age_must_be_a_number(signed_in):
    result = signed_in.follow_to_client(signed_in.authorize(max_age="soon"))
    assert result["error"] == "invalid_request"


def test_oidcc_unknown_parameter_is_ignored(signed_in):
    result = signed_in.follow_to_client(signed_in.authorize(extra_parameter="ignored", foo="bar"))
    assert "code" in result


@pytest.mark.parametrize("display", ["page", "popup", "touch"])
def test_oidcc_display_values_are_accepted(signed_in, display):
    assert "code" in signed_in.follow_to_client(signed_in.authorize(display=display))


def test_oidcc_claims_essential_is_accepted_without_the_claims_parameter(signed_in):
    claims = '{"userinfo": {"name": {"essential": true}}}'
    assert "code" in signed_in.follow_to_client(signed_in.authorize(claims=claims))


def test_oidcc_id_token_hint_with_prompt_none_for_the_same_user(signed_in):
    id_token = signed_in.tokens(EMAIL, PASSWORD)["id_token"]
    result = signed_in.follow_to_client(signed_in.authorize(prompt="none", id_token_hint=id_token))
    assert "code" in result


def test_oidcc_id_token_hint_for_another_user_is_login_required(signed_in, make_user):
    make_user("ben@example.com")
    ben_token = signed_in.tokens(EMAIL, PASSWORD)["id_token"]
    login(signed_in.browser, "ben@example.com", PASSWORD)
    result = signed_in.follow_to_client(signed_in.authorize(prompt="none", id_token_hint=ben_token))
    assert result["error"] == "login_required"


def test_oidcc_id_token_hint_that_we_did_not_sign_is_refused(signed_in):
    forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    result = signed_in.follow_to_client(signed_in.authorize(id_token_hint=forged))
    assert result["error"] == "invalid_request"


def test_oidcc_login_hint_prefills_the_email(store, shopper):
    response = store.authorize(login_hint=EMAIL)
    page = store.browser.get(response.headers["location"])
    assert f'value="{EMAIL}"' in page.text


def test_oidcc_ui_locales_chooses_the_page_language(store, shopper):
    response = store.authorize(ui_locales="es-ES en")
    page = store.browser.get(response.headers["location"])
    assert '<html lang="es">' in page.text
    assert "Iniciar sesión" in page_text(page.text)


def test_oidcc_claims_locales_is_accepted(signed_in):
    assert "code" in signed_in.follow_to_client(signed_in.authorize(claims_locales="es"))


def test_oidcc_acr_values_are_recorded_and_answered(signed_in, audit_actions, runtime):
    from sqlalchemy import select

    from identity.audit.models import AuditEntryRow

    acr = "urn:identity:acr:password"
    tokens = signed_in.tokens(EMAIL, PASSWORD, acr_values=acr)
    assert signed_in.verify_id_token(tokens["id_token"])["acr"] == acr
    with runtime.db.read() as session:
        entry = session.scalars(
            select(AuditEntryRow).where(AuditEntryRow.action == "oidc.authorized")
        ).all()[-1]
    assert entry.details["acr_values"] == acr


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/callback",
        "https://store.example/callback/",
        "https://STORE.example/callback",
        "https://store.example:8443/callback",
        "https://store.example/callback?x=1",
        "https://store.example/call",
        "https://store.example/callbackx",
        "http://store.example/callback",
    ],
)
def test_oidcc_ensure_registered_redirect_uri_shows_an_error_page(signed_in, redirect_uri):
    response = signed_in.authorize(redirect_uri=redirect_uri)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "No hemos podido iniciar tu sesión" in page_text(response.text)


def test_oidcc_unknown_client_shows_an_error_page(signed_in):
    response = signed_in.authorize(client_id="nobody", redirect_uri="https://evil.example/cb")
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "invalid_client" in response.text


def test_oidcc_ensure_post_request_succeeds(signed_in):
    response = signed_in.authorize(method="POST")
    assert response.status_code == 303
    assert "code" in query_of(response.headers["location"])


def test_oidcc_request_uri_unsupported(signed_in):
    result = signed_in.follow_to_client(signed_in.authorize(request_uri="https://store.example/r"))
    assert result["error"] == "request_uri_not_supported"
    assert result["iss"] == ISSUER


def test_oidcc_request_object_unsupported(signed_in):
    result = signed_in.follow_to_client(signed_in.authorize(request="eyJhbGciOiJub25lIn0.e30."))
    assert result["error"] == "request_not_supported"


def test_oidcc_repeated_parameters_are_refused_without_a_redirect(signed_in):
    """An ambiguous request is not trusted enough to redirect anywhere."""
    params = signed_in.authorization_params().params
    query = urlencode(params) + "&scope=openid+phone"
    response = signed_in.browser.get("/authorize?" + query)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "invalid_request" in response.text


def test_oidcc_response_mode_fragment_is_refused(signed_in):
    result = signed_in.follow_to_client(signed_in.authorize(response_mode="fragment"))
    assert result["error"] == "invalid_request"


def test_oidcc_state_is_passed_through_exactly(signed_in):
    odd_state = "a b/c?d=e&f=ü"
    result = signed_in.follow_to_client(signed_in.authorize(state=odd_state))
    assert result["state"] == odd_state
