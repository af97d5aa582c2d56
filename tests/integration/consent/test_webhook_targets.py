"""Webhooks cannot be pointed at the provider's own network, and never introduce a customer
to a pairwise client they did not sign in to."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from sqlalchemy import func, select

from identity.app import create_app
from identity.outbox.destinations import Destinations
from identity.runtime import Runtime
from identity.subjects.models import SubjectAlias
from tests.support.oidc_fixtures import MARKET_REDIRECT

INTERNAL = [
    "http://127.0.0.1:8000/hook",
    "https://127.0.0.1:22/",
    "https://169.254.169.254/latest/meta-data/",
    "https://10.0.0.1/hook",
    "https://172.16.0.1/",
    "https://192.168.1.1/",
    "https://100.64.0.1/",  # CGNAT
    "https://224.0.0.1/",  # multicast
    "https://0.0.0.0/",
    "https://[::1]/hook",
    "https://[fe80::1]/",
    "https://[fd00::1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
    "https://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
    "https://user:pw@hooks.example/",
    "ftp://hooks.example/",
]


@pytest.fixture
def production_app(make_settings: Any) -> Any:
    """The app with the production default: no network exempt from the rule."""
    settings = make_settings(webhook_allowed_networks="")
    runtime = Runtime.build(settings)
    yield create_app(settings, runtime=runtime)
    runtime.close()


@pytest.fixture
def production_browser(production_app: Any) -> Any:
    from starlette.testclient import TestClient

    with TestClient(production_app, base_url="http://testserver") as client:
        yield client


def deliver(runtime):
    """What the server's threads do: place committed records (which queues their webhooks),
    then deliver what is due."""
    runtime.sequencer.drain()
    return runtime.outbox.deliver_due()


def subscribe(browser: Any, headers: dict[str, str], url: str) -> Any:
    return browser.post("/v1/webhooks", json={"url": url}, headers=headers)


@pytest.mark.parametrize("url", INTERNAL)
def test_a_webhook_to_an_internal_address_is_refused_at_subscription(
    production_browser, service_headers, url
):
    reader = service_headers("consent:read")
    response = production_browser.post("/v1/webhooks", json={"url": url}, headers=reader)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == "url"


def test_a_name_that_resolves_to_a_private_address_is_refused(browser, reader, runtime: Runtime):
    runtime.outbox.destinations = Destinations(
        (), resolver=lambda host, port: [ipaddress.ip_address("10.1.2.3")]
    )
    assert subscribe(browser, reader, "https://crm.shop.example/hook").status_code == 422


def test_a_name_that_rebinds_to_loopback_after_subscribing_gets_no_delivery(
    browser, reader, writer, customer, runtime: Runtime, receiver
):
    answers = {"hooks.example": [ipaddress.ip_address("93.184.216.34")]}
    runtime.outbox.destinations = Destinations((), resolver=lambda host, port: answers[host])
    assert subscribe(browser, reader, "https://hooks.example/receive").status_code == 201
    answers["hooks.example"] = [ipaddress.ip_address("127.0.0.1")]  # DNS rebinding
    browser.put(
        f"/v1/consents/{customer.id}/personalization", json={"decision": "granted"}, headers=writer
    )
    [attempt] = deliver(runtime)
    assert not attempt.ok
    assert attempt.error == (
        "undeliverable: the target must resolve only to public internet addresses"
    )
    assert receiver.calls == []


def test_deliveries_go_to_the_checked_address_with_the_original_host_name(
    browser, reader, writer, customer, runtime: Runtime, receiver
):
    port = receiver.url.split(":")[2].split("/")[0]
    runtime.outbox.destinations = Destinations(
        (ipaddress.ip_network("127.0.0.1/32"),),
        resolver=lambda host, p: [ipaddress.ip_address("127.0.0.1")],
    )
    assert subscribe(browser, reader, f"http://hooks.example:{port}/receive").status_code == 201
    browser.put(
        f"/v1/consents/{customer.id}/personalization", json={"decision": "granted"}, headers=writer
    )
    assert [a.ok for a in deliver(runtime)] == [True]
    assert receiver.calls[0].headers["host"] == f"hooks.example:{port}"


def test_a_failed_delivery_reports_no_network_detail(browser, reader, writer, customer, runtime):
    with __import__("socket").socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    subscription = subscribe(browser, reader, f"http://127.0.0.1:{closed}/hook").json()
    browser.put(
        f"/v1/consents/{customer.id}/personalization", json={"decision": "granted"}, headers=writer
    )
    deliver(runtime)
    deliveries = browser.get(f"/v1/webhooks/{subscription['id']}/deliveries", headers=reader)
    assert [d["last_error"] for d in deliveries.json()] == ["no response"]


@pytest.fixture
def pairwise_partner(make_client: Any, browser: Any) -> dict[str, str]:
    """A pairwise client that also calls the API as a service."""
    created = make_client(
        name="Partner",
        client_id="partner",
        redirect_uris=[MARKET_REDIRECT],
        grant_types=["authorization_code", "client_credentials"],
        subject_type="pairwise",
        scope="openid consent:read",
    )
    token = browser.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "consent:read"},
        auth=(created.client.client_id, created.client_secret),
    )
    assert token.status_code == 200, token.text
    return {"authorization": f"Bearer {token.json()['access_token']}"}


def test_a_pairwise_client_gets_no_webhook_for_a_customer_who_never_signed_in_to_it(
    browser, pairwise_partner, writer, customer, runtime: Runtime, receiver
):
    assert subscribe(browser, pairwise_partner, receiver.url).status_code == 201
    browser.put(
        f"/v1/consents/{customer.id}/partner_sharing", json={"decision": "granted"}, headers=writer
    )
    deliver(runtime)
    assert receiver.calls == []
    with runtime.db.read() as session:
        assert session.scalar(select(func.count()).select_from(SubjectAlias)) == 0
    feed = browser.get("/v1/consents/changes", headers=pairwise_partner).json()
    assert feed["items"] == []
