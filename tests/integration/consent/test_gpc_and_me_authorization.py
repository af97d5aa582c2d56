"""Who may change a customer's consent through the API, and what ``Sec-GPC`` may do.

GPC is the customer's own browser signal: it is honoured on their session and on their own
token through ``/v1/me``, never on a service's read, and never before the caller is checked.
Writing through ``/v1/me`` needs the ``preferences`` scope, which only first-party channels
can be registered for.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from identity.audit.models import AuditEntryRow
from identity.consent.models import ConsentRecord
from identity.errors import InvalidInput
from tests.support.fixtures import DEFAULT_PASSWORD

GPC = {"sec-gpc": "1"}
ANA = "ana@example.com"


def records(runtime: Any) -> list[ConsentRecord]:
    with runtime.db.read() as session:
        return list(session.scalars(select(ConsentRecord).order_by(ConsentRecord.id)))


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"authorization": f"Bearer {tokens['access_token']}"}


@pytest.mark.parametrize("path", ["/partner_sharing", ""])
def test_gpc_on_a_services_read_changes_nothing(browser, reader, customer, runtime, path):
    response = browser.get(f"/v1/consents/{customer.id}{path}", headers={**reader, **GPC})
    assert response.status_code == 200
    assert records(runtime) == []


def test_gpc_from_another_customers_token_is_refused_and_changes_nothing(
    browser, mobile_app, shopper, customer, runtime
):
    other = bearer(mobile_app.tokens(ANA, DEFAULT_PASSWORD, scope="openid preferences"))
    response = browser.get(f"/v1/consents/{customer.id}/partner_sharing", headers={**other, **GPC})
    assert response.status_code == 403
    assert records(runtime) == []


def test_gpc_on_the_customers_own_token_opts_them_out_and_names_the_app(
    mobile_app, shopper, runtime
):
    me = bearer(mobile_app.tokens(ANA, DEFAULT_PASSWORD, scope="openid preferences"))
    body = mobile_app.browser.get("/v1/me/consents", headers={**me, **GPC}).json()
    sharing = {d["purpose"]: d for d in body["decisions"]}["partner_sharing"]
    assert (sharing["allowed"], sharing["reason"]) == (False, "denied")
    [record] = records(runtime)
    assert (record.subject, record.source) == (str(shopper.id), "gpc")
    with runtime.db.read() as session:
        entry = session.scalars(
            select(AuditEntryRow).where(AuditEntryRow.action == "consent.recorded")
        ).one()
    assert entry.actor == f"user:{shopper.id}"
    assert entry.details["via_client"] == "app"


def test_gpc_with_a_token_lacking_the_preferences_scope_is_refused_before_any_write(
    mobile_app, shopper, runtime
):
    me = bearer(mobile_app.tokens(ANA, DEFAULT_PASSWORD))
    response = mobile_app.browser.get("/v1/me/consents", headers={**me, **GPC})
    assert response.status_code == 403
    assert response.json()["required_scope"] == "preferences"
    assert records(runtime) == []


def test_a_third_party_token_cannot_write_the_customers_consent(marketplace, shopper, runtime):
    token = bearer(marketplace.tokens(ANA, DEFAULT_PASSWORD, scope="openid"))
    response = marketplace.browser.put(
        "/v1/me/consents/partner_sharing", json={"allowed": True}, headers=token
    )
    assert response.status_code == 403
    assert response.headers["www-authenticate"].startswith('Bearer error="insufficient_scope"')
    assert records(runtime) == []


def test_a_third_party_asking_for_the_preferences_scope_does_not_get_it(marketplace, shopper):
    tokens = marketplace.tokens(ANA, DEFAULT_PASSWORD, scope="openid preferences")
    assert "preferences" not in tokens["scope"].split()


def test_a_third_party_client_cannot_be_registered_for_the_preferences_scope(make_client):
    with pytest.raises(InvalidInput, match="first-party"):
        make_client(name="Partner", scope="openid preferences")


def test_a_write_through_the_app_records_which_client_wrote_it(mobile_app, shopper, runtime):
    me = bearer(mobile_app.tokens(ANA, DEFAULT_PASSWORD, scope="openid preferences"))
    response = mobile_app.browser.put(
        "/v1/me/consents/personalization", json={"allowed": True}, headers=me
    )
    assert response.status_code == 200
    [record] = records(runtime)
    assert record.source == "api:app"
    with runtime.db.read() as session:
        entry = session.scalars(
            select(AuditEntryRow).where(AuditEntryRow.action == "consent.recorded")
        ).one()
    assert (entry.actor, entry.details["via_client"]) == (f"user:{shopper.id}", "app")
