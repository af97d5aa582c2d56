"""A privacy officer's journey through the console in a real browser, JavaScript off, on a
390px phone and on a desktop, in Spanish and in English: sign in from the console's address,
search the log by a customer's email address, open an entry and see its proof verified, open
the customer's consent history. No page is wider than the screen."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pyotp
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from identity.accounts.models import User
from identity.context import OFFICER, Origin
from tests.e2e.conftest import Account
from tests.e2e.steps import SECOND_FACTOR_TEXTS, expect_page, log_in

pytestmark = pytest.mark.e2e

TEXTS = {
    "es": {
        "console": "Consola de privacidad",
        "audit": "Registro de auditoría",
        "search_log": "Buscar en el registro de auditoría",
        "subject": "Sobre (sujeto)",
        "search": "Buscar",
        "entry": "Entrada de auditoría n.º {index}",
        "verified": "Verificada",
        "history_link": "Historial de consentimiento de este sujeto",
        "history": "Historial de consentimiento",
        "receipt": "Recibo firmado",
    },
    "en": {
        "console": "Privacy console",
        "audit": "Audit log",
        "search_log": "Search the audit log",
        "subject": "About (subject)",
        "search": "Search",
        "entry": "Audit entry #{index}",
        "verified": "Verified",
        "history_link": "Consent history of this subject",
        "history": "Consent history",
        "receipt": "Signed receipt",
    },
}


def sign_in_officer(page: Page, officer: Account, lang: str, screenshot: Any) -> None:
    """The console's address sends an officer without a second factor to set one up: the key
    from the QR code into an authenticator app (pyotp here), the first code, the recovery
    codes; then signing in again asks for the app's code before the console opens."""
    t = SECOND_FACTOR_TEXTS[lang]
    page.goto("/admin")
    log_in(page, officer)
    expect_page(page, lang, t["title"])
    page.get_by_role("button", name=t["set_up"]).click()
    secret = page.locator("code.secret").inner_text().replace(" ", "")
    screenshot(page, "officer-scans-the-code")
    app, now = pyotp.TOTP(secret), datetime.now(UTC)
    page.get_by_label(t["code_label"], exact=True).fill(app.at(now))
    page.get_by_role("button", name=t["turn_on"]).click()
    expect_page(page, lang, t["codes_title"])
    page.get_by_role("link", name=t["saved"]).click()
    page.get_by_role("button", name=t["sign_out"]).first.click()

    page.goto("/admin")
    log_in(page, officer)
    expect_page(page, lang, t["enter_code"])
    # The enrolment used this time step's code: the app's next one is accepted (clock drift).
    page.get_by_label(t["code_label"], exact=True).fill(app.at(now, counter_offset=1))
    page.get_by_role("button", name=t["continue"]).click()
    expect(page).to_have_url(re.compile(r"/admin$"))


def expect_fits(page: Page, width: int) -> None:
    """Nothing sticks out past the right edge of the screen (no sideways scrolling)."""
    found = page.locator("main *").evaluate_all(
        "nodes => nodes.map(n => [n.getBoundingClientRect().right, n.outerHTML.slice(0, 120)])"
    )
    for right, html in found:
        assert right <= width + 0.5, f"{html} ends at {right}px on a {width}px screen"


@pytest.mark.parametrize("device", ["phone", "desktop"])
@pytest.mark.parametrize("lang", ["es", "en"])
def test_an_officer_finds_a_customer_by_email_checks_an_entry_and_reads_their_consent(
    lang, device, open_page, screenshot, confirmed_account, server_runtime
):
    t = TEXTS[lang]
    officer = confirmed_account(lang, name="Privacy Officer")
    server_runtime.accounts.grant_role(officer.email, OFFICER, operator="e2e")
    customer = confirmed_account(lang)
    with server_runtime.db.read() as session:
        customer_id = session.scalar(select(User.id).where(User.email == customer.email))
    server_runtime.consent.set_choices(
        str(customer_id), {"personalization": True}, origin=Origin(ip="192.0.2.1", locale=lang)
    )
    server_runtime.sequencer.drain()  # placed and signed now, not within the next seconds
    page = open_page(lang, device, javascript=False)
    width = page.viewport_size["width"]

    sign_in_officer(page, officer, lang, screenshot)
    expect_page(page, lang, t["console"])
    expect_fits(page, width)
    screenshot(page, "console")

    page.get_by_role("link", name=t["search_log"]).click()
    expect_page(page, lang, t["audit"])
    page.get_by_label(t["subject"], exact=True).fill(customer.email)
    page.get_by_role("button", name=t["search"], exact=True).click()
    expect(page).to_have_url(re.compile(rf"subject=user%3A{customer_id}"))
    entries = page.locator("ol.entries > li")
    expect(entries.first).to_contain_text("consent.recorded")
    expect(page.locator("main")).not_to_contain_text(customer.email)
    expect_fits(page, width)
    screenshot(page, "results")

    first = entries.first.get_by_role("link").first
    index = re.search(r"#(\d+)", first.inner_text()).group(1)
    first.click()
    expect_page(page, lang, t["entry"].format(index=index))
    expect(page.locator(".proof-verified")).to_contain_text(t["verified"])
    expect_fits(page, width)
    screenshot(page, "entry")

    page.go_back()
    page.get_by_role("link", name=t["history_link"]).click()
    expect_page(page, lang, t["history"])
    expect(page.get_by_role("link", name=re.compile(t["receipt"])).first).to_be_visible()
    expect_fits(page, width)
    screenshot(page, "consent-history")
