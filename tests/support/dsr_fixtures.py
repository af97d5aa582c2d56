"""A customer with something in every table that can hold something about them, for the data
subject request tests; and a dump of the whole database to search for what must be gone."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import MetaData, create_engine, select

from identity.accounts.models import User
from identity.runtime import Runtime
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import submit
from tests.support.oidc_fixtures import MARKET_REDIRECT, STORE_REDIRECT
from tests.support.receiver import Receiver
from tests.support.rp import RelyingParty

# Distinctive, so that finding any of them in a dump means it was not erased.
EMAIL = "eulalia.quintanilla-7f3@correo-dsr.example"
NAME = "Eulalia Quintanilla-Brotóns"
PHONE = "+34 699 480 213"
STREET = "Calle Zurbarán Oteiza 77"
LOCALITY = "Villaquejida de Órbigo"
POSTAL_CODE = "QZ-24230"
PERSONAL = (EMAIL, NAME, PHONE, STREET, LOCALITY, POSTAL_CODE)
CHANNEL_SCOPE = "openid profile email phone address offline_access consent:read consent:write"


@dataclass
class Held:
    """Everything the customer left behind, and the clients and services that saw it."""

    user: User
    browser: Any  # signed in at the provider (the channels' shared browser)
    store: RelyingParty  # first party, back-channel logout
    store_tokens: dict[str, Any]
    marketplace: RelyingParty  # third party, pairwise, back-channel logout
    market_tokens: dict[str, Any]
    visitor: dict[str, Any]  # the store's anonymous id, linked at sign-in
    subscriber: dict[str, Any]  # a service's webhook subscription (with its secret)
    partner: dict[str, Any]  # a pairwise service the customer never signed in to
    reset_link: str  # a recovery link mailed before the erasure


def backend(rp: RelyingParty, scope: str = "consent:read consent:write anonymous:issue") -> Any:
    response = rp.token_request({"grant_type": "client_credentials", "scope": scope})
    assert response.status_code == 200, response.text
    return {"authorization": f"Bearer {response.json()['access_token']}"}


def subscribe(browser: Any, headers: dict[str, str], url: str) -> dict[str, Any]:
    response = browser.post("/v1/webhooks", json={"url": url, "purposes": []}, headers=headers)
    assert response.status_code == 201, response.text
    return {**response.json(), "headers": headers}


def _channels(make_rp: Callable[..., RelyingParty], receiver: Receiver) -> tuple[Any, Any]:
    store = make_rp(
        name="Web store",
        client_id="store",
        redirect_uris=[STORE_REDIRECT],
        first_party=True,
        grant_types=["authorization_code", "refresh_token", "client_credentials"],
        scope=CHANNEL_SCOPE + " anonymous:issue",
        backchannel_logout_uri=receiver.url,
    )
    marketplace = make_rp(
        name="Marketplace",
        client_id="marketplace",
        redirect_uris=[MARKET_REDIRECT],
        subject_type="pairwise",
        scope="openid profile email offline_access",
        backchannel_logout_uri=receiver.url,
    )
    return store, marketplace


def _partner(make_client: Callable[..., Any], browser: Any, url: str) -> dict[str, Any]:
    created = make_client(
        name="Partner",
        client_id="partner",
        redirect_uris=["https://partner.example/cb"],
        grant_types=["authorization_code", "client_credentials"],
        subject_type="pairwise",
        scope="openid consent:read",
    )
    token = browser.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "consent:read"},
        auth=(created.client.client_id, created.client_secret),
    )
    headers = {"authorization": f"Bearer {token.json()['access_token']}"}
    return subscribe(browser, headers, url)


def _leave_traces(held_browser: Any, store: RelyingParty, user: User, writer: Any) -> None:
    """The profile, a preference-center choice, a service's record with chatty evidence."""
    profile = {
        "name": NAME,
        "locale": "es",
        "phone_number": PHONE,
        "street_address": STREET,
        "locality": LOCALITY,
        "postal_code": POSTAL_CODE,
        "country": "ES",
    }
    saved = submit(held_browser, "/account/profile", profile, form_page="/account")
    assert saved.status_code == 303, saved.text
    chosen = submit(held_browser, "/account/privacy", {"purpose.analytics": "off"})
    assert chosen.status_code == 303
    recorded = held_browser.put(
        f"/v1/consents/{user.id}/partner_sharing",
        json={
            "decision": "granted",
            "evidence": {"store": "MAD-3", "note": f"{NAME} phoned from {PHONE}", "email": EMAIL},
        },
        headers=writer,
    )
    assert recorded.status_code == 200, recorded.text
    # A wrong password (a sign-in throttle row) and a reset link (a mail throttle row).
    wrong = submit(held_browser, "/login", {"email": EMAIL, "password": "not it at all"})
    assert wrong.status_code == 401
    assert submit(held_browser, "/forgot", {"email": EMAIL}).status_code == 303


@pytest.fixture
def held(
    make_user: Callable[..., User],
    make_rp: Callable[..., RelyingParty],
    make_client: Callable[..., Any],
    browser: Any,
    writer: dict[str, str],
    reader: dict[str, str],
    receiver: Receiver,
    runtime: Runtime,
    mailbox: Any,
) -> Held:
    user = make_user(EMAIL, name="Eulalia", locale="es")
    store, marketplace = _channels(make_rp, receiver)
    visitor = browser.post("/v1/anonymous", json={}, headers=backend(store)).json()
    banner = browser.put(
        f"/v1/consents/{visitor['anonymous_id']}/personalization",
        json={"decision": "denied"},
        headers=backend(store),
    )
    assert banner.status_code == 200, banner.text
    store_tokens = store.tokens(EMAIL, DEFAULT_PASSWORD, anon_id=visitor["anonymous_id"])
    market_tokens = marketplace.tokens(EMAIL, DEFAULT_PASSWORD, scope="openid email offline_access")
    _leave_traces(browser, store, user, writer)
    subscriber = subscribe(browser, reader, receiver.url)
    partner = _partner(make_client, browser, receiver.url)
    runtime.sequencer.drain()
    runtime.outbox.deliver_due()  # what happened so far reaches the services
    receiver.calls.clear()
    return Held(
        user=user,
        browser=browser,
        store=store,
        store_tokens=store_tokens,
        marketplace=marketplace,
        market_tokens=market_tokens,
        visitor=visitor,
        subscriber=subscriber,
        partner=partner,
        reset_link=mailbox.last_link(EMAIL, "/reset"),
    )


def dump_database(url: str) -> str:
    """Every row of every table as text (reflected from the live schema, so tables the models
    do not know are included), in JSON both with and without escaped non-ASCII characters,
    and, on SQLite, the database's own SQL dump too."""
    engine = create_engine(url)
    try:
        metadata = MetaData()
        metadata.reflect(engine)
        parts = []
        with engine.connect() as connection:
            for table in metadata.sorted_tables:
                for row in connection.execute(select(table)):
                    values = {k: _text(v) for k, v in row._mapping.items()}
                    parts.append(json.dumps([table.name, values], ensure_ascii=False))
                    parts.append(json.dumps([table.name, values], ensure_ascii=True))
            if engine.dialect.name == "sqlite":
                parts.extend(connection.connection.dbapi_connection.iterdump())
        return "\n".join(parts)
    finally:
        engine.dispose()


def _text(value: Any) -> Any:
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("latin-1")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def traces_of(dump: str, values: tuple[str, ...] = PERSONAL) -> list[str]:
    """The values found in the dump, in any spelling the database may have stored."""
    lowered = dump.lower()
    found = []
    for value in values:
        spellings = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
        if any(s.lower() in lowered for s in spellings):
            found.append(value)
    return found
