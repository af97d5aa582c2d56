"""Two-step sign-in in a real browser on a phone, with JavaScript off, in Spanish and English:
set up an authenticator app from the QR code's key, keep the recovery codes, sign out, sign in
with password and code. The codes are computed by pyotp from the key the page shows, the way
the shopper's app computes them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.steps import SECOND_FACTOR_TEXTS, expect_page, log_in

pytestmark = pytest.mark.e2e

TEXTS = {
    "es": {
        **SECOND_FACTOR_TEXTS["es"],
        "hello": "Hola, {name}",
        "security_link": "Pedir un código de tu móvil después de la contraseña",
        "recovery_link": "¿Has perdido el móvil? Usa un código de recuperación",
        "recovery_label": "Código de recuperación",
    },
    "en": {
        **SECOND_FACTOR_TEXTS["en"],
        "hello": "Hello, {name}",
        "security_link": "Ask for a code from your phone after your password",
        "recovery_link": "Lost your phone? Use a recovery code",
        "recovery_label": "Recovery code",
    },
}
PHONE_WIDTH = 390


def within_the_phone(page: Page, selector: str) -> None:
    box = page.locator(selector).first.bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= PHONE_WIDTH, selector


@pytest.mark.parametrize("lang", ["es", "en"])
def test_a_shopper_turns_on_two_step_sign_in_on_a_phone_and_signs_in_with_a_code(
    lang, open_page, screenshot, confirmed_account
):
    t = TEXTS[lang]
    account = confirmed_account(lang)
    page = open_page(lang, "phone", javascript=False)

    page.goto("/login")
    log_in(page, account)
    expect_page(page, lang, t["hello"].format(name=account.name))
    page.get_by_role("link", name=t["security_link"]).click()
    expect_page(page, lang, t["title"])
    page.get_by_role("button", name=t["set_up"]).click()

    # The QR code and the key fit the phone's width; the key is typed in groups of four.
    expect(page.locator("img.qr")).to_be_visible()
    within_the_phone(page, "img.qr")
    within_the_phone(page, "code.secret")
    secret = page.locator("code.secret").inner_text().replace(" ", "")
    screenshot(page, "scan-the-code")
    app = pyotp.TOTP(secret)
    now = datetime.now(UTC)
    page.get_by_label(t["code_label"], exact=True).fill(app.at(now))
    page.get_by_role("button", name=t["turn_on"]).click()

    expect_page(page, lang, t["codes_title"])
    codes = page.locator("ol.recovery-codes li").all_inner_texts()
    assert len(codes) == 10
    assert all(re.fullmatch(r"[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}", c) for c in codes)
    within_the_phone(page, "ol.recovery-codes")
    screenshot(page, "recovery-codes")
    page.get_by_role("link", name=t["saved"]).click()
    page.get_by_role("button", name=t["sign_out"]).first.click()

    page.goto("/login")
    log_in(page, account)
    expect_page(page, lang, t["enter_code"])
    screenshot(page, "enter-the-code")
    # The enrolment used this time step's code: the app's next one is accepted (clock drift).
    page.get_by_label(t["code_label"], exact=True).fill(app.at(now, counter_offset=1))
    page.get_by_role("button", name=t["continue"]).click()
    expect_page(page, lang, t["hello"].format(name=account.name))

    # Lost the phone: a recovery code, on a keyboard with letters.
    page.get_by_role("button", name=t["sign_out"]).first.click()
    page.goto("/login")
    log_in(page, account)
    page.get_by_role("link", name=t["recovery_link"]).click()
    field = page.get_by_label(t["recovery_label"], exact=True)
    expect(field).to_have_attribute("inputmode", "text")
    field.fill(codes[0])
    screenshot(page, "recovery-code")
    page.get_by_role("button", name=t["continue"]).click()
    expect_page(page, lang, t["hello"].format(name=account.name))
