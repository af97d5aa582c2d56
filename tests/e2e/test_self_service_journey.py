"""Account self-service in a real browser, JavaScript off, on a 390px phone and on a desktop,
in Spanish and in English: sign in with "keep me signed in" from a second browser (its new-device
alert arrives in the mailbox), change the password from "Sign-in and security" and see the
first browser signed out, change the email address and confirm it from the link mailed to the
new one, then ask for the account to be deleted from the account page. No page is wider than
the screen."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Account
from tests.e2e.harness import DEVICE_LABELS, unique_email
from tests.e2e.steps import LOGIN, expect_page, log_in

pytestmark = pytest.mark.e2e

TEXTS = {
    "es": {
        "hello": "Hola, {name}",
        "keep": "Mantener la sesión iniciada",
        "kept": "sesión mantenida",
        "security": "Inicio de sesión y seguridad",
        "change_password": "Cambiar tu contraseña",
        "change_email": "Cambiar tu dirección de correo",
        "current_password": "Contraseña actual",
        "new_password": "Contraseña nueva",
        "repeat": "Repite la contraseña nueva",
        "sign_out_others": "Cerrar la sesión en mis otros dispositivos",
        "change_password_button": "Cambiar la contraseña",
        "password_changed": (
            "Tu contraseña se ha cambiado. Te hemos enviado un correo para contártelo."
        ),
        "new_email": "Nueva dirección de correo",
        "send_link": "Enviar el enlace de confirmación",
        "link_sent": (
            "Revisa el buzón de tu nueva dirección: le hemos enviado un enlace. Tu dirección "
            "de correo cambiará cuando lo abras."
        ),
        "mailbox": "Buzón de desarrollo",
        "open_link": "Abrir enlace",
        "alert_subject": "Nuevo inicio de sesión en tu cuenta",
        "confirm_subject": "Confirma tu nueva dirección de correo",
        "confirm_heading": "Confirma tu nueva dirección de correo",
        "use_address": "Usar esta dirección",
        "email_changed": (
            "Hecho: esta es ahora tu dirección de correo. Úsala para iniciar sesión a partir "
            "de ahora."
        ),
        "data_link": "Descargar mis datos o eliminar mi cuenta",
        "your_data": "Tus datos personales",
        "erase_password": "Tu contraseña, para eliminar tu cuenta",
        "delete": "Eliminar mi cuenta",
        "requested": (
            "Hecho: tu cuenta se eliminará en la fecha que ves abajo. Te lo hemos "
            "contado en un correo."
        ),
    },
    "en": {
        "hello": "Hello, {name}",
        "keep": "Keep me signed in",
        "kept": "kept signed in",
        "security": "Sign-in and security",
        "change_password": "Change your password",
        "change_email": "Change your email address",
        "current_password": "Current password",
        "new_password": "New password",
        "repeat": "Repeat the new password",
        "sign_out_others": "Sign out my other devices",
        "change_password_button": "Change password",
        "password_changed": "Your password is changed. We have sent you an email about it.",
        "new_email": "New email address",
        "send_link": "Send the confirmation link",
        "link_sent": (
            "Check the inbox of your new address: we have sent it a link. Your email address "
            "changes when you open it."
        ),
        "mailbox": "Development mailbox",
        "open_link": "Open link",
        "alert_subject": "New sign-in to your account",
        "confirm_subject": "Confirm your new email address",
        "confirm_heading": "Confirm your new email address",
        "use_address": "Use this address",
        "email_changed": "Done: this is your email address now. Use it to sign in from now on.",
        "data_link": "Download my data or delete my account",
        "your_data": "Your data",
        "erase_password": "Your password, to delete your account",
        "delete": "Delete my account",
        "requested": (
            "Done: your account will be deleted on the date below. We have sent you an "
            "email about it."
        ),
    },
}
OTHER_DEVICE = {"phone": "desktop", "desktop": "phone"}
DAY = 24 * 3600


def expect_fits(page: Page, width: int) -> None:
    """Nothing sticks out past the right edge of the screen (no sideways scrolling)."""
    found = page.locator("main *").evaluate_all(
        "nodes => nodes.map(n => [n.getBoundingClientRect().right, n.outerHTML.slice(0, 120)])"
    )
    for right, html in found:
        assert right <= width + 0.5, f"{html} ends at {right}px on a {width}px screen"
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page scrolls sideways: {scroll}px on a {width}px screen"


def open_mail(page: Page, lang: str, to: str, subject: str):
    """The newest mail to ``to`` about ``subject`` in the development mailbox."""
    t = TEXTS[lang]
    page.goto("/dev/mail")
    expect_page(page, lang, t["mailbox"])
    mail = page.get_by_role("article").filter(has_text=to).filter(has_text=subject).first
    expect(mail).to_be_visible()
    return mail


def sign_in_kept(page: Page, account: Account, screenshot) -> None:
    """The sign-in form with "keep me signed in" ticked."""
    t, login = TEXTS[account.lang], LOGIN[account.lang]
    page.goto("/login")
    expect_page(page, account.lang, login["sign_in"])
    page.get_by_label(login["email"], exact=True).fill(account.email)
    page.get_by_label(login["password"], exact=True).fill(account.password)
    page.get_by_label(t["keep"], exact=True).check()
    screenshot(page, "sign-in-kept")
    page.get_by_role("button", name=login["sign_in"], exact=True).click()


def change_password(page: Page, account: Account, new: str, screenshot, width: int) -> None:
    t = TEXTS[account.lang]
    page.get_by_role("link", name=t["change_password"], exact=True).click()
    expect_page(page, account.lang, t["change_password"])
    page.get_by_label(t["current_password"], exact=True).fill(account.password)
    page.get_by_label(t["new_password"], exact=True).fill(new)
    page.get_by_label(t["repeat"], exact=True).fill(new)
    expect(page.get_by_label(t["sign_out_others"], exact=True)).to_be_checked()
    expect_fits(page, width)
    screenshot(page, "change-password")
    page.get_by_role("button", name=t["change_password_button"], exact=True).click()
    expect(page.get_by_role("status").first).to_have_text(t["password_changed"])
    expect_fits(page, width)
    screenshot(page, "password-changed")


def change_email(page: Page, account: Account, new_email: str, screenshot, width: int) -> None:
    """Ask for the change, then open the link mailed to the new address and confirm."""
    t = TEXTS[account.lang]
    page.get_by_role("link", name=t["change_email"], exact=True).click()
    expect_page(page, account.lang, t["change_email"])
    page.get_by_label(t["new_email"], exact=True).fill(new_email)
    page.get_by_label(t["current_password"], exact=True).fill(account.password)
    expect_fits(page, width)
    screenshot(page, "change-email")
    page.get_by_role("button", name=t["send_link"], exact=True).click()
    expect(page.get_by_role("status").first).to_have_text(t["link_sent"])
    screenshot(page, "email-link-sent")
    mail = open_mail(page, account.lang, new_email, t["confirm_subject"])
    screenshot(page, "mailbox-confirmation")
    mail.get_by_role("link", name=t["open_link"]).click()
    expect_page(page, account.lang, t["confirm_heading"])
    expect(page.get_by_text(new_email)).to_be_visible()
    expect_fits(page, width)
    screenshot(page, "confirm-new-email")
    page.get_by_role("button", name=t["use_address"], exact=True).click()
    expect(page.get_by_role("status").first).to_have_text(t["email_changed"])
    expect(page.locator(".facts dd").first).to_contain_text(new_email)
    expect_fits(page, width)
    screenshot(page, "email-changed")


@pytest.mark.parametrize("device", ["phone", "desktop"])
@pytest.mark.parametrize("lang", ["es", "en"])
def test_a_shopper_keeps_signed_in_changes_password_and_email_and_asks_for_deletion(
    lang, device, open_page, screenshot, confirmed_account
):
    t = TEXTS[lang]
    account = confirmed_account(lang)
    hello = t["hello"].format(name=account.name)

    # An earlier sign-in on another of the shopper's devices: the account knows that one.
    other = open_page(lang, OTHER_DEVICE[device], javascript=False)
    other.goto("/login")
    log_in(other, account)
    expect_page(other, lang, hello)

    page = open_page(lang, device, javascript=False)
    width = page.viewport_size["width"]
    sign_in_kept(page, account, screenshot)
    expect_page(page, lang, hello)
    this_device = page.locator(".sessions li").filter(has_text=DEVICE_LABELS[device])
    expect(this_device.filter(has_text=t["kept"])).to_have_count(1)
    expect(page.get_by_role("heading", level=2, name=t["security"], exact=True)).to_be_visible()
    expect_fits(page, width)
    screenshot(page, "account")
    session = next(c for c in page.context.cookies() if c["name"] == "identity_session")
    assert session["expires"] > time.time() + 29 * DAY  # kept after the browser closes
    assert session["httpOnly"]

    # This browser was new to the account: the owner was told, with the device's name.
    alert = open_mail(page, lang, account.email, t["alert_subject"])
    expect(alert).to_contain_text(DEVICE_LABELS[device])
    screenshot(page, "mailbox-new-device-alert")
    page.goto("/account")

    new_password = f"a new passphrase {lang} {device}"
    change_password(page, account, new_password, screenshot, width)
    other.goto("/account")  # the other device was signed out
    expect_page(other, lang, LOGIN[lang]["sign_in"])

    account = Account(account.email, new_password, account.name, lang)
    new_email = unique_email(f"moved-{lang}")
    change_email(page, account, new_email, screenshot, width)

    # Deleting the account is one link away, and asks for the (new) password.
    page.get_by_role("link", name=t["data_link"], exact=True).click()
    expect(page).to_have_url(re.compile(r"/account/data$"))
    expect_page(page, lang, t["your_data"])
    page.get_by_label(t["erase_password"], exact=True).fill(new_password)
    screenshot(page, "asks-for-deletion")
    page.get_by_role("button", name=t["delete"], exact=True).click()
    expect(page.get_by_role("status").first).to_have_text(t["requested"])
    expect_fits(page, width)
    screenshot(page, "deletion-requested")
