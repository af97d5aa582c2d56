"""One browser session serves the store, the app and the marketplace."""

from __future__ import annotations

from sqlalchemy import select

from identity.oidc.models import Grant, RememberedConsent
from tests.support.fixtures import DEFAULT_PASSWORD as PASSWORD
from tests.support.forms import login, page_text, submit
from tests.support.rp import _field, query_of

EMAIL = "ana@example.com"


def test_signed_in_at_the_store_the_app_and_marketplace_need_no_password(
    store, mobile_app, marketplace, shopper
):
    store_id = store.verify_id_token(store.tokens(EMAIL, PASSWORD)["id_token"])
    # Same browser: the app gets a code straight away.
    response = mobile_app.authorize()
    assert response.status_code == 303
    app_code = query_of(response.headers["location"])["code"]
    app_tokens = mobile_app.exchange(app_code).json()
    app_id = mobile_app.verify_id_token(app_tokens["id_token"])
    # The marketplace asks for consent once (third party), never for the password.
    page = marketplace.authorize()
    assert "Marketplace quiere acceder a tu cuenta" in page_text(page.text)
    assert "password" not in page.text
    result = marketplace.follow_to_client(page)
    market_id = marketplace.verify_id_token(marketplace.exchange(result["code"]).json()["id_token"])
    assert store_id["sid"] == app_id["sid"]
    assert store_id["sub"] == app_id["sub"] == str(shopper.id)
    # Pairwise: the marketplace cannot correlate the customer with the store, neither by
    # subject nor by session id.
    assert market_id["sub"] != store_id["sub"]
    assert len(market_id["sub"]) == 43
    assert market_id["sid"] != store_id["sid"]


def test_pairwise_subjects_are_stable_and_resolvable(marketplace, shopper, runtime):
    first = marketplace.verify_id_token(marketplace.tokens(EMAIL, PASSWORD)["id_token"])["sub"]
    second = marketplace.verify_id_token(marketplace.tokens(EMAIL, PASSWORD)["id_token"])["sub"]
    assert first == second
    client = runtime.clients.get("marketplace")
    with runtime.db.read() as session:
        assert runtime.oidc.provider.subjects.resolve(session, client, first) == shopper.id


def test_consent_is_remembered_and_can_be_withdrawn_from_the_account(
    marketplace, shopper, runtime, audit_actions
):
    tokens = marketplace.tokens(EMAIL, PASSWORD, scope="openid email offline_access")
    assert "refresh_token" in tokens  # offline_access granted by the user
    again = marketplace.authorize(scope="openid email")
    assert again.status_code == 303  # remembered: no second consent screen
    apps = marketplace.browser.get("/account/apps")
    assert "Marketplace" in page_text(apps.text)
    response = submit(
        marketplace.browser,
        "/account/apps/revoke",
        {"client_id": "marketplace"},
        form_page="/account/apps",
    )
    assert response.headers["location"] == "/account/apps?notice=revoked"
    assert marketplace.refresh(tokens["refresh_token"]).json()["error"] == "invalid_grant"
    with runtime.db.read() as session:
        assert session.scalars(select(RememberedConsent)).all() == []
        assert all(g.revoked_at for g in session.scalars(select(Grant)))
    assert "oidc.consent_withdrawn" in audit_actions()
    assert 'action="/authorize/consent"' in marketplace.authorize().text  # asked again


def test_denying_consent_returns_access_denied(marketplace, shopper):
    login(marketplace.browser, EMAIL, PASSWORD)
    result = marketplace.follow_to_client(marketplace.authorize(), consent="deny")
    assert result["error"] == "access_denied"
    assert result["state"] == marketplace.last.state
    assert result["iss"] == "http://testserver"


def test_prompt_none_for_a_third_party_without_consent_is_consent_required(marketplace, shopper):
    login(marketplace.browser, EMAIL, PASSWORD)
    result = query_of(marketplace.authorize(prompt="none").headers["location"])
    assert result["error"] == "consent_required"


def test_third_parties_get_refresh_tokens_only_with_offline_access(marketplace, shopper):
    without = marketplace.tokens(EMAIL, PASSWORD, scope="openid email")
    assert "refresh_token" not in without


def test_first_party_clients_skip_the_consent_screen(store, shopper):
    login(store.browser, EMAIL, PASSWORD)
    assert store.authorize().status_code == 303


def test_prompt_consent_shows_the_consent_screen_even_to_first_party(store, shopper):
    login(store.browser, EMAIL, PASSWORD)
    page = store.authorize(prompt="consent")
    assert 'action="/authorize/consent"' in page.text
    assert "code" in store.follow_to_client(page)


def test_select_account_lets_the_user_continue_or_switch(store, shopper, make_user):
    make_user("ben@example.com", name="Ben")
    login(store.browser, EMAIL, PASSWORD)
    page = store.authorize(prompt="select_account")
    assert "Continuar como Ana García" in page_text(page.text)
    switch = store.browser.post(
        "/authorize/select",
        data={
            "csrf_token": _field(page.text, "csrf_token"),
            "interaction": _field(page.text, "interaction"),
            "choice": "switch",
        },
    )
    assert switch.headers["location"].startswith("/login?")
    result = store.follow_to_client(switch, email="ben@example.com", password=PASSWORD)
    claims = store.verify_id_token(store.exchange(result["code"]).json()["id_token"])
    assert claims["sub"] != str(shopper.id)


def test_the_login_page_remembers_where_to_go_back(store, shopper):
    response = store.authorize()
    assert response.headers["location"].startswith("/login?next=%2Fauthorize%2Fresume")
    result = store.follow_to_client(response, email=EMAIL, password=PASSWORD)
    assert "code" in result
    assert result["state"] == store.last.state


def test_a_tampered_interaction_token_is_refused(store, shopper):
    login(store.browser, EMAIL, PASSWORD)
    response = store.browser.get("/authorize/resume?interaction=forged.token.value")
    assert response.status_code == 400
    assert "ha tardado demasiado" in page_text(response.text)
