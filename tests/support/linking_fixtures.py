"""The web store as a linking channel: its backend issues anonymous ids and records the
visitors' banner choices; its front end signs customers in with ``anon_id``."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from identity.audit.models import AuditEntryRow
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.oidc_fixtures import STORE_REDIRECT
from tests.support.rp import RelyingParty

ANA = "ana@example.com"
CHANNEL_SCOPE = "openid profile email preferences consent:read consent:write anonymous:issue"


@pytest.fixture
def channel(make_rp: Any) -> RelyingParty:
    """The web store: signs customers in and, from its backend, keeps visitors' choices."""
    return make_rp(
        name="Web store",
        client_id="store",
        redirect_uris=[STORE_REDIRECT],
        first_party=True,
        grant_types=["authorization_code", "refresh_token", "client_credentials"],
        scope=CHANNEL_SCOPE,
    )


def backend(rp: RelyingParty) -> dict[str, str]:
    """The channel's backend token (client credentials)."""
    response = rp.token_request(
        {"grant_type": "client_credentials", "scope": "consent:read consent:write anonymous:issue"}
    )
    assert response.status_code == 200, response.text
    return {"authorization": f"Bearer {response.json()['access_token']}"}


def new_visitor(rp: RelyingParty) -> dict[str, Any]:
    response = rp.browser.post("/v1/anonymous", json={}, headers=backend(rp))
    assert response.status_code == 200, response.text
    return response.json()


def banner(rp: RelyingParty, visitor: dict[str, Any], **choices: str) -> None:
    """The cookie banner's choice, recorded by the channel's backend."""
    for purpose, decision in choices.items():
        response = rp.browser.put(
            f"/v1/consents/{visitor['anonymous_id']}/{purpose}",
            json={"decision": decision},
            headers=backend(rp),
        )
        assert response.status_code == 200, response.text


def sign_in(rp: RelyingParty, visitor: dict[str, Any] | None, email: str = ANA) -> dict[str, Any]:
    extra = {"anon_id": visitor["anonymous_id"]} if visitor else {}
    return rp.tokens(email, DEFAULT_PASSWORD, **extra)


def actions(runtime: Any, prefix: str = "link.") -> list[tuple[str, dict[str, Any]]]:
    with runtime.db.read() as session:
        rows = session.execute(
            select(AuditEntryRow.action, AuditEntryRow.details)
            .where(AuditEntryRow.action.startswith(prefix))
            .order_by(AuditEntryRow.id)
        ).all()
    return [(a, d) for a, d in rows]
