"""A shopper who comes from the store goes back to the store: signing up (through the mailed
confirmation link) and resetting a forgotten password both end on the store's page, signed
in, never stranded on the provider's account page. In a real browser, against ``identity
serve`` and the demo relying party, in Spanish and English, on a 390 px phone and a desktop.

The sign-in page says where the shopper is going ("to continue to Web store") and links back
to the store; a refused form starts with a summary that takes the focus; each password field
has a show button. Screenshots of every step are in ``artifacts/e2e/<backend>/``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Account
from tests.e2e.harness import DemoRp, Server, unique_email
from tests.e2e.steps import Screenshot, expect_page, expect_signed_in

pytestmark = pytest.mark.e2e

TEXTS = {
    "es": {
        "sign_in": "Iniciar sesión",
        "continue_to": "para continuar en Web store",
        "back_to": "Volver a Web store",
        "create_an_account": "Crear una cuenta",
        "signup_title": "Crea tu cuenta",
        "name": "Nombre",
        "email": "Correo electrónico",
        "password": "Contraseña",
        "show_password": "Mostrar contraseña",
        "create_account": "Crear cuenta",
        "summary": "Corrige lo siguiente:",
        "name_missing": "Dinos tu nombre.",
        "check_email": "Revisa tu correo",
        "mailbox": "Buzón de desarrollo",
        "open_link": "Abrir enlace",
        "verify_subject": "Confirma tu dirección de correo",
        "verified": "Tu dirección de correo está confirmada. Ya puedes iniciar sesión.",
        "wrong_password": (
            "El correo o la contraseña no son correctos. Revísalos e inténtalo de nuevo."
        ),
        "forgot": "¿Olvidaste tu contraseña?",
        "send_link": "Envíame un enlace",
        "reset_subject": "Restablece tu contraseña",
        "choose_password": "Elige una contraseña nueva",
        "new_password": "Contraseña nueva",
        "repeat_password": "Repite la contraseña nueva",
        "save_password": "Guardar la contraseña nueva",
    },
    "en": {
        "sign_in": "Sign in",
        "continue_to": "to continue to Web store",
        "back_to": "Back to Web store",
        "create_an_account": "Create an account",
        "signup_title": "Create your account",
        "name": "Name",
        "email": "Email",
        "password": "Password",
        "show_password": "Show password",
        "create_account": "Create account",
        "summary": "Please correct the following:",
        "name_missing": "Tell us your name.",
        "check_email": "Check your email",
        "mailbox": "Development mailbox",
        "open_link": "Open link",
        "verify_subject": "Confirm your email address",
        "verified": "Your email address is confirmed. You can sign in now.",
        "wrong_password": "The email or password is not right. Check them and try again.",
        "forgot": "Forgot your password?",
        "send_link": "Send me a link",
        "reset_subject": "Reset your password",
        "choose_password": "Choose a new password",
        "new_password": "New password",
        "repeat_password": "Repeat the new password",
        "save_password": "Save the new password",
    },
}
NAMES = {"es": "Carmen Ruiz", "en": "Olivia Brown"}


def from_the_store_to_sign_in(page: Page, rp: DemoRp, lang: str, screenshot: Screenshot) -> None:
    """At the store, "Sign in": the provider's page says where it leads and how to go back."""
    t = TEXTS[lang]
    page.goto(rp.home("store"))
    page.get_by_role("link", name=t["sign_in"], exact=True).click()  # the store speaks it too
    expect_page(page, lang, t["sign_in"])
    expect(page.get_by_text(t["continue_to"], exact=True)).to_be_visible()
    expect(page.get_by_role("link", name=t["back_to"])).to_have_attribute("href", rp.home("store"))
    screenshot(page, "sign-in-to-continue-to-the-store")


def open_mailed_link(page: Page, lang: str, to: str, subject: str, screenshot: Screenshot) -> None:
    t = TEXTS[lang]
    page.goto("/dev/mail")
    expect_page(page, lang, t["mailbox"])
    mail = page.get_by_role("article").filter(has_text=to).filter(has_text=subject).first
    expect(mail).to_be_visible()
    mail.get_by_role("link", name=t["open_link"]).click()


def show_password_toggles(page: Page, lang: str, field: str) -> None:
    """The show button reveals what was typed and says so (aria-pressed), then hides it."""
    t = TEXTS[lang]
    password = page.get_by_label(t[field], exact=True)
    button = (
        page.locator(".password-field")
        .filter(has=password)
        .get_by_role("button", name=t["show_password"])
    )
    expect(button).to_have_attribute("aria-pressed", "false")
    button.click()
    expect(password).to_have_attribute("type", "text")
    expect(button).to_have_attribute("aria-pressed", "true")
    button.click()
    expect(password).to_have_attribute("type", "password")


@pytest.mark.parametrize(
    ("lang", "device"),
    [pytest.param("es", "phone", id="es-phone"), pytest.param("en", "desktop", id="en-desktop")],
)
def test_a_new_shopper_signs_up_from_the_store_and_ends_back_in_the_store_signed_in(
    lang: str,
    device: str,
    open_page: Callable[..., Page],
    demo_rp: DemoRp,
    identity_server: Server,
    screenshot: Screenshot,
):
    t = TEXTS[lang]
    account = Account(unique_email(f"checkout-{lang}"), "siete sillas verdes 7", NAMES[lang], lang)
    page = open_page(lang, device)
    from_the_store_to_sign_in(page, demo_rp, lang, screenshot)

    page.get_by_role("link", name=t["create_an_account"]).click()
    expect_page(page, lang, t["signup_title"])
    expect(page.get_by_text(t["continue_to"], exact=True)).to_be_visible()
    page.get_by_label(t["email"], exact=True).fill(account.email)
    page.get_by_label(t["password"], exact=True).fill(account.password)
    show_password_toggles(page, lang, "password")
    page.get_by_role("button", name=t["create_account"], exact=True).click()

    # No name: the server says so in the page's language, and the summary takes the focus.
    summary = page.get_by_role("alert").filter(has_text=t["summary"])
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link", name=t["name_missing"])).to_have_attribute("href", "#name")
    expect(page.get_by_label(t["name"], exact=True)).to_have_attribute("aria-invalid", "true")
    screenshot(page, "signup-refused-with-a-summary")
    page.get_by_label(t["name"], exact=True).fill(account.name)
    page.get_by_label(t["password"], exact=True).fill(account.password)
    screenshot(page, "signup-form")
    page.get_by_role("button", name=t["create_account"], exact=True).click()
    expect_page(page, lang, t["check_email"])
    screenshot(page, "check-your-email")

    open_mailed_link(page, lang, account.email, t["verify_subject"], screenshot)
    expect_page(page, lang, t["sign_in"])
    expect(page.get_by_role("status")).to_have_text(t["verified"])
    expect(page.get_by_text(t["continue_to"], exact=True)).to_be_visible()
    expect(page.get_by_label(t["email"], exact=True)).to_have_value(account.email)
    expect(page.get_by_label(t["password"], exact=True)).to_be_focused()
    screenshot(page, "confirmed-sign-in-to-continue")
    page.get_by_label(t["password"], exact=True).fill(account.password)
    page.get_by_role("button", name=t["sign_in"], exact=True).click()

    expect_signed_in(page, demo_rp, "store", account)
    screenshot(page, "back-in-the-store-signed-in")


@pytest.mark.parametrize(
    ("lang", "device"),
    [pytest.param("en", "phone", id="en-phone"), pytest.param("es", "desktop", id="es-desktop")],
)
def test_a_forgotten_password_reset_from_the_store_keeps_the_email_and_ends_in_the_store(
    lang: str,
    device: str,
    open_page: Callable[..., Page],
    demo_rp: DemoRp,
    confirmed_account: Callable[..., Account],
    screenshot: Screenshot,
):
    t = TEXTS[lang]
    account = confirmed_account(lang, name=NAMES[lang])
    new_password = "otra contraseña larga 9" if lang == "es" else "another long password 9"
    page = open_page(lang, device)
    from_the_store_to_sign_in(page, demo_rp, lang, screenshot)

    page.get_by_label(t["email"], exact=True).fill(account.email)
    page.get_by_label(t["password"], exact=True).fill("not my password")
    page.get_by_role("button", name=t["sign_in"], exact=True).click()
    expect(page.get_by_role("alert")).to_have_text(t["wrong_password"])
    page.get_by_role("link", name=t["forgot"]).click()

    expect_page(page, lang, t["forgot"])
    expect(page.get_by_label(t["email"], exact=True)).to_have_value(account.email)
    expect(page.get_by_text(t["continue_to"], exact=True)).to_be_visible()
    screenshot(page, "forgot-keeps-the-email")
    page.get_by_role("button", name=t["send_link"]).click()
    expect_page(page, lang, t["check_email"])

    open_mailed_link(page, lang, account.email, t["reset_subject"], screenshot)
    expect_page(page, lang, t["choose_password"])
    page.get_by_label(t["new_password"], exact=True).fill(new_password)
    page.get_by_label(t["repeat_password"], exact=True).fill(new_password)
    show_password_toggles(page, lang, "repeat_password")
    screenshot(page, "new-password")
    page.get_by_role("button", name=t["save_password"]).click()

    expect_page(page, lang, t["sign_in"])
    expect(page).to_have_url(re.compile(r"/login\?notice=password_reset&.*next="))
    expect(page.get_by_label(t["email"], exact=True)).to_have_value(account.email)
    page.get_by_label(t["password"], exact=True).fill(new_password)
    screenshot(page, "sign-in-with-the-new-password")
    page.get_by_role("button", name=t["sign_in"], exact=True).click()

    expect_signed_in(page, demo_rp, "store", account)
    screenshot(page, "back-in-the-store")
