"""RFC 8058 one-click unsubscribe, and Global Privacy Control on pages and API calls."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy import select
from starlette.testclient import TestClient

from identity.consent.models import ConsentRecord
from tests.support.consent_fixtures import answer_of
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import csrf_token, login, page_text


def grant(browser, writer, customer, purpose):
    response = browser.put(
        f"/v1/consents/{customer.id}/{purpose}", json={"decision": "granted"}, headers=writer
    )
    assert response.status_code == 200, response.text
    return response.json()["decision"]


def test_decisions_for_mail_purposes_carry_the_unsubscribe_url(browser, writer, customer):
    decision = grant(browser, writer, customer, "email_marketing")
    assert decision["unsubscribe_url"].startswith("http://testserver/unsubscribe/")
    personalization = grant(browser, writer, customer, "personalization")
    assert personalization["unsubscribe_url"] is None


def test_one_click_unsubscribe_needs_no_login_and_is_idempotent(
    app, browser, writer, customer, runtime
):
    path = urlsplit(grant(browser, writer, customer, "email_marketing")["unsubscribe_url"]).path
    with TestClient(app, base_url="http://testserver") as mail_client:  # no cookies at all
        first = mail_client.post(path, data={"List-Unsubscribe": "One-Click"})
        second = mail_client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert (first.status_code, second.status_code) == (200, 200)
    answer = answer_of(runtime, str(customer.id), "email_marketing")
    assert (answer.allowed, answer.reason) == (False, "withdrawn")
    with runtime.db.read() as session:
        sources = session.scalars(select(ConsentRecord.source).order_by(ConsentRecord.id)).all()
    assert sources.count("unsubscribe") == 1


def test_the_unsubscribe_link_opened_in_a_browser_asks_first(browser, writer, customer, runtime):
    path = urlsplit(grant(browser, writer, customer, "email_marketing")["unsubscribe_url"]).path
    page = browser.get(path)
    assert page.status_code == 200
    assert "Unsubscribe?" in page_text(page.text)
    # (The grant waits for double opt-in; opening the page did not withdraw it.)
    assert answer_of(runtime, str(customer.id), "email_marketing").reason == "pending"
    assert 'name="List-Unsubscribe" value="One-Click"' in page.text


def test_bad_unsubscribe_requests_change_nothing(browser, writer, customer, runtime):
    path = urlsplit(grant(browser, writer, customer, "email_marketing")["unsubscribe_url"]).path
    assert browser.post(path, data={"List-Unsubscribe": "Maybe"}).status_code == 400
    assert (
        browser.post(path[:-4] + "abcd", data={"List-Unsubscribe": "One-Click"}).status_code == 400
    )
    assert browser.get("/unsubscribe/garbage").status_code == 400
    assert answer_of(runtime, str(customer.id), "email_marketing").reason == "pending"


def test_gpc_json_declares_support(browser):
    body = browser.get("/.well-known/gpc.json").json()
    assert body["gpc"] is True
    assert len(body["lastUpdate"]) == 10


def test_gpc_on_any_page_opts_the_customer_out_of_sharing(
    client, customer, runtime, browser, writer
):
    grant(browser, writer, customer, "partner_sharing")
    login(client, customer.email, DEFAULT_PASSWORD)
    client.get("/account", headers={"sec-gpc": "1"})
    answer = answer_of(runtime, str(customer.id), "partner_sharing")
    assert (answer.allowed, answer.reason) == (False, "withdrawn")
    client.get("/account", headers={"sec-gpc": "1"})  # a second signal records nothing new
    with runtime.db.read() as session:
        records = session.scalars(select(ConsentRecord).where(ConsentRecord.source == "gpc")).all()
    assert [(r.purpose, r.decision, r.evidence) for r in records] == [
        ("partner_sharing", "withdrawn", {"signal": "Sec-GPC: 1"})
    ]
    # Only sale/share purposes are affected.
    assert answer_of(runtime, str(customer.id), "analytics").allowed


def test_without_gpc_nothing_is_recorded(client, customer, runtime):
    login(client, customer.email, DEFAULT_PASSWORD)
    client.get("/account", headers={"sec-gpc": "0"})
    with runtime.db.read() as session:
        assert session.scalars(select(ConsentRecord)).all() == []


def test_an_explicit_grant_after_the_gpc_signal_wins(client, customer, runtime):
    login(client, customer.email, DEFAULT_PASSWORD)
    gpc = {"sec-gpc": "1"}
    client.get("/account", headers=gpc)
    assert answer_of(runtime, str(customer.id), "partner_sharing").reason == "denied"
    token = csrf_token(client, "/account/privacy")
    client.post(
        "/account/privacy",
        data={"csrf_token": token, "purpose.partner_sharing": "on"},
        headers=gpc,
    )
    client.get("/account/privacy", headers=gpc)
    assert answer_of(runtime, str(customer.id), "partner_sharing").allowed
