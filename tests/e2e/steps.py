"""Steps more than one journey takes: signing in on the provider's login page, and reading a
demo channel's page (the demo relying party speaks English; its store's privacy blocks do not).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import Account
from tests.e2e.harness import DemoRp, Server

Screenshot = Callable[[Page, str], Path]

# The provider's login page, as the shopper reads it.
LOGIN = {
    "es": {"sign_in": "Iniciar sesión", "email": "Correo electrónico", "password": "Contraseña"},
    "en": {"sign_in": "Sign in", "email": "Email", "password": "Password"},
}
# The demo relying party's own words (English only).
RP_NOT_SIGNED_IN = "Not signed in."


def expect_page(page: Page, lang: str, heading: str) -> None:
    """The page is in ``lang`` (for screen readers and hyphenation too) and titled ``heading``."""
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)


def expect_provider_page(page: Page, server: Server, lang: str, heading: str) -> None:
    expect(page).to_have_url(re.compile("^" + re.escape(server.url) + "/"))
    expect_page(page, lang, heading)


def log_in(page: Page, account: Account, screenshot: Screenshot | None = None) -> None:
    """On the provider's login page, in the shopper's language: email, password, "Sign in".
    With ``screenshot``, the filled form is pictured as ``provider-login``."""
    t = LOGIN[account.lang]
    expect_page(page, account.lang, t["sign_in"])
    page.get_by_label(t["email"], exact=True).fill(account.email)
    page.get_by_label(t["password"], exact=True).fill(account.password)
    if screenshot is not None:
        screenshot(page, "provider-login")
    page.get_by_role("button", name=t["sign_in"], exact=True).click()


# -- a channel of the demo relying party --------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """What a channel's page shows about the signed-in shopper."""

    sub: str
    sid: str
    auth_time: str


def status(page: Page) -> Locator:
    return page.locator("#status")


def claim(page: Page, name: str) -> str:
    return page.locator(f"#claim-{name}").inner_text()


def expect_signed_in(page: Page, rp: DemoRp, channel: str, account: Account) -> Seen:
    """The channel's page names the shopper and shows the ID token and userinfo."""
    expect(page).to_have_url(rp.home(channel))
    expect(status(page)).to_have_text(f"Signed in as {account.name}.")
    expect(page.locator("#userinfo")).to_contain_text(f'"email": "{account.email}"')
    expect(page.locator("#claim-amr")).to_have_text("pwd")
    return Seen(sub=claim(page, "sub"), sid=claim(page, "sid"), auth_time=claim(page, "auth_time"))


def expect_signed_out(page: Page, rp: DemoRp, channel: str) -> None:
    expect(page).to_have_url(re.compile("^" + re.escape(rp.home(channel)) + r"(\?|$)"))
    expect(status(page)).to_have_text(RP_NOT_SIGNED_IN)
    expect(page.get_by_role("link", name="Sign in", exact=True)).to_be_visible()


# The second factor's pages as a shopper or officer reads them (both journeys use them).
SECOND_FACTOR_TEXTS = {
    "es": {
        "title": "Verificación en dos pasos",
        "set_up": "Configurar una app de autenticación",
        "code_label": "Código de tu app de autenticación",
        "turn_on": "Activar la verificación en dos pasos",
        "codes_title": "Tus códigos de recuperación",
        "saved": "Ya los he guardado: continuar",
        "sign_out": "Cerrar sesión",
        "enter_code": "Introduce tu código",
        "continue": "Continuar",
    },
    "en": {
        "title": "Two-step sign-in",
        "set_up": "Set up an authenticator app",
        "code_label": "Code from your authenticator app",
        "turn_on": "Turn on two-step sign-in",
        "codes_title": "Your recovery codes",
        "saved": "I have saved them: continue",
        "sign_out": "Sign out",
        "enter_code": "Enter your code",
        "continue": "Continue",
    },
}
