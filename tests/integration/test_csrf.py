"""Every form is CSRF-protected; a refused form changes nothing."""

from __future__ import annotations

import pytest

from identity.accounts.models import BrowserSession, User
from identity.audit.models import AuditEntryRow
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import csrf_token, login, page_text

FORMS = {
    "/signup": {
        "email": "eve@example.com",
        "name": "Eve",
        "password": "long enough password",
        "locale": "en",
    },
    "/login": {"email": "ana@example.com", "password": DEFAULT_PASSWORD},
    "/forgot": {"email": "ana@example.com"},
    "/reset": {"token": "x", "password": "long enough password", "confirm": "long enough password"},
    "/verify/resend": {"email": "ana@example.com"},
    "/logout": {},
    "/account/profile": {"name": "Changed", "locale": "es"},
    "/account/sessions/end-others": {},
    "/account/sessions/end": {"sid": "x"},
}


@pytest.fixture
def signed_in(client, make_user):
    make_user("ana@example.com")
    assert login(client, "ana@example.com", DEFAULT_PASSWORD).status_code == 303
    return client


def snapshot(count_rows, mailbox):
    return (
        count_rows(User),
        count_rows(BrowserSession),
        count_rows(AuditEntryRow),
        len(mailbox.messages()),
    )


@pytest.mark.parametrize("path", FORMS)
@pytest.mark.parametrize(
    "token",
    [None, "", "forged-token", "other-browser"],
    ids=["missing", "empty", "forged", "foreign"],
)
def test_a_form_without_a_valid_token_is_refused_and_changes_nothing(
    signed_in, app, path, token, count_rows, mailbox
):
    from starlette.testclient import TestClient

    before = snapshot(count_rows, mailbox)
    data = dict(FORMS[path])
    if token == "other-browser":
        with TestClient(app, base_url="http://testserver") as other:
            data["csrf_token"] = csrf_token(other)  # valid, but for another browser's cookie
    elif token is not None:
        data["csrf_token"] = token
    response = signed_in.post(path, data=data)
    assert response.status_code == 403
    assert "This form has expired" in page_text(response.text)
    assert snapshot(count_rows, mailbox) == before
    assert signed_in.get("/account").status_code == 200  # still signed in, nothing changed


def test_a_cross_origin_post_is_refused_even_with_a_token(signed_in, count_rows, mailbox):
    before = snapshot(count_rows, mailbox)
    token = csrf_token(signed_in, "/account")
    response = signed_in.post(
        "/logout", data={"csrf_token": token}, headers={"origin": "https://evil.example"}
    )
    assert response.status_code == 403
    response = signed_in.post(
        "/logout", data={"csrf_token": token}, headers={"sec-fetch-site": "cross-site"}
    )
    assert response.status_code == 403
    assert snapshot(count_rows, mailbox) == before


def test_the_same_form_with_its_token_is_accepted(signed_in):
    token = csrf_token(signed_in, "/account")
    response = signed_in.post(
        "/logout", data={"csrf_token": token}, headers={"origin": "http://testserver"}
    )
    assert response.status_code == 303


def test_the_refusal_page_is_localized(client):
    response = client.post("/login?lang=es", data={"email": "x"})
    assert response.status_code == 403
    assert "Este formulario ha caducado" in page_text(response.text)
