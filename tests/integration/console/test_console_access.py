"""Only privacy officers open the console: a customer gets a 403 page on every console
address (and nothing is written), a signed-out browser is sent to sign in first, and a role
revoked from the command line closes the console at the next request."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from identity.audit.models import AuditEntryRow
from identity.context import OFFICER
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import csrf_token, login, page_text

PAGES = [
    "/admin",
    "/admin/audit",
    "/admin/audit?action=login&size=25",
    "/admin/audit/0",
    "/admin/subjects?subject=someone@example.com",
    "/admin/subjects/user:4bfad246-9c42-443e-915e-892fa0e4ba81",
    "/admin/receipts/1",
]


def officer_entries(runtime) -> int:
    with runtime.db.read() as session:
        query = select(func.count()).where(AuditEntryRow.action.startswith("officer."))
        return int(session.scalar(query) or 0)


@pytest.mark.parametrize("path", PAGES)
def test_a_customer_gets_a_403_page_on_every_console_page(client, runtime, make_user, path):
    customer = make_user()
    login(client, customer.email, DEFAULT_PASSWORD)
    runtime.sequencer.drain()
    response = client.get(path)
    assert response.status_code == 403
    assert "This page is for privacy officers" in page_text(response.text)
    assert officer_entries(runtime) == 0


def test_a_customer_cannot_export_even_with_a_valid_form_token(client, runtime, make_user):
    customer = make_user()
    login(client, customer.email, DEFAULT_PASSWORD)
    runtime.sequencer.drain()
    token = csrf_token(client, "/account")
    response = client.post("/admin/audit/export", data={"csrf_token": token, "format": "jsonl"})
    assert response.status_code == 403
    assert officer_entries(runtime) == 0


@pytest.mark.parametrize("path", PAGES)
def test_a_signed_out_browser_is_sent_to_sign_in_and_back(client, runtime, path):
    response = client.get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=/admin")
    assert officer_entries(runtime) == 0


def test_a_signed_out_export_is_sent_to_sign_in(client):
    token = csrf_token(client, "/login")
    response = client.post("/admin/audit/export", data={"csrf_token": token, "format": "csv"})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=/admin/audit/export")


def test_revoking_the_role_closes_the_console_at_the_next_request(officer, runtime):
    assert officer.client.get("/admin").status_code == 200
    runtime.accounts.revoke_role(officer.user.email, OFFICER, operator="test")
    assert officer.client.get("/admin").status_code == 403


def test_an_export_form_from_another_site_is_refused(officer, runtime):
    runtime.sequencer.drain()
    forged = officer.client.post(
        "/admin/audit/export",
        data={"csrf_token": "forged", "format": "jsonl"},
        headers={"origin": "https://evil.example"},
    )
    assert forged.status_code == 403
    assert officer_entries(runtime) == 0
