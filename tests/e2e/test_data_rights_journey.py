"""A customer's data rights in a real browser, JavaScript off, on a 390px phone and on a
desktop, in Spanish and in English: from the account page's "Your data" section to
/account/data, download everything held about them (a JSON file), confirming the password
once the sign-in is a few minutes old; ask for the account to be erased, see the date and
cancel it; ask again, and once the erasure has run (an officer's immediate erasure of that
pending request, standing in for the grace period's end), signing in is refused like any
wrong password. No page is wider than the screen."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select, update

from identity.accounts.models import BrowserSession, User
from identity.audit.refs import Actor
from identity.context import Origin
from identity.db import utcnow
from identity.runtime import Runtime
from identity.web.i18n import format_locale
from tests.e2e.conftest import Account
from tests.e2e.steps import expect_page, log_in

pytestmark = pytest.mark.e2e

TEXTS = {
    "es": {
        "hello": "Hola, {name}",
        "your_data": "Tus datos personales",
        "data_link": "Descargar mis datos o eliminar mi cuenta",
        "download_copy": "Descargar una copia",
        "download": "Descargar mis datos",
        "download_password": "Tu contraseña, para descargar tus datos",
        "erase_password": "Tu contraseña, para eliminar tu cuenta",
        "wrong_password": "Esa contraseña no es correcta. Inténtalo de nuevo.",
        "delete_heading": "Eliminar tu cuenta",
        "delete": "Eliminar mi cuenta",
        "requested": (
            "Hecho: tu cuenta se eliminará en la fecha que ves abajo. Te lo hemos "
            "contado en un correo."
        ),
        "scheduled": (
            "Tu cuenta se eliminará el {date}. Hasta entonces puedes seguir usándola "
            "y cancelar la eliminación."
        ),
        "cancel": "Cancelar la eliminación",
        "cancelled": "La eliminación está cancelada. Tu cuenta sigue como estaba.",
        "back": "Volver a mi cuenta",
        "sign_out": "Cerrar sesión",
        "login_refused": (
            "El correo o la contraseña no son correctos. Revísalos e inténtalo de nuevo."
        ),
    },
    "en": {
        "hello": "Hello, {name}",
        "your_data": "Your data",
        "data_link": "Download my data or delete my account",
        "download_copy": "Download a copy",
        "download": "Download my data",
        "download_password": "Your password, to download your data",
        "erase_password": "Your password, to delete your account",
        "wrong_password": "That password is not right. Try again.",
        "delete_heading": "Delete your account",
        "delete": "Delete my account",
        "requested": (
            "Done: your account will be deleted on the date below. We have sent you an "
            "email about it."
        ),
        "scheduled": (
            "Your account will be deleted on {date}. Until then you can still use it, "
            "and cancel the deletion."
        ),
        "cancel": "Cancel the deletion",
        "cancelled": "The deletion is cancelled. Your account stays as it is.",
        "back": "Back to my account",
        "sign_out": "Sign out",
        "login_refused": "The email or password is not right. Check them and try again.",
    },
}
DEVICE_PARAMS = pytest.mark.parametrize("device", ["phone", "desktop"])
LANG_PARAMS = pytest.mark.parametrize("lang", ["es", "en"])


def expect_fits(page: Page, width: int) -> None:
    """Nothing sticks out past the right edge of the screen (no sideways scrolling)."""
    found = page.locator("main *").evaluate_all(
        "nodes => nodes.map(n => [n.getBoundingClientRect().right, n.outerHTML.slice(0, 120)])"
    )
    for right, html in found:
        assert right <= width + 0.5, f"{html} ends at {right}px on a {width}px screen"
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page scrolls sideways: {scroll}px on a {width}px screen"


def user_id_of(runtime: Runtime, email: str) -> uuid.UUID:
    with runtime.db.read() as session:
        found = session.scalar(select(User.id).where(User.email == email))
    assert found is not None
    return found


def sign_in_to_data_page(page: Page, account: Account, screenshot, width: int) -> None:
    """Sign in, open the account page and follow its "Your data" section's link."""
    t = TEXTS[account.lang]
    page.goto("/login")
    log_in(page, account, screenshot)
    expect_page(page, account.lang, t["hello"].format(name=account.name))
    section = page.get_by_role("heading", level=2, name=t["your_data"], exact=True)
    expect(section).to_be_visible()
    expect_fits(page, width)
    screenshot(page, "account")
    page.get_by_role("link", name=t["data_link"], exact=True).click()
    expect(page).to_have_url(re.compile(r"/account/data$"))
    expect_page(page, account.lang, t["your_data"])
    expect(page.get_by_role("heading", level=2, name=t["download_copy"])).to_be_visible()
    expect(page.get_by_role("heading", level=2, name=t["delete_heading"])).to_be_visible()
    expect_fits(page, width)


def form_with(page: Page, button: str) -> Locator:
    """The form whose button reads ``button`` (each form asks for the password)."""
    return page.locator("form").filter(has=page.get_by_role("button", name=button, exact=True))


def download(page: Page, account: Account, tmp_path, name: str) -> dict:
    """Press "Download my data" (confirming the password when the page asks for it) and read
    the file the browser saved."""
    t = TEXTS[account.lang]
    form = form_with(page, t["download"])
    password = form.get_by_label(t["download_password"], exact=True)
    if password.count():
        password.fill(account.password)
    with page.expect_download() as downloading:
        form.get_by_role("button", name=t["download"], exact=True).click()
    file = downloading.value
    assert re.fullmatch(r"my-data-\d{4}-\d{2}-\d{2}\.json", file.suggested_filename)
    target = tmp_path / f"{name}.json"
    file.save_as(target)
    return json.loads(target.read_text(encoding="utf-8"))


def age_sign_in(runtime: Runtime, user_id: uuid.UUID, minutes: int = 10) -> None:
    """The sign-in happened a while ago (the browser was left open)."""
    with runtime.db.transaction() as session:
        session.execute(
            update(BrowserSession)
            .where(BrowserSession.user_id == user_id)
            .values(auth_time=utcnow() - timedelta(minutes=minutes))
        )


@DEVICE_PARAMS
@LANG_PARAMS
def test_a_customer_downloads_their_data_from_the_account_page(
    lang, device, open_page, screenshot, confirmed_account, server_runtime, tmp_path
):
    t = TEXTS[lang]
    account = confirmed_account(lang)
    user_id = user_id_of(server_runtime, account.email)
    server_runtime.consent.set_choices(
        str(user_id), {"personalization": True}, origin=Origin(ip="192.0.2.1", locale=lang)
    )
    server_runtime.sequencer.drain()
    page = open_page(lang, device, javascript=False)
    width = page.viewport_size["width"]

    sign_in_to_data_page(page, account, screenshot, width)
    screenshot(page, "data-page")
    document = download(page, account, tmp_path, "fresh")
    assert document["format"].startswith("identity.dsr.export/")
    assert document["account"]["email"] == account.email
    assert document["account"]["name"] == account.name
    records = document["consent_records"]
    assert records, "the consent record given before is in the export"
    assert "personalization" in json.dumps(records)

    # Ten minutes later, on the same browser: the password first, and a wrong one is refused.
    age_sign_in(server_runtime, user_id)
    page.reload()
    password = form_with(page, t["download"]).get_by_label(t["download_password"], exact=True)
    expect(password).to_be_visible()
    password.fill("not my password")
    page.get_by_role("button", name=t["download"], exact=True).click()
    expect(page.get_by_role("alert")).to_have_text(t["wrong_password"])
    expect_fits(page, width)
    screenshot(page, "wrong-password")
    document = download(page, account, tmp_path, "confirmed")
    assert document["account"]["email"] == account.email
    screenshot(page, "downloaded-again")


@DEVICE_PARAMS
@LANG_PARAMS
def test_a_customer_asks_for_erasure_cancels_it_asks_again_and_is_erased(
    lang, device, open_page, screenshot, confirmed_account, server_runtime
):
    t = TEXTS[lang]
    account = confirmed_account(lang)
    user_id = user_id_of(server_runtime, account.email)
    page = open_page(lang, device, javascript=False)
    width = page.viewport_size["width"]
    sign_in_to_data_page(page, account, screenshot, width)

    # Just signed in: downloading needs no password, but asking to be erased does.
    expect(form_with(page, t["download"]).locator("input[type=password]")).to_have_count(0)
    erase_password = form_with(page, t["delete"]).get_by_label(t["erase_password"], exact=True)
    expect(erase_password).to_be_visible()
    page.get_by_role("button", name=t["delete"], exact=True).click()
    expect(page).to_have_url(re.compile(r"/account/data$"))  # the browser's required field
    assert server_runtime.dsr.pending_erasure(user_id) is None
    erase_password.fill(account.password)
    screenshot(page, "asks-for-erasure")
    page.get_by_role("button", name=t["delete"], exact=True).click()

    pending = server_runtime.dsr.pending_erasure(user_id)
    assert pending is not None
    tz = ZoneInfo(server_runtime.settings.display_timezone)
    day = format_date(
        pending.scheduled_for.astimezone(tz).date(), format="long", locale=format_locale(lang)
    )
    scheduled = t["scheduled"].format(date=day)
    expect(page.get_by_role("status").first).to_have_text(t["requested"])
    expect(page.get_by_text(scheduled, exact=True)).to_be_visible()
    expect(page.get_by_role("button", name=t["cancel"], exact=True)).to_be_visible()
    expect(page.get_by_role("button", name=t["delete"], exact=True)).to_have_count(0)
    expect_fits(page, width)
    screenshot(page, "erasure-scheduled")

    page.get_by_role("link", name=t["back"], exact=True).click()
    expect_page(page, lang, t["hello"].format(name=account.name))
    expect(page.get_by_text(scheduled, exact=True)).to_be_visible()
    expect_fits(page, width)
    screenshot(page, "account-shows-the-date")

    # The account page that announces the date also cancels it, in one press.
    page.get_by_role("button", name=t["cancel"], exact=True).click()
    expect(page.get_by_role("status")).to_have_text(t["cancelled"])
    expect(page.get_by_role("button", name=t["cancel"], exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name=t["delete"], exact=True)).to_be_visible()
    assert server_runtime.dsr.pending_erasure(user_id) is None
    expect_fits(page, width)
    screenshot(page, "erasure-cancelled")
    page.get_by_role("link", name=t["back"], exact=True).click()
    expect(page.get_by_text(scheduled, exact=True)).to_have_count(0)

    # Asked again: pending, after the grace period and within the month.
    page.get_by_role("link", name=t["data_link"], exact=True).click()
    erase_form = form_with(page, t["delete"])
    erase_form.get_by_label(t["erase_password"], exact=True).fill(account.password)
    page.get_by_role("button", name=t["delete"], exact=True).click()
    expect(page.get_by_role("button", name=t["cancel"], exact=True)).to_be_visible()
    screenshot(page, "asked-again")
    pending = server_runtime.dsr.pending_erasure(user_id)
    assert pending is not None
    assert pending.status == "pending"
    assert pending.kind == "erasure"
    assert pending.scheduled_for - pending.requested_at == server_runtime.settings.erasure_grace
    assert pending.scheduled_for <= pending.due_at
    queued = [r for r in server_runtime.dsr.queue(status="pending") if r.id == pending.id]
    assert len(queued) == 1
    assert not queued[0].overdue
    page.get_by_role("button", name=t["sign_out"]).first.click()

    # The grace period's end, in one step: that pending request is executed now.
    done = server_runtime.dsr.erase(
        user_id, actor=Actor.operator("e2e"), reason="customer request, grace period over"
    )
    assert done.id == pending.id
    assert done.status == "done"
    assert server_runtime.dsr.pending_erasure(user_id) is None

    page.goto("/login")
    log_in(page, account)
    expect(page.get_by_role("alert")).to_have_text(t["login_refused"])
    expect_page(page, lang, "Iniciar sesión" if lang == "es" else "Sign in")
    expect_fits(page, width)
    screenshot(page, "sign-in-refused")
