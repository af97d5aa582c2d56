"""A shopper's account journeys, in a real browser, in Spanish and in English.

Each test reads as the journey it proves. Texts are asserted as the shopper reads them, so a
missing translation or a page in the wrong language fails here. Screenshots of every step are in
``artifacts/e2e/<backend>/``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.harness import DEVICE_LABELS, unique_email

pytestmark = pytest.mark.e2e

TEXTS = {
    "es": {
        "signup_title": "Crea tu cuenta",
        "name": "Nombre",
        "email": "Correo electrónico",
        "password": "Contraseña",
        "preferred_language": "Idioma preferido",
        "create_account": "Crear cuenta",
        "create_an_account": "Crear una cuenta",
        "check_email": "Revisa tu correo",
        "check_email_signup": (
            "Te hemos enviado un enlace para confirmar tu dirección de correo. "
            "Ábrelo para terminar de crear tu cuenta."
        ),
        "check_email_reset": (
            "Si existe una cuenta con esa dirección, le hemos enviado un enlace para elegir una "
            "contraseña nueva. El enlace sirve una sola vez y caduca pronto."
        ),
        "mailbox": "Buzón de desarrollo",
        "open_link": "Abrir enlace",
        "verify_subject": "Confirma tu dirección de correo",
        "reset_subject": "Restablece tu contraseña",
        "sign_in": "Iniciar sesión",
        "verified": "Tu dirección de correo está confirmada. Ya puedes iniciar sesión.",
        "hello": "Hola, {name}",
        "my_account": "Mi cuenta",
        "confirmed": "confirmado",
        "this_device": "este dispositivo",
        "sign_out": "Cerrar sesión",
        "signed_out": "Has cerrado la sesión.",
        "forgot": "¿Olvidaste tu contraseña?",
        "send_link": "Envíame un enlace",
        "choose_password": "Elige una contraseña nueva",
        "new_password": "Contraseña nueva",
        "repeat_password": "Repite la contraseña nueva",
        "save_password": "Guardar la contraseña nueva",
        "password_changed": (
            "Se ha cambiado tu contraseña y se han cerrado tus otras sesiones. "
            "Inicia sesión con la contraseña nueva."
        ),
        "wrong_password": (
            "El correo o la contraseña no son correctos. Revísalos e inténtalo de nuevo."
        ),
    },
    "en": {
        "signup_title": "Create your account",
        "name": "Name",
        "email": "Email",
        "password": "Password",
        "preferred_language": "Preferred language",
        "create_account": "Create account",
        "create_an_account": "Create an account",
        "check_email": "Check your email",
        "check_email_signup": (
            "We have sent you a link to confirm your email address. "
            "Open it to finish creating your account."
        ),
        "check_email_reset": (
            "If an account exists for that address, we have sent it a link to choose a new "
            "password. The link works once and expires soon."
        ),
        "mailbox": "Development mailbox",
        "open_link": "Open link",
        "verify_subject": "Confirm your email address",
        "reset_subject": "Reset your password",
        "sign_in": "Sign in",
        "verified": "Your email address is confirmed. You can sign in now.",
        "hello": "Hello, {name}",
        "my_account": "My account",
        "confirmed": "confirmed",
        "this_device": "this device",
        "sign_out": "Sign out",
        "signed_out": "You are signed out.",
        "forgot": "Forgot your password?",
        "send_link": "Send me a link",
        "choose_password": "Choose a new password",
        "new_password": "New password",
        "repeat_password": "Repeat the new password",
        "save_password": "Save the new password",
        "password_changed": (
            "Your password was changed and your other sessions were signed out. "
            "Sign in with the new password."
        ),
        "wrong_password": "The email or password is not right. Check them and try again.",
    },
}
NAMES = {"es": "María José Núñez", "en": "Jane Shopper"}


# -- steps a shopper takes ----------------------------------------------------------------


def expect_page(page: Page, lang: str, heading: str) -> None:
    """The page is in ``lang`` (for screen readers and hyphenation too) and titled ``heading``."""
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)


def open_mailed_link(
    page: Page, lang: str, to: str, subject: str, screenshot: Callable[[Page, str], object]
) -> None:
    """Read the newest mail to ``to`` about ``subject`` and follow its link, as in a mail app."""
    t = TEXTS[lang]
    page.goto("/dev/mail")
    expect_page(page, lang, t["mailbox"])
    mail = page.get_by_role("article").filter(has_text=to).filter(has_text=subject).first
    expect(mail).to_be_visible()
    screenshot(page, "mailbox")
    mail.get_by_role("link", name=t["open_link"]).click()


def sign_in(page: Page, lang: str, email: str, password: str) -> None:
    t = TEXTS[lang]
    page.get_by_label(t["email"], exact=True).fill(email)
    page.get_by_label(t["password"], exact=True).fill(password)
    page.get_by_role("button", name=t["sign_in"], exact=True).click()


# -- journeys -----------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["es", "en"])
def test_a_new_shopper_signs_up_confirms_the_email_signs_in_and_out_on_a_phone(
    lang, open_page, screenshot
):
    t = TEXTS[lang]
    name, email, password = NAMES[lang], unique_email(f"signup-{lang}"), "tres tristes tigres 42"
    page = open_page(lang, "phone")

    page.goto("/signup")
    expect_page(page, lang, t["signup_title"])
    # The form offers the language the browser asked for.
    expect(page.get_by_label(t["preferred_language"])).to_have_value(lang)
    page.get_by_label(t["name"], exact=True).fill(name)
    page.get_by_label(t["email"], exact=True).fill(email)
    page.get_by_label(t["password"], exact=True).fill(password)
    screenshot(page, "signup-form")
    page.get_by_role("button", name=t["create_account"], exact=True).click()

    expect(page).to_have_url(re.compile(r"/signup/sent$"))
    expect_page(page, lang, t["check_email"])
    expect(page.get_by_text(t["check_email_signup"])).to_be_visible()
    screenshot(page, "check-your-email")

    open_mailed_link(page, lang, email, t["verify_subject"], screenshot)
    expect(page).to_have_url(re.compile(r"/login\?notice=verified&login_hint="))
    expect_page(page, lang, t["sign_in"])
    expect(page.get_by_role("status")).to_have_text(t["verified"])
    screenshot(page, "confirmed-now-sign-in")

    # Signed in on a laptop as well, so the phone has another device to list.
    laptop = open_page(lang, "desktop")
    laptop.goto("/login")
    sign_in(laptop, lang, email, password)
    expect(laptop).to_have_url(re.compile(r"/account$"))

    sign_in(page, lang, email, password)
    expect(page).to_have_url(re.compile(r"/account$"))
    expect_page(page, lang, t["hello"].format(name=name))
    expect(page).to_have_title(re.compile(f"^{t['my_account']} · "))
    banner = page.get_by_role("banner")
    expect(banner.get_by_role("link", name=t["my_account"])).to_be_visible()
    expect(page.get_by_role("definition").filter(has_text=email)).to_contain_text(t["confirmed"])
    expect(page.get_by_label(t["name"], exact=True)).to_have_value(name)
    sessions = page.get_by_role("list").filter(has_text=t["this_device"]).get_by_role("listitem")
    expect(sessions).to_have_count(2)
    this_phone = sessions.filter(has_text=t["this_device"])
    expect(this_phone).to_contain_text(DEVICE_LABELS["phone"])
    expect(this_phone.get_by_role("button")).to_have_count(0)  # sign out here: top bar
    the_laptop = sessions.filter(has_not_text=t["this_device"])
    expect(the_laptop).to_contain_text(DEVICE_LABELS["desktop"])
    # Its button says which device it signs out (to screen readers too).
    laptop_label = DEVICE_LABELS["desktop"]
    expect(
        the_laptop.get_by_role("button", name=f"{t['sign_out']} ({laptop_label})")
    ).to_be_visible()
    screenshot(page, "account")

    banner.get_by_role("button", name=t["sign_out"]).click()
    expect(page).to_have_url(re.compile(r"/login\?notice=signed_out$"))
    expect_page(page, lang, t["sign_in"])
    expect(page.get_by_role("status")).to_have_text(t["signed_out"])
    expect(banner.get_by_role("button", name=t["sign_out"])).to_have_count(0)
    expect(banner.get_by_role("link", name=t["my_account"])).to_have_count(0)
    screenshot(page, "signed-out")

    page.goto("/account")
    expect(page).to_have_url(re.compile(r"/login\?next=/account$"))
    expect_page(page, lang, t["sign_in"])
    screenshot(page, "account-asks-to-sign-in")

    # Signing out on the phone left the laptop signed in.
    laptop.reload()
    expect_page(laptop, lang, t["hello"].format(name=name))


@pytest.mark.parametrize(
    ("lang", "device", "javascript"),
    [
        pytest.param("es", "desktop", False, id="es-desktop-without-javascript"),
        pytest.param("en", "phone", True, id="en-phone"),
    ],
)
def test_a_shopper_who_forgot_the_password_chooses_a_new_one_and_the_old_one_stops_working(
    lang, device, javascript, open_page, screenshot, confirmed_account
):
    t = TEXTS[lang]
    account = confirmed_account(lang, name=NAMES[lang])
    new_password = "un caballo nuevo y grapa" if lang == "es" else "a brand new horse staple"
    page = open_page(lang, device, javascript=javascript)

    page.goto("/login")
    expect_page(page, lang, t["sign_in"])
    page.get_by_role("link", name=t["forgot"]).click()
    expect_page(page, lang, t["forgot"])
    page.get_by_label(t["email"], exact=True).fill(account.email)
    screenshot(page, "forgot-form")
    page.get_by_role("button", name=t["send_link"]).click()

    expect(page).to_have_url(re.compile(r"/forgot/sent$"))
    expect_page(page, lang, t["check_email"])
    expect(page.get_by_text(t["check_email_reset"])).to_be_visible()
    screenshot(page, "check-your-email")

    open_mailed_link(page, lang, account.email, t["reset_subject"], screenshot)
    expect(page).to_have_url(re.compile(r"/reset\?token="))
    expect_page(page, lang, t["choose_password"])
    page.get_by_label(t["new_password"], exact=True).fill(new_password)
    page.get_by_label(t["repeat_password"], exact=True).fill(new_password)
    screenshot(page, "new-password-form")
    page.get_by_role("button", name=t["save_password"]).click()

    expect(page).to_have_url(re.compile(r"/login\?notice=password_reset&login_hint="))
    expect_page(page, lang, t["sign_in"])
    expect(page.get_by_role("status")).to_have_text(t["password_changed"])
    screenshot(page, "password-changed")

    sign_in(page, lang, account.email, account.password)
    expect(page.get_by_role("alert")).to_have_text(t["wrong_password"])
    expect_page(page, lang, t["sign_in"])
    screenshot(page, "old-password-refused")

    sign_in(page, lang, account.email, new_password)
    expect(page).to_have_url(re.compile(r"/account$"))
    expect_page(page, lang, t["hello"].format(name=account.name))
    expect(page.get_by_role("listitem").filter(has_text=t["this_device"])).to_contain_text(
        DEVICE_LABELS[device]
    )
    screenshot(page, "signed-in-with-the-new-password")


def test_the_language_switcher_changes_the_page_language_and_the_choice_stays(
    open_page, screenshot
):
    page = open_page("es", "phone")  # the browser prefers Spanish
    banner = page.get_by_role("banner")

    page.goto("/login")
    expect_page(page, "es", "Iniciar sesión")
    expect(banner.get_by_text("Español", exact=True)).to_have_attribute("aria-current", "true")
    screenshot(page, "spanish-from-the-browser")

    banner.get_by_role("link", name="English", exact=True).click()
    expect_page(page, "en", "Sign in")
    expect(banner.get_by_text("English", exact=True)).to_have_attribute("aria-current", "true")
    expect(banner.get_by_role("link", name="Español", exact=True)).to_be_visible()
    screenshot(page, "switched-to-english")

    page.get_by_role("link", name="Create an account").click()
    expect(page).to_have_url(re.compile(r"/signup\?next=[^&]*$"))  # no ?lang= carried along
    expect_page(page, "en", "Create your account")
    expect(page.get_by_label("Preferred language")).to_have_value("en")
    screenshot(page, "english-stays-on-the-next-page")

    banner.get_by_role("link", name="Español", exact=True).click()
    expect_page(page, "es", "Crea tu cuenta")
    page.get_by_role("link", name="Ya tengo una cuenta").click()
    expect_page(page, "es", "Iniciar sesión")
    screenshot(page, "back-to-spanish")


@pytest.mark.parametrize("lang", ["es", "en"])
def test_a_wrong_password_is_refused_with_a_message_in_the_shoppers_language(
    lang, open_page, screenshot, confirmed_account
):
    t = TEXTS[lang]
    account = confirmed_account(lang)
    page = open_page(lang, "phone")

    page.goto("/login")
    sign_in(page, lang, account.email, account.password + " typo")
    expect(page.get_by_role("alert")).to_have_text(t["wrong_password"])
    expect_page(page, lang, t["sign_in"])
    # The address is kept so only the password needs typing again.
    expect(page.get_by_label(t["email"], exact=True)).to_have_value(account.email)
    expect(page.get_by_label(t["password"], exact=True)).to_have_value("")
    screenshot(page, "wrong-password")

    sign_in(page, lang, account.email, account.password)
    expect(page).to_have_url(re.compile(r"/account$"))
    expect_page(page, lang, t["hello"].format(name=account.name))
