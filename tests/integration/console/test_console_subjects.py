"""A subject's consent in the console: the current decision per purpose, every record newest
first with its signed receipt (which verifies against ``/receipts/jwks`` like the customer's
own), the anonymous ids tied to it; looked up by id, email address or anonymous id, and each
look recorded with the officer as actor and no email address anywhere."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from identity.audit.refs import Actor
from identity.context import Origin
from tests.support.console import officer_entries
from tests.support.forms import page_text

ORIGIN = Origin(ip="192.0.2.10", user_agent="test", locale="en")


@pytest.fixture
def customer(runtime, make_user):
    ana = make_user("ana@example.com")
    consent = runtime.consent
    consent.set_choices(str(ana.id), {"personalization": True}, origin=ORIGIN)
    consent.set_choices(str(ana.id), {"partner_sharing": True}, origin=ORIGIN)
    consent.set_choices(str(ana.id), {"personalization": False}, origin=ORIGIN)
    runtime.sequencer.drain()
    return ana


@pytest.fixture
def visitor(runtime, make_client, customer):
    make_client(client_id="web-store", name="Web store")
    anonymous = runtime.anonymous_ids.issue("web-store", datetime.now(UTC))
    runtime.consent.record_for_client(
        client_id="web-store",
        subject=anonymous.key,
        purpose_id="analytics",
        decision="granted",
        collected_at=None,
        locale="en",
        text_hash=None,
        evidence={},
        anonymous=anonymous,
    )
    runtime.linking.link(
        anonymous.token, client_id="web-store", user_id=customer.id, actor=Actor.user(customer.id)
    )
    runtime.sequencer.drain()
    return anonymous


def record_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'href="/admin/receipts/(\d+)"', html)]


def test_a_subjects_page_shows_current_decisions_and_every_record_newest_first(
    officer, customer, runtime
):
    ref = f"user:{customer.id}"
    page = officer.client.get(f"/admin/subjects/{ref}")
    assert page.status_code == 200
    history = runtime.consent.history(str(customer.id))
    assert record_ids(page.text) == [r.id for r in history]  # newest first, all three
    assert record_ids(page.text) == sorted(record_ids(page.text), reverse=True)
    text = page_text(page.text)
    assert "Personalized recommendations" in text or "personalization" in text
    assert "withdrawn" in text
    assert "allowed" in text
    assert "privacy settings" in text
    (viewed,) = officer_entries(runtime, "officer.viewed_subject")
    assert (viewed.actor, viewed.subject) == (f"user:{officer.user.id}", ref)
    assert "example.com" not in json.dumps(viewed.details)


def test_an_officer_downloads_a_records_signed_receipt_that_verifies(
    officer, customer, runtime, client
):
    record = runtime.consent.history(str(customer.id))[-1]
    response = officer.client.get(f"/admin/receipts/{record.id}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/jwt")
    assert f"consent-receipt-{record.id}.jwt" in response.headers["content-disposition"]
    keys = KeySet.import_key_set(client.get("/receipts/jwks").json())
    token = jwt.decode(response.text, keys, algorithms=["RS256", "ES256"])
    assert token.claims["piiPrincipalId"] == str(customer.id)
    assert token.claims["consentReceiptID"] == str(record.id)
    (downloaded,) = officer_entries(runtime, "officer.downloaded_receipt")
    assert downloaded.actor == f"user:{officer.user.id}"
    assert (downloaded.subject, downloaded.details) == (
        f"user:{customer.id}",
        {"record_id": record.id},
    )


def test_a_receipt_of_no_record_is_a_404_page(officer, runtime):
    assert officer.client.get("/admin/receipts/987654").status_code == 404
    assert officer.client.get("/admin/receipts/0").status_code == 400
    assert officer.client.get(f"/admin/receipts/{2**70}").status_code == 400
    assert officer_entries(runtime, "officer.downloaded_receipt") == []


def test_a_subject_is_found_by_email_address_without_it_reaching_a_link(officer, customer, runtime):
    found = officer.client.get("/admin/subjects?subject=ANA%40example.com")
    assert found.status_code == 303
    assert found.headers["location"] == f"/admin/subjects/user:{customer.id}"
    by_id = officer.client.get(f"/admin/subjects/{customer.id}")
    assert by_id.headers["location"] == f"/admin/subjects/user:{customer.id}"
    assert officer_entries(runtime, "officer.viewed_subject") == []  # nothing opened yet


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("nobody@example.com", "No account has that email address."),
        ("client:web-store", "Only accounts and anonymous visitors have consent"),
        ("a_forged", "That is not an anonymous id"),
        ("", "Enter an account id"),
    ],
)
def test_a_lookup_that_names_nobody_says_why_on_the_form(officer, runtime, typed, message):
    page = officer.client.get("/admin/subjects", params={"subject": typed})
    assert page.status_code == 400
    assert message in page_text(page.text)


def test_a_path_naming_nobody_is_a_404_page(officer, runtime):
    for path in ("client:web-store", "nobody@example.com", "user:not-a-uuid", "%00"):
        assert officer.client.get(f"/admin/subjects/{path}").status_code == 404
    assert officer_entries(runtime, "officer.viewed_subject") == []


def test_a_visitors_page_shows_its_records_and_the_account_it_was_linked_to(
    officer, customer, visitor, runtime
):
    by_token = officer.client.get("/admin/subjects", params={"subject": visitor.token})
    assert by_token.headers["location"] == f"/admin/subjects/visitor:{visitor.key}"
    page = officer.client.get(by_token.headers["location"])
    assert page.status_code == 200
    assert record_ids(page.text) == [r.id for r in runtime.consent.history(visitor.key)]
    assert f'href="/admin/subjects/user:{customer.id}"' in page.text
    text = page_text(page.text)
    assert "recorded by the client web-store" in text
    account = officer.client.get(f"/admin/subjects/user:{customer.id}").text
    assert f'href="/admin/subjects/visitor:{visitor.key}"' in account


def test_the_subjects_page_speaks_spanish(officer, customer):
    text = page_text(officer.client.get(f"/admin/subjects/user:{customer.id}?lang=es").text)
    assert "Historial de consentimiento" in text
    assert "Recibo firmado" in text
