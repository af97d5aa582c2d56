"""Security headers on every response, and no input that produces a 500."""

from __future__ import annotations

import gc
import re
import sys

import pytest
from sqlalchemy import select

from identity.accounts.models import User
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import csrf_token, login, submit

PAGES = [
    "/login",
    "/signup",
    "/signup/sent",
    "/forgot",
    "/forgot/sent",
    "/reset?token=x",
    "/verify?token=x",
    "/logout",
    "/account",
    "/",
    "/no-such-page",
    "/healthz",
    "/readyz",
    "/v1/nothing-here",
    "/static/identity.css",
]


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "signed-in"])
def test_every_response_carries_the_security_headers(client, make_user, path, signed_in):
    if signed_in:
        make_user("ana@example.com")
        login(client, "ana@example.com", DEFAULT_PASSWORD)
    response = client.get(path)
    assert response.status_code < 500
    headers = response.headers
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert "x-request-id" in headers
    assert "strict-transport-security" not in headers  # plain http issuer in tests
    if not path.startswith("/static/"):
        assert headers["cache-control"] == "no-store"


def test_pages_have_no_inline_script_or_style(client):
    for path in ("/login", "/signup", "/forgot", "/logout"):
        html = client.get(path).text
        # Scripts only from our own files (the passkeys' /static/passkeys.js), never inline.
        scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S)
        assert html.count("<script") == len(scripts)
        assert all(re.search(r'src="/static/[\w.-]+\.js"', a) and not b for a, b in scripts)
        assert "style=" not in html
        assert "<style" not in html


def test_a_sane_request_id_is_echoed_and_a_hostile_one_replaced(client):
    assert (
        client.get("/healthz", headers={"x-request-id": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    replaced = client.get("/healthz", headers={"x-request-id": "<script>"}).headers["x-request-id"]
    assert replaced != "<script>"


BAD_BODIES = [
    ("application/x-www-form-urlencoded", b"%%%&&&==="),
    ("application/x-www-form-urlencoded", b"email=%FF%FE&password=%00"),
    ("multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Disposition: form-data\r\n\r\nbroken"),
    ("multipart/form-data", b"no boundary at all"),
    ("application/json", b'{"email": "ana@example.com"}'),
    ("text/plain", b"\x00\x01\x02"),
    (None, b""),
]


@pytest.mark.parametrize(
    "path", ["/login", "/signup", "/forgot", "/reset", "/logout", "/verify/resend"]
)
@pytest.mark.parametrize(("content_type", "body"), BAD_BODIES)
def test_malformed_form_posts_get_a_4xx_page_never_a_5xx(client, path, content_type, body):
    csrf_token(client)  # a real browser cookie, so the CSRF check is not the only defence hit
    headers = {"content-type": content_type} if content_type else {}
    response = client.post(path, content=body, headers=headers)
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("text/html")


def test_oversized_bodies_are_refused_with_413(client):
    response = client.post(
        "/login",
        content=b"a=" + b"x" * 2_000_000,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    "fields",
    [
        {"email": "ana@example.com" * 100, "password": "x" * 5000},
        {"email": "ünïcödé@exämple.com", "password": "pässwörd 🙂 long enough"},
        {"email": "", "password": ""},
        {"email": "a@b.c\r\nBcc: x@y.z", "password": "long enough password"},
    ],
)
def test_odd_but_well_formed_login_input_is_a_normal_failure(client, fields):
    token = csrf_token(client)
    response = client.post("/login", data={"csrf_token": token, **fields})
    assert response.status_code in (401, 400)


def test_weird_query_strings_do_not_break_pages(client):
    for path in (
        "/login?next=%00&lang=%FF",
        "/login?login_hint=" + "x" * 5000,
        "/reset?token=%ZZ",
        "/verify?token[]=1",
    ):
        assert client.get(path).status_code < 500


def test_api_errors_are_problem_json(client):
    response = client.get("/v1/does-not-exist")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 404
    assert body["title"] == "Not found"


def test_unknown_methods_on_pages_are_4xx(client):
    assert client.put("/login").status_code == 405
    assert client.delete("/account").status_code == 405


MULTIPART_WITH_A_FILE = (
    b'--b\r\nContent-Disposition: form-data; name="email"\r\n\r\nana@example.com\r\n'
    b'--b\r\nContent-Disposition: form-data; name="f"; filename="a.txt"\r\n\r\nx\r\n--b--\r\n'
)


@pytest.mark.parametrize(
    "path", ["/login", "/logout", "/authorize", "/revoke", "/introspect", "/unsubscribe/x"]
)
def test_a_file_posted_to_a_form_is_closed_when_the_request_ends(client, monkeypatch, path):
    # Nothing takes a file, but Starlette keeps one in a temporary file until the request's
    # form is closed; left open, it is a ResourceWarning when collected (and a file handle
    # held until then, once it is large enough to spill to disk).
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    response = client.post(
        path,
        content=MULTIPART_WITH_A_FILE,
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    gc.collect()
    assert response.status_code < 500
    assert [repr(u.exc_value) for u in unraisable] == []


@pytest.mark.parametrize(
    ("path", "form_page", "fields"),
    [
        ("/login", "/login", {"email": "ana@example.com\x00", "password": DEFAULT_PASSWORD}),
        ("/signup", "/signup", {"email": "new@example.com", "name": "N\x00", "password": "x" * 12}),
        ("/account/profile", "/account", {"name": "Ana\x00", "locale": "es"}),
        ("/account/sessions/end", "/account", {"sid": "unknown\x00"}),
        ("/account/apps/revoke", "/account/apps", {"client_id": "marketplace\x00"}),
    ],
)
def test_a_nul_in_a_page_form_field_never_reaches_the_database(
    client, make_user, runtime, path, form_page, fields
):
    # PostgreSQL text cannot hold a NUL: comparing or storing one was a 500 there.
    user = make_user("ana@example.com")
    login(client, "ana@example.com", DEFAULT_PASSWORD)
    response = submit(client, path, fields, form_page=form_page)
    assert response.status_code in (303, 400), response.text[:300]
    with runtime.db.read() as session:
        names = session.scalars(select(User.name)).all()
        assert not any("\x00" in name for name in names)
        assert session.get(User, user.id).name != "Ana\x00"
