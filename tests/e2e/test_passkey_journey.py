"""Passkeys in a real browser, in Spanish and English, on a phone (390 px) and a desktop:
add a passkey from the account page, then sign in with it twice: through an authorization
request that asks for a phishing-resistant sign-in (``acr_values=phr``, the
passkey page's button), and from the sign-in page's email field (the browser's autofill).

The authenticator is Chromium's own virtual one (DevTools protocol ``WebAuthn``: CTAP2, an
internal platform authenticator with a resident key and user verification), so the page's
script and the browser run the real ceremonies that py_webauthn then verifies. WebAuthn
needs a secure context and a domain name, so this module's provider is served at
``http://localhost:PORT`` with that as its issuer (RP id ``localhost``), not at the
``127.0.0.1`` of the other journeys: it has its own server and database.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from playwright.sync_api import Page, expect

from identity.audit.refs import Actor
from identity.runtime import Runtime
from identity.settings import Settings
from tests.e2e.conftest import Account
from tests.e2e.harness import Server, ServerFailed, _settings_values, unique_email
from tests.e2e.steps import expect_page, log_in
from tests.support.server import (
    ServerProcess,
    identity_command,
    identity_environment,
    run_identity,
    start_on_free_port,
)

pytestmark = pytest.mark.e2e

TEXTS = {
    "es": {
        "hello": "Hola, {name}",
        "add": "Añadir una llave de acceso",
        "passkeys": "Llaves de acceso",
        "added": "Tu llave de acceso está lista.",
        "with_passkey": "Iniciar sesión con una llave de acceso",
        "sign_out": "Cerrar sesión",
        "made_on": {"phone": "Llave de acceso en Chrome / Android",
                    "desktop": "Llave de acceso en Chrome / Windows"},
    },
    "en": {
        "hello": "Hello, {name}",
        "add": "Add a passkey",
        "passkeys": "Passkeys",
        "added": "Your passkey is ready.",
        "with_passkey": "Sign in with a passkey",
        "sign_out": "Sign out",
        "made_on": {"phone": "Passkey on Chrome / Android",
                    "desktop": "Passkey on Chrome / Windows"},
    },
}  # fmt: skip
CALLBACK = "/e2e-callback"  # a path of the provider's own host: the code is read off the URL


def _start_on_localhost(database_url: str, home: Path) -> Server:
    values = _settings_values(database_url, home / "var", 0)
    run_identity(identity_environment(values), "db", "upgrade", cwd=home)

    def make(port: int) -> ServerProcess:
        values.update(_settings_values(database_url, home / "var", port))
        values["issuer"] = f"http://localhost:{port}"  # RP id "localhost"
        argv = identity_command("serve", "--host", "127.0.0.1", "--port", str(port))
        env = identity_environment(values)
        return ServerProcess(argv, url=values["issuer"], env=env, cwd=home, health_path="/readyz")

    process = start_on_free_port(make)
    return Server(process, Settings(**values), values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def identity_server(new_database, tmp_path_factory) -> Iterator[Server]:
    """This module's provider, at ``http://localhost:PORT`` (overrides the shared one)."""
    try:
        server = _start_on_localhost(
            new_database("identity_e2e_passkeys"), tmp_path_factory.mktemp("e2e-passkeys")
        )
    except ServerFailed as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.process.stop()


@pytest.fixture(scope="session")
def localhost_runtime(identity_server: Server) -> Iterator[Runtime]:
    runtime = Runtime.build(identity_server.settings)
    yield runtime
    runtime.close()


@pytest.fixture(scope="session")
def store_client(identity_server: Server, localhost_runtime: Runtime) -> tuple[str, str]:
    created = localhost_runtime.clients.create(
        actor=Actor.operator("e2e"),
        name="Passkey store",
        client_id="passkey-store",
        redirect_uris=[identity_server.url + CALLBACK],
        first_party=True,
    )
    return created.client.client_id, str(created.client_secret)


def _account(runtime: Runtime, lang: str) -> Account:
    account = Account(unique_email("passkey"), "passkey journey pass", "Lucía Pérez", lang)
    runtime.accounts.create(
        email=account.email,
        password=account.password,
        name=account.name,
        locale=lang,
        verified=True,
        actor=Actor.operator("e2e"),
    )
    return account


def _virtual_authenticator(page: Page) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )


def _authorize_url(server: Server, client_id: str, challenge: str) -> str:
    return "/authorize?" + urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": server.url + CALLBACK,
            "scope": "openid profile",
            "state": secrets.token_urlsafe(8),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "acr_values": "phr",
        }
    )


def _id_token_claims(server: Server, client: tuple[str, str], code: str, verifier: str) -> dict:
    answer = httpx.post(
        server.url + "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": server.url + CALLBACK,
            "code_verifier": verifier,
        },
        auth=client,
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    payload = answer.json()["id_token"].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.mark.parametrize("device", ["phone", "desktop"])
@pytest.mark.parametrize("lang", ["es", "en"])
def test_a_shopper_adds_a_passkey_and_signs_in_with_it(
    lang, device, open_page, screenshot, identity_server, localhost_runtime, store_client
):
    t = TEXTS[lang]
    account = _account(localhost_runtime, lang)
    page = open_page(lang, device)
    _virtual_authenticator(page)

    # Signed in with the password, the account page offers a passkey.
    page.goto("/login")
    expect(page.get_by_role("button", name=t["with_passkey"], exact=True)).to_be_visible()
    # The script offers passkeys in the email field's autofill (conditional mediation).
    expect(page.locator("#email")).to_have_attribute("autocomplete", "username webauthn")
    log_in(page, account, screenshot)
    expect_page(page, lang, t["hello"].format(name=account.name))
    section = page.locator("#passkeys")
    section.scroll_into_view_if_needed()
    screenshot(page, "account-section")
    page.get_by_role("button", name=t["add"], exact=True).click()

    # The browser made it (the virtual authenticator) and the server verified it.
    expect_page(page, lang, t["passkeys"])
    expect(page.get_by_role("status")).to_contain_text(t["added"])
    expect(page.get_by_text(t["made_on"][device], exact=True)).to_be_visible()
    screenshot(page, "passkey-added")

    # A store asks for a phishing-resistant sign-in: this session's password is not enough,
    # so the passkey page comes first (it has no email field, hence no autofill), then the
    # code.
    verifier = secrets.token_urlsafe(32)
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    page.goto(_authorize_url(identity_server, store_client[0], challenge))
    expect(page).to_have_url(re.compile(r"^[^?]*/login/passkey\?"))
    expect_page(page, lang, t["with_passkey"])
    screenshot(page, "passkey-only-sign-in")
    page.get_by_role("button", name=t["with_passkey"], exact=True).click()
    expect(page).to_have_url(re.compile("^[^?]*" + CALLBACK + r"\?"))
    query = parse_qs(urlsplit(page.url).query)
    assert query["iss"] == [identity_server.url]
    claims = _id_token_claims(identity_server, store_client, query["code"][0], verifier)
    assert claims["acr"] == "phr"
    assert claims["amr"] == ["hwk", "user", "mfa"]

    # Signed out again, the sign-in page offers the passkey in the email field's autofill
    # (conditional mediation): the virtual authenticator picks it at once, as a shopper
    # choosing it from the list would, and the shopper is in.
    page.goto("/account")
    page.get_by_role("button", name=t["sign_out"]).first.click()
    expect_page(page, lang, t["hello"].format(name=account.name))
