"""Signing in with an external provider in a real browser, in Spanish and in English, on a
phone and on a desktop: a real upstream (node-oidc-provider), a real ``identity serve``.

This module starts its own server (its providers file names the upstream), so the shared
server's sign-in page stays as the other journeys expect it. Screenshots of every step are in
``artifacts/e2e/<backend>/``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from identity.audit.refs import Actor
from identity.runtime import Runtime
from identity.upstream.linked import LinkedProviders
from tests.e2e.conftest import CALL_FAILED
from tests.e2e.harness import BROWSER_LOCALES, DEVICES, Server, ServerFailed, start_server
from tests.support.upstream_peer import UpstreamPeer, start_upstream

pytestmark = pytest.mark.e2e

TEXTS = {
    "es": {
        "sign_in": "Iniciar sesión",
        "continue": "Continuar con Peer ID",
        "hello": "Hola, {name}",
        "section": "Iniciar sesión con otras cuentas",
        "only_way": "Es la única forma de entrar en tu cuenta",
        "prove": "Confirma que eres tú",
        "with_password": "Iniciar sesión con tu contraseña",
        "mail_me": "Envíame un enlace por correo",
        "check_email": "Revisa tu correo",
        "mailbox": "Buzón de desarrollo",
        "open_link": "Abrir enlace",
        "mail_subject": "Confirma el inicio de sesión con Peer ID",
        "confirm": "Confirmar e iniciar sesión",
        "refused": "No hemos podido iniciar tu sesión",
        "same_browser": "Abre este enlace en el mismo navegador",
        "link_title": "Vincula tu cuenta de Peer ID",
        "link": "Vincular las cuentas",
        "unlink": "Desvincular",
        "email": "Correo electrónico",
        "password": "Contraseña",
    },
    "en": {
        "sign_in": "Sign in",
        "continue": "Continue with Peer ID",
        "hello": "Hello, {name}",
        "section": "Sign in with other accounts",
        "only_way": "This is the only way into your account",
        "prove": "Confirm it is you",
        "with_password": "Sign in with your password",
        "mail_me": "Email me a link",
        "check_email": "Check your email",
        "mailbox": "Development mailbox",
        "open_link": "Open link",
        "mail_subject": "Confirm signing in with Peer ID",
        "confirm": "Confirm and sign in",
        "refused": "We could not sign you in",
        "same_browser": "Open this link in the same browser",
        "link_title": "Link your Peer ID account",
        "link": "Link accounts",
        "unlink": "Unlink",
        "email": "Email",
        "password": "Password",
    },
}
CASES = [("es", "phone"), ("en", "desktop"), ("es", "desktop"), ("en", "phone")]


@pytest.fixture(scope="module")
def upstream_server(
    new_database: Callable[[str], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, UpstreamPeer, Runtime]]:
    """Our server, then the upstream registered for its callback, then the providers file
    (read by the running server when it changes)."""
    home = tmp_path_factory.mktemp("e2e-upstream")
    try:
        server = start_server(new_database("identity_e2e_upstream"), home)
    except ServerFailed as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        peer = start_upstream([f"{server.url}/login/upstream/peer/callback"], home)
    except BaseException:
        server.process.stop()
        raise
    try:
        path = server.settings.var_dir / "upstream.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"providers": {"peer": peer.provider_entry()}}))
        runtime = Runtime.build(server.settings)
        yield server, peer, runtime
        runtime.close()
    finally:
        peer.stop()
        server.process.stop()


@pytest.fixture
def pages(
    request: pytest.FixtureRequest,
    browser: Browser,
    upstream_server: tuple[Server, UpstreamPeer, Runtime],
    artifacts: Any,
) -> Iterator[Callable[[str, str], Page]]:
    """Factory: a page in a fresh browser context on our server; a failing test's pages are
    saved as ``<test>-failed-<n>.png``."""
    server = upstream_server[0]
    contexts = []

    def open_page(lang: str, device: str) -> Page:
        context = browser.new_context(
            base_url=server.url, locale=BROWSER_LOCALES[lang], **DEVICES[device]
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    failed = request.node.stash.get(CALL_FAILED, False)
    for number, context in enumerate(contexts, start=1):
        for page in context.pages if failed else []:
            page.screenshot(path=artifacts.path(f"failed-{number}"), full_page=True)
        context.close()


def address(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}@shop.example"


def heading(page: Page, lang: str, text: str) -> None:
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.get_by_role("heading", level=1)).to_have_text(text)


def continue_with_upstream(page: Page, lang: str, login: str, shot: Callable[..., Any]) -> None:
    """On our sign-in page: "Continue with Peer ID", then sign in at the upstream."""
    t = TEXTS[lang]
    page.goto("/login")
    heading(page, lang, t["sign_in"])
    shot(page, "login-with-upstream-button")
    page.get_by_role("button", name=t["continue"], exact=True).click()
    page.locator('input[name="login"]').fill(login)
    page.locator('input[name="password"]').fill("anything")
    shot(page, "upstream-login")
    page.locator('button[type="submit"]').click()


def open_mailed_link(page: Page, lang: str, to: str, shot: Callable[..., Any]) -> None:
    t = TEXTS[lang]
    mail = page.get_by_role("article").filter(has_text=to).filter(has_text=t["mail_subject"])
    for _ in range(20):  # the server's mail thread writes it just after the response
        page.goto("/dev/mail")
        if mail.count():
            break
    heading(page, lang, t["mailbox"])
    shot(page, "mailbox")
    mail.first.get_by_role("link", name=t["open_link"]).click()


@pytest.mark.parametrize(("lang", "device"), CASES)
def test_a_new_shopper_signs_up_with_the_upstream_and_sees_it_on_the_account_page(
    pages: Callable[[str, str], Page], screenshot: Callable[..., Any], lang: str, device: str
) -> None:
    t = TEXTS[lang]
    page = pages(lang, device)
    email = address("new")
    continue_with_upstream(page, lang, email, screenshot)
    heading(page, lang, t["hello"].format(name=email.split("@")[0]))
    section = page.locator("#upstream")
    expect(section).to_have_text(t["section"])
    expect(page.get_by_text(t["only_way"])).to_be_visible()
    expect(page.get_by_role("button", name=t["unlink"])).to_have_count(0)
    page.locator("#upstream").scroll_into_view_if_needed()
    screenshot(page, "account-with-upstream")


@pytest.mark.parametrize(("lang", "device"), CASES)
def test_an_upstream_account_with_a_victims_address_does_not_get_into_the_victims_account(
    pages: Callable[[str, str], Page],
    screenshot: Callable[..., Any],
    upstream_server: tuple[Server, UpstreamPeer, Runtime],
    lang: str,
    device: str,
) -> None:
    t = TEXTS[lang]
    runtime = upstream_server[2]
    victim_email = address("victim")
    runtime.accounts.create(email=victim_email, password="victim's own password", name="Vera",
                            locale=lang, verified=True, actor=Actor.operator("e2e"))  # fmt: skip
    attacker = pages(lang, device)
    continue_with_upstream(attacker, lang, victim_email, screenshot)  # their upstream says so
    heading(attacker, lang, t["prove"])
    screenshot(attacker, "attacker-asked-to-prove")
    attacker.goto("/account")
    heading(attacker, lang, t["sign_in"])  # not signed in
    attacker.goto("/login/upstream/prove")
    attacker.get_by_role("button", name=t["mail_me"]).click()
    heading(attacker, lang, t["check_email"])
    # The link goes to the victim, who opens it in their own browser: nothing happens.
    victim = pages(lang, device)
    open_mailed_link(victim, lang, victim_email, screenshot)
    victim.get_by_role("button", name=t["confirm"]).click()
    heading(victim, lang, t["refused"])
    expect(victim.get_by_role("alert")).to_contain_text(t["same_browser"])
    screenshot(victim, "victims-browser-refused")
    attacker.goto("/account")
    heading(attacker, lang, t["sign_in"])
    user = runtime.accounts.find_by_email(victim_email)
    assert user is not None
    assert linked_providers(runtime, user.id) == []


@pytest.mark.parametrize(("lang", "device"), CASES[:2])
def test_the_owner_links_with_the_password_then_unlinks(
    pages: Callable[[str, str], Page],
    screenshot: Callable[..., Any],
    upstream_server: tuple[Server, UpstreamPeer, Runtime],
    lang: str,
    device: str,
) -> None:
    t = TEXTS[lang]
    runtime = upstream_server[2]
    email, password = address("owner"), "the owner's password"
    runtime.accounts.create(email=email, password=password, name="Olga", locale=lang,
                            verified=True, actor=Actor.operator("e2e"))  # fmt: skip
    page = pages(lang, device)
    continue_with_upstream(page, lang, email, screenshot)
    heading(page, lang, t["prove"])
    page.get_by_role("link", name=t["with_password"]).click()
    heading(page, lang, t["sign_in"])
    expect(page.get_by_label(t["email"], exact=True)).to_have_value(email)
    page.get_by_label(t["password"], exact=True).fill(password)
    page.get_by_role("button", name=t["sign_in"], exact=True).click()
    heading(page, lang, t["link_title"])
    screenshot(page, "confirm-link")
    page.get_by_role("button", name=t["link"]).click()
    heading(page, lang, t["hello"].format(name="Olga"))
    page.locator("#upstream").scroll_into_view_if_needed()
    screenshot(page, "account-linked")
    page.get_by_role("button", name=t["unlink"]).click()
    expect(page.locator("#upstream")).to_have_text(t["section"])
    expect(page.get_by_role("button", name=t["unlink"])).to_have_count(0)


def linked_providers(runtime: Runtime, user_id: Any) -> list[Any]:
    return LinkedProviders(runtime.db, runtime.upstream.registry).section(user_id).links
