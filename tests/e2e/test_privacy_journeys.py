"""The preference and consent center (``/account/privacy``) in a real browser, in Spanish and
in English, on a phone unless a journey says otherwise.

What a shopper sees and does: every purpose with its text, legal basis and status; granting and
withdrawing; double opt-in by email and by SMS through ``/dev/mail``; "withdraw all"; a signed
receipt per record that verifies against the provider's ``/receipts/jwks``; one-click
unsubscribe from a link a service put in a mail; the page without JavaScript; Global Privacy
Control. Texts are asserted as the shopper reads them (the Spanish ones from ``messages.po``
and ``policies/*.toml``). Screenshots of every step are in ``artifacts/e2e/<backend>/``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.sync_api import expect

from identity.audit.refs import Actor
from identity.context import Origin
from identity.runtime import Runtime
from tests.e2e.conftest import Account
from tests.e2e.harness import Server
from tests.e2e.privacy_center import (
    PURPOSES,
    TEXTS,
    choose,
    confirm_from_mailbox,
    expect_status,
    history_entry,
    open_privacy,
    purpose_box,
    radio,
    save,
    sign_in,
    title,
)
from tests.e2e.steps import expect_page

pytestmark = pytest.mark.e2e

NAMES = {"es": "Carmen Ruiz", "en": "Sam Carter"}
LANGS = pytest.mark.parametrize("lang", ["es", "en"])


# -- accounts and services ----------------------------------------------------------------


@dataclass(frozen=True)
class Shopper:
    account: Account
    sub: str  # the subject id public clients see: the account id


@pytest.fixture
def new_shopper(
    confirmed_account: Callable[..., Account], server_runtime: Runtime
) -> Callable[[str], Shopper]:
    """Factory: a confirmed customer who has not made any privacy choice yet."""

    def make(lang: str) -> Shopper:
        account = confirmed_account(lang, name=NAMES[lang])
        user = server_runtime.accounts.find_by_email(account.email)
        assert user is not None
        return Shopper(account, str(user.id))

    return make


@dataclass(frozen=True)
class EmailService:
    """A downstream service that asks before it mails (``client_credentials``,
    ``consent:read``), registered on the server as an operator would."""

    server: Server
    client_id: str
    client_secret: str

    def decision(self, sub: str, purpose: str) -> dict[str, object]:
        with httpx.Client(base_url=self.server.url, timeout=10) as http:
            token = http.post(
                "/token",
                data={"grant_type": "client_credentials", "scope": "consent:read"},
                auth=(self.client_id, self.client_secret),
            )
            assert token.status_code == 200, token.text
            answer = http.get(
                f"/v1/consents/{sub}/{purpose}",
                headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            )
        assert answer.status_code == 200, answer.text
        decision: dict[str, object] = answer.json()
        return decision


@pytest.fixture(scope="module")
def email_service(identity_server: Server, server_runtime: Runtime) -> EmailService:
    created = server_runtime.clients.create(
        name="Email service (e2e)",
        client_id=f"email-service-{uuid.uuid4().hex[:8]}",
        grant_types=["client_credentials"],
        scope="consent:read",
        actor=Actor.operator("e2e"),
    )
    assert created.client_secret is not None
    return EmailService(identity_server, created.client.client_id, created.client_secret)


# -- journeys -----------------------------------------------------------------------------


@LANGS
def test_a_shopper_opens_privacy_from_the_top_bar_and_sees_every_purpose_with_its_basis_and_status(
    lang, open_page, screenshot, new_shopper
):
    t = TEXTS[lang]
    account = new_shopper(lang).account
    page = open_page(lang)

    sign_in(page, lang, account)
    expect_page(page, lang, t["hello"].format(name=account.name))
    page.get_by_role("banner").get_by_role("link", name=t["privacy"], exact=True).click()
    expect(page).to_have_url(re.compile(r"/account/privacy$"))
    expect_page(page, lang, t["title"])
    expect(page).to_have_title(re.compile(f"^{t['title']} · "))
    expect(page.get_by_text(t["lead"])).to_be_visible()

    boxes = page.get_by_role("main").get_by_role("group")
    expect(boxes).to_have_count(len(PURPOSES))
    expected = {
        "email_marketing": ("consent", "not_asked"),
        "partner_sharing": ("consent", "not_asked"),
        "personalization": ("consent", "not_asked"),
        "sms_marketing": ("consent", "not_asked"),
        "analytics": ("legitimate_interest", "legitimate_interest"),
        "order_emails": ("contract", "contract"),
    }
    for index, purpose in enumerate(PURPOSES):
        name, description = t["purposes"][purpose]
        box = boxes.nth(index)
        expect(box.locator("legend")).to_have_text(name)
        expect(box.get_by_text(description, exact=True)).to_be_visible()
        basis, status = expected[purpose]
        expect_status(page, lang, purpose, status)
        expect(box).to_contain_text(f"{t['basis'][basis]} · {t['version']}")
    # Nothing decided yet: no answer is pre-selected for consent purposes (saving must not
    # record refusals the shopper never made); legitimate interest is on until objected to.
    for purpose in PURPOSES[:4]:
        expect(radio(page, lang, purpose, on=False)).not_to_be_checked()
        expect(radio(page, lang, purpose, on=True)).not_to_be_checked()
    expect(radio(page, lang, "analytics", on=True)).to_be_checked()
    expect(purpose_box(page, lang, "email_marketing")).to_contain_text(t["email_link_first"])
    expect(purpose_box(page, lang, "sms_marketing")).to_contain_text(t["sms_link_first"])
    # Order emails are part of the purchase: no choice to make, and the page says why.
    orders = purpose_box(page, lang, "order_emails")
    expect(orders.get_by_role("radio")).to_have_count(0)
    expect(orders.get_by_text(t["cannot_switch_off"])).to_be_visible()
    expect(page.get_by_role("heading", name=t["history"], level=2)).to_be_visible()
    expect(page.get_by_text(t["nothing_yet"])).to_be_visible()
    expect(page.get_by_role("link", name=t["withdraw_all"])).to_be_visible()
    expect(page.get_by_role("button", name=t["allow_all"], exact=True)).to_be_visible()
    expect(page.get_by_role("button", name=t["refuse_all"], exact=True)).to_be_visible()
    screenshot(page, "preference-center")


@LANGS
def test_allowing_recommendations_and_objecting_to_statistics_is_saved_recorded_and_receipted(
    lang, open_page, screenshot, new_shopper, identity_server, tmp_path
):
    t = TEXTS[lang]
    customer = new_shopper(lang)
    page = open_page(lang)
    open_privacy(page, lang, customer.account)

    choose(page, lang, "personalization", allow=True)
    choose(page, lang, "analytics", allow=False)
    screenshot(page, "choices-made")
    save(page, lang, "saved")
    expect_status(page, lang, "personalization", "granted")
    expect_status(page, lang, "analytics", "objected")
    expect(radio(page, lang, "personalization", on=True)).to_be_checked()
    expect(radio(page, lang, "analytics", on=False)).to_be_checked()

    granted = history_entry(page, lang, "personalization", "granted")
    objected = history_entry(page, lang, "analytics", "objected")
    expect(granted).to_have_count(1)
    expect(objected).to_have_count(1)
    expect(granted).to_contain_text(f"{t['source']['preference_center']} · {t['version']}")
    screenshot(page, "saved-with-history")

    # The receipt opens as a page to read (and print), which offers the signed file.
    granted.get_by_role("link", name=t["receipt"]).click()
    expect_page(page, lang, t["receipt_title"])
    expect(page.get_by_role("heading", name=t["receipt_text_shown"], level=2)).to_be_visible()
    expect(page.locator(f'blockquote[lang="{lang}"]')).to_contain_text(
        title(lang, "personalization")
    )
    fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert fits, "the receipt page scrolls sideways on a phone"
    page.get_by_text(t["receipt_jws"]).click()
    shown_jws = page.locator("details.jws pre").inner_text().strip()
    screenshot(page, "receipt")
    page.emulate_media(media="print")
    expect(page.locator("header.topbar")).to_be_hidden()
    expect(page.get_by_role("link", name=t["receipt_download"])).to_be_hidden()
    screenshot(page, "receipt-printed")
    page.emulate_media(media="screen")
    with page.expect_download() as download_info:
        page.get_by_role("link", name=t["receipt_download"]).click()
    download = download_info.value
    assert re.fullmatch(r"consent-receipt-\d+\.jwt", download.suggested_filename)
    saved_to = tmp_path / download.suggested_filename
    download.save_as(saved_to)

    # Anyone can check the receipt against the provider's published receipt keys.
    published = httpx.get(f"{identity_server.url}/receipts/jwks", timeout=10).json()
    keys = KeySet.import_key_set(published)
    receipt = jwt.decode(saved_to.read_text().strip(), keys)
    assert receipt.header["typ"] == "consent-receipt+jwt"
    shown = jwt.decode(shown_jws, keys)  # the JWS on the page is the same receipt
    assert shown.claims["consentReceiptID"] == receipt.claims["consentReceiptID"]
    claims = receipt.claims
    assert claims["iss"] == identity_server.url
    assert claims["piiPrincipalId"] == customer.sub
    assert claims["collectionMethod"] == "preference_center"
    assert claims["language"] == lang
    [purpose] = claims["services"][0]["purposes"]
    assert purpose["purposeId"] == "personalization"
    assert purpose["purpose"] == title(lang, "personalization")
    assert purpose["decision"] == "granted"
    assert purpose["legalBasis"] == "consent"
    assert purpose["pendingConfirmation"] is False


@LANGS
def test_email_offers_wait_for_the_link_in_the_mail_and_its_button_turns_them_on(
    lang, open_page, screenshot, new_shopper
):
    t = TEXTS[lang]
    account = new_shopper(lang).account
    page = open_page(lang)
    open_privacy(page, lang, account)

    choose(page, lang, "email_marketing", allow=True)
    save(page, lang, "saved_pending")
    expect_status(page, lang, "email_marketing", "pending")
    expect(history_entry(page, lang, "email_marketing", "granted")).to_contain_text(t["pending"])
    screenshot(page, "waiting-for-confirmation")

    confirm_from_mailbox(
        page,
        lang,
        account.email,
        t["confirm_subject"].format(purpose=title(lang, "email_marketing")),
        "email_marketing",
        screenshot,
    )
    confirmed = history_entry(page, lang, "email_marketing", "granted").first
    expect(confirmed).to_contain_text(t["source"]["double_opt_in"])
    expect(confirmed).not_to_contain_text(t["pending"])
    screenshot(page, "email-offers-on")


@LANGS
def test_sms_offers_need_a_phone_number_from_my_account_then_the_texted_link_confirms_them(
    lang, open_page, screenshot, new_shopper
):
    t = TEXTS[lang]
    account = new_shopper(lang).account
    phone = f"+34 6{uuid.uuid4().int % 10**8:08d}"
    page = open_page(lang)
    open_privacy(page, lang, account)

    choose(page, lang, "sms_marketing", allow=True)
    page.get_by_role("button", name=t["save"], exact=True).click()
    expect(page.get_by_role("alert")).to_have_text(t["phone_needed"])
    expect_page(page, lang, t["title"])
    screenshot(page, "phone-needed")

    page.get_by_role("banner").get_by_role("link", name=t["my_account"], exact=True).click()
    expect_page(page, lang, t["hello"].format(name=account.name))
    page.get_by_label(t["phone"], exact=True).fill(phone)
    page.get_by_role("button", name=t["save_details"], exact=True).click()
    expect(page.get_by_role("status")).to_have_text(t["details_saved"])
    expect(page.get_by_label(t["phone"], exact=True)).to_have_value(phone)
    screenshot(page, "phone-saved")

    page.get_by_role("banner").get_by_role("link", name=t["privacy"], exact=True).click()
    choose(page, lang, "sms_marketing", allow=True)
    save(page, lang, "saved_pending")
    expect_status(page, lang, "sms_marketing", "pending")
    screenshot(page, "waiting-for-confirmation")

    confirm_from_mailbox(
        page,
        lang,
        phone,
        t["sms_text"].format(purpose=title(lang, "sms_marketing")),
        "sms_marketing",
        screenshot,
    )
    screenshot(page, "sms-offers-on")


@LANGS
def test_withdraw_all_turns_off_everything_that_rests_on_consent_and_order_emails_stay_on(
    lang, open_page, screenshot, new_shopper
):
    t = TEXTS[lang]
    account = new_shopper(lang).account
    page = open_page(lang)
    open_privacy(page, lang, account)
    for purpose in ("email_marketing", "partner_sharing", "personalization"):
        choose(page, lang, purpose, allow=True)
    save(page, lang, "saved_pending")
    expect_status(page, lang, "email_marketing", "pending")
    expect_status(page, lang, "partner_sharing", "granted")
    expect_status(page, lang, "personalization", "granted")
    screenshot(page, "some-allowed")

    page.get_by_role("link", name=t["withdraw_all"], exact=True).click()
    # First, exactly what it does: what goes off, the objection to statistics, what stays.
    expect_page(page, lang, t["withdraw_title"])
    for purpose in ("email_marketing", "sms_marketing", "personalization", "partner_sharing"):
        expect(page.locator("#turned-off")).to_contain_text(title(lang, purpose))
    expect(page.locator("#objected")).to_have_text(title(lang, "analytics"))
    expect(page.locator("#kept")).to_have_text(title(lang, "order_emails"))
    screenshot(page, "withdraw-all-confirmation")
    page.get_by_role("button", name=t["withdraw_yes"], exact=True).click()
    expect(page).to_have_url(re.compile(r"/account/privacy\?notice=withdrawn_all$"))
    expect(page.get_by_role("status")).to_have_text(t["withdrawn_all"])
    for purpose in ("email_marketing", "partner_sharing", "personalization", "sms_marketing"):
        expect_status(page, lang, purpose, "off")
        expect(radio(page, lang, purpose, on=False)).to_be_checked()
    expect_status(page, lang, "analytics", "objected")
    expect_status(page, lang, "order_emails", "contract")
    for purpose in ("email_marketing", "partner_sharing", "personalization"):
        expect(history_entry(page, lang, purpose, "withdrawn")).to_have_count(1)
    screenshot(page, "all-withdrawn")


@LANGS
def test_the_unsubscribe_link_a_service_puts_in_a_mail_works_in_a_browser_without_a_session(
    lang, open_page, screenshot, new_shopper, email_service, identity_server
):
    t = TEXTS[lang]
    customer = new_shopper(lang)
    page = open_page(lang)
    open_privacy(page, lang, customer.account)
    choose(page, lang, "email_marketing", allow=True)
    save(page, lang, "saved_pending")
    confirm_from_mailbox(
        page,
        lang,
        customer.account.email,
        t["confirm_subject"].format(purpose=title(lang, "email_marketing")),
        "email_marketing",
        screenshot,
    )

    # The email service asks before it mails, and puts the link it gets in List-Unsubscribe.
    decision = email_service.decision(customer.sub, "email_marketing")
    assert decision["allowed"] is True
    assert decision["reason"] == "granted"
    unsubscribe_url = str(decision["unsubscribe_url"])
    assert unsubscribe_url.startswith(f"{identity_server.url}/unsubscribe/")

    mail_app = open_page(lang)  # another browser: no session, no cookies
    mail_app.goto(unsubscribe_url)
    email_offers = title(lang, "email_marketing")
    expect_page(mail_app, lang, t["unsubscribe_title"])
    expect(mail_app.get_by_text(t["unsubscribe_text"].format(purpose=email_offers))).to_be_visible()
    screenshot(mail_app, "unsubscribe-page")
    mail_app.get_by_role("button", name=t["unsubscribe"], exact=True).click()
    expect_page(mail_app, lang, t["unsubscribed"])
    expect(
        mail_app.get_by_text(t["unsubscribed_text"].format(purpose=email_offers))
    ).to_be_visible()
    screenshot(mail_app, "unsubscribed")

    page.reload()
    expect_page(page, lang, t["title"])
    expect_status(page, lang, "email_marketing", "off")
    expect(history_entry(page, lang, "email_marketing", "withdrawn")).to_contain_text(
        t["source"]["unsubscribe"]
    )
    screenshot(page, "withdrawn-in-the-preference-center")
    assert email_service.decision(customer.sub, "email_marketing")["allowed"] is False


@LANGS
def test_the_preference_center_works_without_javascript(lang, open_page, screenshot, new_shopper):
    account = new_shopper(lang).account
    page = open_page(lang, javascript=False)
    open_privacy(page, lang, account)

    choose(page, lang, "personalization", allow=True)
    choose(page, lang, "email_marketing", allow=True)
    choose(page, lang, "analytics", allow=False)
    save(page, lang, "saved_pending")
    expect_status(page, lang, "personalization", "granted")
    expect_status(page, lang, "email_marketing", "pending")
    expect_status(page, lang, "analytics", "objected")
    screenshot(page, "saved-without-javascript")

    choose(page, lang, "personalization", allow=False)
    save(page, lang, "saved")
    expect_status(page, lang, "personalization", "off")
    expect(history_entry(page, lang, "personalization", "withdrawn")).to_have_count(1)
    screenshot(page, "withdrawn-without-javascript")


@LANGS
def test_a_browser_sending_global_privacy_control_turns_partner_sharing_off(
    lang, open_page, screenshot, new_shopper, server_runtime
):
    t = TEXTS[lang]
    customer = new_shopper(lang)
    # Earlier, in a browser without the signal, the shopper allowed sharing with partners.
    user = server_runtime.accounts.find_by_email(customer.account.email)
    server_runtime.consent.set_choices(
        str(user.id), {"partner_sharing": True}, origin=Origin(ip="127.0.0.1", locale=lang)
    )
    page = open_page(lang, headers={"Sec-GPC": "1"})

    sign_in(page, lang, customer.account)  # any page, signed in, with the signal
    expect_page(page, lang, t["hello"].format(name=customer.account.name))
    page.get_by_role("banner").get_by_role("link", name=t["privacy"], exact=True).click()
    expect_page(page, lang, t["title"])
    expect(page.get_by_text(t["gpc"])).to_be_visible()
    expect_status(page, lang, "partner_sharing", "off")
    expect(radio(page, lang, "partner_sharing", on=False)).to_be_checked()
    expect(history_entry(page, lang, "partner_sharing", "withdrawn")).to_contain_text(
        t["source"]["gpc"]
    )
    # Only sale/sharing: the rest is untouched.
    expect_status(page, lang, "personalization", "not_asked")
    expect_status(page, lang, "analytics", "legitimate_interest")
    screenshot(page, "gpc-partner-sharing-off")
