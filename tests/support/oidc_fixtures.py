"""Clients and relying parties for the provider tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from identity.audit.refs import Actor
from identity.runtime import Runtime
from tests.support.rp import RelyingParty

STORE_REDIRECT = "https://store.example/callback"
APP_REDIRECT = "http://127.0.0.1/callback"
MARKET_REDIRECT = "https://marketplace.example/auth/callback"


@pytest.fixture
def make_client(runtime: Runtime) -> Callable[..., Any]:
    def make(**options: Any) -> Any:
        options.setdefault("name", "Test client")
        options.setdefault("redirect_uris", [STORE_REDIRECT])
        created = runtime.clients.create(actor=Actor.operator("test"), **options)
        runtime.clients.invalidate()
        return created

    return make


@pytest.fixture
def browser(app: Any) -> Any:
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as c:
        yield c


@pytest.fixture
def make_rp(browser: Any, make_client: Callable[..., Any]) -> Callable[..., RelyingParty]:
    def make(**options: Any) -> RelyingParty:
        created = make_client(**options)
        return RelyingParty(
            browser,
            created.client.client_id,
            created.client.redirect_uris[0],
            created.client_secret,
            created.client.auth_method,
        )

    return make


@pytest.fixture
def store(make_rp: Callable[..., RelyingParty]) -> RelyingParty:
    """The retailer's web store: confidential, first party."""
    return make_rp(
        name="Web store",
        client_id="store",
        redirect_uris=[STORE_REDIRECT],
        post_logout_redirect_uris=["https://store.example/bye"],
        first_party=True,
    )


@pytest.fixture
def mobile_app(make_rp: Callable[..., RelyingParty]) -> RelyingParty:
    """The mobile app: public native client, PKCE, loopback redirect."""
    return make_rp(
        name="Shop app",
        client_id="app",
        redirect_uris=[APP_REDIRECT],
        auth_method="none",
        first_party=True,
    )


@pytest.fixture
def marketplace(make_rp: Callable[..., RelyingParty]) -> RelyingParty:
    """A third party with pairwise subjects, shown the consent screen."""
    return make_rp(
        name="Marketplace",
        client_id="marketplace",
        redirect_uris=[MARKET_REDIRECT],
        subject_type="pairwise",
        scope="openid profile email offline_access",
    )


@pytest.fixture
def shopper(make_user: Callable[..., Any], runtime: Runtime) -> Any:
    """A verified customer with every profile claim filled in."""
    from identity.accounts.models import User

    user = make_user("ana@example.com", name="Ana García", locale="es")
    with runtime.db.transaction() as session:
        row = session.get(User, user.id)
        row.phone_number = "+34 600 000 000"
        row.phone_number_verified = True
        row.address = {
            "street_address": "Calle Mayor 1",
            "locality": "Madrid",
            "postal_code": "28013",
            "country": "ES",
        }
    return user
