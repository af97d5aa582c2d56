"""A consent given on the consent screen belongs to the person and session that gave it.

The attack these tests replay: a signed-in attacker opens the marketplace's authorization
request with their own PKCE challenge and ``state``, answers "allow" once the request needs a
fresh sign-in (``max_age`` elapsed), and sends the resulting sign-in link to a victim. Whoever
signs in through that link must be asked themselves; the attacker's "allow" is worth nothing
outside the attacker's own session.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from identity.oidc.models import RememberedConsent
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import login
from tests.support.rp import RelyingParty, _field

VICTIM = "ana@example.com"
OFFLINE = "openid profile email offline_access"


@pytest.fixture
def attacker(app: Any, make_user: Any, marketplace: RelyingParty) -> RelyingParty:
    """The marketplace's authorization requests, driven from the attacker's own browser."""
    make_user("mallory@example.com", name="Mallory")
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as browser:
        login(browser, "mallory@example.com", DEFAULT_PASSWORD)
        yield RelyingParty(
            browser,
            marketplace.client_id,
            marketplace.redirect_uri,
            marketplace.client_secret,
        )


def _answer(rp: RelyingParty, page: Any, decision: str = "allow") -> Any:
    return rp.browser.post(
        "/authorize/consent",
        data={
            "csrf_token": _field(page.text, "csrf_token"),
            "interaction": _field(page.text, "interaction"),
            "decision": decision,
        },
    )


def _sign_in_through(browser: Any, location: str, email: str) -> Any:
    """The victim opens the link and signs in on the page it leads to."""
    next_url = parse_qs(urlsplit(location).query)["next"][0]
    response = login(browser, email, DEFAULT_PASSWORD, next_url=next_url)
    assert response.status_code == 303
    return browser.get(response.headers["location"])


def _remembered(runtime: Any, user_id: Any) -> list[RememberedConsent]:
    with runtime.db.read() as session:
        return list(
            session.scalars(select(RememberedConsent).where(RememberedConsent.user_id == user_id))
        )


def test_a_consent_given_before_sign_in_is_not_carried_to_another_user(
    attacker: RelyingParty, marketplace: RelyingParty, shopper: Any, runtime: Any, clock: Any
) -> None:
    page = attacker.authorize(scope=OFFLINE, max_age="60")
    assert 'action="/authorize/consent"' in page.text
    clock.tick(120)  # the request now needs a fresh sign-in
    to_login = _answer(attacker, page)
    assert to_login.headers["location"].startswith("/login?")

    landed = _sign_in_through(marketplace.browser, to_login.headers["location"], VICTIM)

    assert landed.status_code == 200, landed.headers.get("location")
    assert 'action="/authorize/consent"' in landed.text  # the victim is asked
    assert _remembered(runtime, shopper.id) == []


def test_a_consent_answer_from_another_session_shows_the_screen_again(
    attacker: RelyingParty, marketplace: RelyingParty, shopper: Any, runtime: Any
) -> None:
    page = attacker.authorize(scope=OFFLINE)
    login(marketplace.browser, VICTIM, DEFAULT_PASSWORD)
    # The victim's browser posts the attacker's interaction (e.g. an auto-submitting form).
    form = marketplace.browser.get("/login")
    answered = marketplace.browser.post(
        "/authorize/consent",
        data={
            "csrf_token": _field(form.text, "csrf_token"),
            "interaction": _field(page.text, "interaction"),
            "decision": "allow",
        },
    )
    assert answered.status_code == 200
    assert 'action="/authorize/consent"' in answered.text
    assert _remembered(runtime, shopper.id) == []


def test_the_same_user_signing_in_again_is_asked_again_before_a_code_is_issued(
    marketplace: RelyingParty, shopper: Any, clock: Any
) -> None:
    login(marketplace.browser, VICTIM, DEFAULT_PASSWORD)
    page = marketplace.authorize(scope=OFFLINE, max_age="60")
    clock.tick(120)
    to_login = _answer(marketplace, page)
    landed = _sign_in_through(marketplace.browser, to_login.headers["location"], VICTIM)
    assert 'action="/authorize/consent"' in landed.text
    result = marketplace.follow_to_client(landed)
    assert "code" in result
    assert result["state"] == marketplace.last.state
