"""Steps more than one journey takes: signing in on the provider's login page, and reading a
demo channel's page (in the shopper's language, as the provider's pages).
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
# The demo relying party's own words, as the shopper reads them.
RP = {
    "es": {
        "not_signed_in": "No has iniciado sesión.",
        "signed_in_as": "Sesión iniciada como {name}.",
        "sign_in": "Iniciar sesión",
        "backchannel": "El proveedor ha cerrado la sesión (cierre por canal trasero).",
        "signed_out_everywhere": "Sesión cerrada en el proveedor y, por tanto, en todos los "
        "canales.",
        "has_refresh": "Tiene un token de renovación (cambia en cada uso).",
    },
    "en": {
        "not_signed_in": "Not signed in.",
        "signed_in_as": "Signed in as {name}.",
        "sign_in": "Sign in",
        "backchannel": "Signed out by the provider (back-channel logout).",
        "signed_out_everywhere": "Signed out at the provider, and so at every channel.",
        "has_refresh": "Has a refresh token (rotated at each use).",
    },
}


def rp_lang(page: Page) -> str:
    """The language a demo channel's page is in (the browser's: asserted by the journeys)."""
    return page.locator("html").get_attribute("lang") or "en"


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
    expect(page.locator("html")).to_have_attribute("lang", account.lang)
    expect(status(page)).to_have_text(RP[account.lang]["signed_in_as"].format(name=account.name))
    expect(page.locator("#userinfo")).to_contain_text(f'"email": "{account.email}"')
    expect(page.locator("#claim-amr")).to_have_text("pwd")
    return Seen(sub=claim(page, "sub"), sid=claim(page, "sid"), auth_time=claim(page, "auth_time"))


def expect_signed_out(page: Page, rp: DemoRp, channel: str) -> None:
    expect(page).to_have_url(re.compile("^" + re.escape(rp.home(channel)) + r"(\?|$)"))
    t = RP[rp_lang(page)]
    expect(status(page)).to_have_text(t["not_signed_in"])
    expect(page.get_by_role("link", name=t["sign_in"], exact=True)).to_be_visible()


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
