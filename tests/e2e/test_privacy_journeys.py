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
from pathlib import Path

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet
from playwright.sync_api import Locator, Page, expect

from identity.audit.refs import Actor
from identity.context import Origin
from identity.runtime import Runtime
from tests.e2e.conftest import Account
from tests.e2e.harness import Server

pytestmark = pytest.mark.e2e

Screenshot = Callable[[Page, str], Path]

# Purposes in the order the page lists them: consent, then legitimate interest, then contract.
PURPOSES = (
    "email_marketing",
    "partner_sharing",
    "personalization",
    "sms_marketing",
    "analytics",
    "order_emails",
)
TEXTS = {
    "es": {
        "email": "Correo electrónico",
        "password": "Contraseña",
        "sign_in": "Iniciar sesión",
        "hello": "Hola, {name}",
        "my_account": "Mi cuenta",
        "privacy": "Privacidad",
        "title": "Ajustes de privacidad",
        "lead": (
            "Elige qué podemos hacer con tus datos en la tienda web, la app y el marketplace. "
            "Puedes cambiar de opinión cuando quieras."
        ),
        "purposes": {
            "email_marketing": (
                "Ofertas y novedades por correo electrónico",
                "Te enviamos por correo nuestras ofertas, nuevas colecciones y eventos, como "
                "mucho una vez por semana. Cada correo incluye un enlace para dejar de "
                "recibirlos con un clic.",
            ),
            "partner_sharing": (
                "Compartir con socios del marketplace",
                "Compartimos tu nombre, tu correo y las categorías de tus compras con los "
                "vendedores de nuestro marketplace para que te envíen sus propias ofertas.",
            ),
            "personalization": (
                "Recomendaciones personalizadas",
                "Usamos lo que compras y miras en nuestra tienda web, la app y el marketplace "
                "para recomendarte productos y tallas que te encajen.",
            ),
            "sms_marketing": (
                "Ofertas flash por SMS",
                "Te enviamos SMS sobre ofertas flash y eventos en tiendas cercanas, como mucho "
                "dos veces al mes.",
            ),
            "analytics": (
                "Estadísticas para mejorar la tienda",
                "Medimos de forma agregada cómo se usan la tienda y la app (páginas que fallan, "
                "pasos donde la gente abandona) para corregirlas y mejorarlas. Puedes oponerte "
                "cuando quieras.",
            ),
            "order_emails": (
                "Correos de pedidos y entregas",
                "Confirmaciones, avisos de envío, facturas y devoluciones de lo que compras. "
                "Forman parte de la compra, así que no se pueden desactivar.",
            ),
        },
        "basis": {
            "consent": "Tu consentimiento",
            "legitimate_interest": "Interés legítimo (puedes oponerte)",
            "contract": "Necesario para tus compras",
        },
        "status": {
            "granted": "Permitido",
            "contract": "Siempre activo",
            "legitimate_interest": "Activado (no te has opuesto)",
            "pending": "Pendiente de tu confirmación",
            "objected": "Desactivado (te has opuesto)",
            "not_asked": "Desactivado (aún no has decidido)",
            "off": "No permitido",
        },
        "version": "versión 1.0",
        "allow": "Permitir",
        "dont_allow": "No permitir",
        "cannot_switch_off": "No se puede desactivar mientras tengas una cuenta.",
        "email_link_first": (
            "Te enviaremos un enlace por correo para confirmar antes de enviarte nada."
        ),
        "sms_link_first": "Te enviaremos un enlace por SMS para confirmar antes de enviarte nada.",
        "save": "Guardar mis decisiones",
        "saved": (
            "Guardado. A partir de ahora, todas las tiendas y servicios siguen tus decisiones."
        ),
        "saved_pending": (
            "Guardado. Te hemos enviado un enlace para confirmar los mensajes que has pedido; "
            "hasta que confirmes, no enviamos nada."
        ),
        "withdraw_all": "Retirar todo el consentimiento",
        "withdrawn_all": (
            "Hecho: todos los usos opcionales de tus datos están desactivados y te opones a las "
            "estadísticas. Los correos de pedidos continúan."
        ),
        "phone_needed": (
            "Tus otras decisiones se han guardado. Para recibir SMS, añade primero tu número de "
            "teléfono en Mi cuenta."
        ),
        "gpc": (
            "Tu navegador envía la señal Global Privacy Control, así que hemos desactivado "
            "compartir con socios. Si después lo permites aquí, cuenta tu decisión expresa."
        ),
        "history": "Historial",
        "nothing_yet": "Todavía no has tomado ninguna decisión.",
        "receipt": "Justificante",
        "decision": {
            "granted": "permitido",
            "denied": "rechazado",
            "withdrawn": "retirado",
            "objected": "te opusiste",
        },
        "keep_on": "Mantenerlo activo",
        "object": "Me opongo",
        "pending": "(pendiente de confirmación)",
        "source": {
            "preference_center": "ajustes de privacidad",
            "double_opt_in": "enlace de confirmación",
            "unsubscribe": "enlace de baja",
            "gpc": "la señal de privacidad de tu navegador (GPC)",
        },
        "mailbox": "Buzón de desarrollo",
        "open_link": "Abrir enlace",
        "confirm_subject": "Confirma, por favor: {purpose}",
        "confirm_title": "Confirma tu suscripción",
        "confirm_text": "Pulsa el botón para confirmar que quieres recibir estos mensajes.",
        "yes_confirm": "Sí, confirmar",
        "confirmed": "Confirmado",
        "confirmed_text": (
            "Gracias: «{purpose}» ya está activado. Puedes desactivarlo cuando quieras en tus "
            "ajustes de privacidad o con el enlace de cada mensaje."
        ),
        "settings_button": "Ajustes de privacidad",
        "phone": "Teléfono (opcional)",
        "save_details": "Guardar",
        "details_saved": "Tus datos se han guardado.",
        "sms_text": "Demo Shop: confirma tus ofertas por SMS: ",
        "unsubscribe_title": "¿Darte de baja?",
        "unsubscribe_text": "Dejar de recibir «{purpose}».",
        "unsubscribe": "Sí, darme de baja",
        "unsubscribed": "Te has dado de baja",
        "unsubscribed_text": "Ya no te enviaremos «{purpose}».",
    },
    "en": {
        "email": "Email",
        "password": "Password",
        "sign_in": "Sign in",
        "hello": "Hello, {name}",
        "my_account": "My account",
        "privacy": "Privacy",
        "title": "Privacy settings",
        "lead": (
            "Choose what we may do with your data, in the web store, the app and the "
            "marketplace. You can change your mind at any time."
        ),
        "purposes": {
            "email_marketing": (
                "Offers and news by email",
                "We email you our offers, new collections and events, at most once a week. "
                "Every email has a link to stop them in one click.",
            ),
            "partner_sharing": (
                "Sharing with marketplace partners",
                "We share your name, email and purchase categories with the sellers of our "
                "marketplace so they can send you their own offers.",
            ),
            "personalization": (
                "Personalised recommendations",
                "We use what you buy and look at in our web store, app and marketplace to "
                "recommend products and sizes that suit you.",
            ),
            "sms_marketing": (
                "Flash sales by SMS",
                "We text you about flash sales and store events near you, at most twice a month.",
            ),
            "analytics": (
                "Statistics to improve the shop",
                "We measure, in aggregate, how the store and the app are used (pages that fail, "
                "steps where people give up) to fix and improve them. You can object at any "
                "time.",
            ),
            "order_emails": (
                "Order and delivery emails",
                "Confirmations, shipping updates, invoices and returns for what you buy. They "
                "are part of the purchase, so they cannot be switched off.",
            ),
        },
        "basis": {
            "consent": "Your consent",
            "legitimate_interest": "Legitimate interest (you can object)",
            "contract": "Needed for your purchases",
        },
        "status": {
            "granted": "Allowed",
            "contract": "Always on",
            "legitimate_interest": "On (you have not objected)",
            "pending": "Waiting for your confirmation",
            "objected": "Off (you objected)",
            "not_asked": "Off (you have not decided)",
            "off": "Not allowed",
        },
        "version": "version 1.0",
        "allow": "Allow",
        "dont_allow": "Don't allow",
        "cannot_switch_off": "This cannot be switched off while you have an account.",
        "email_link_first": "We will email you a link to confirm before sending anything.",
        "sms_link_first": "We will text you a link to confirm before sending anything.",
        "save": "Save my choices",
        "saved": "Saved. Every shop and service follows your choices from now on.",
        "saved_pending": (
            "Saved. We have sent you a link to confirm the messages you asked for; until you "
            "confirm, we send nothing."
        ),
        "withdraw_all": "Withdraw all consent",
        "withdrawn_all": (
            "Done: every optional use of your data is now off, and you object to statistics. "
            "Order emails continue."
        ),
        "phone_needed": (
            "Your other choices are saved. To receive SMS, first add your phone number in "
            "My account."
        ),
        "gpc": (
            "Your browser sends the Global Privacy Control signal, so we have turned sharing "
            "with partners off. If you allow it here afterwards, your explicit choice counts."
        ),
        "history": "History",
        "nothing_yet": "You have not made any choice yet.",
        "receipt": "Receipt",
        "decision": {
            "granted": "allowed",
            "denied": "refused",
            "withdrawn": "withdrawn",
            "objected": "objected",
        },
        "keep_on": "Keep it on",
        "object": "I object",
        "pending": "(waiting for confirmation)",
        "source": {
            "preference_center": "privacy settings",
            "double_opt_in": "confirmation link",
            "unsubscribe": "unsubscribe link",
            "gpc": "your browser's privacy signal (GPC)",
        },
        "mailbox": "Development mailbox",
        "open_link": "Open link",
        "confirm_subject": "Please confirm: {purpose}",
        "confirm_title": "Confirm your subscription",
        "confirm_text": "Press the button to confirm that you want to receive these messages.",
        "yes_confirm": "Yes, confirm",
        "confirmed": "Confirmed",
        "confirmed_text": (
            'Thank you: "{purpose}" is now on. You can turn it off at any time in your privacy '
            "settings or with the link in every message."
        ),
        "settings_button": "Privacy settings",
        "phone": "Phone (optional)",
        "save_details": "Save",
        "details_saved": "Your details are saved.",
        "sms_text": "Demo Shop: confirm your SMS offers: ",
        "unsubscribe_title": "Unsubscribe?",
        "unsubscribe_text": 'Stop receiving "{purpose}".',
        "unsubscribe": "Yes, unsubscribe me",
        "unsubscribed": "You are unsubscribed",
        "unsubscribed_text": 'We will not send you "{purpose}" any more.',
    },
}
NAMES = {"es": "Carmen Ruiz", "en": "Sam Carter"}
LANGS = pytest.mark.parametrize("lang", ["es", "en"])


# -- what the shopper sees ----------------------------------------------------------------


def title(lang: str, purpose: str) -> str:
    return str(TEXTS[lang]["purposes"][purpose][0])


def expect_page(page: Page, lang: str, heading: str) -> None:
    """The page is in ``lang`` (for screen readers and hyphenation too) and titled ``heading``."""
    expect(page.locator("html")).to_have_attribute("lang", lang)
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)


def purpose_box(page: Page, lang: str, purpose: str) -> Locator:
    """A purpose's fieldset, found by its legend (its title) as a screen reader finds it."""
    return page.get_by_role("group", name=title(lang, purpose), exact=True)


def expect_status(page: Page, lang: str, purpose: str, status: str) -> None:
    expect(purpose_box(page, lang, purpose).locator(".badge")).to_have_text(
        TEXTS[lang]["status"][status]
    )


def radio(page: Page, lang: str, purpose: str, *, on: bool) -> Locator:
    """A purpose's on/off radio; legitimate interest reads "keep it on" / "I object"."""
    t = TEXTS[lang]
    if purpose == "analytics":
        name = t["keep_on"] if on else t["object"]
    else:
        name = t["allow"] if on else t["dont_allow"]
    return purpose_box(page, lang, purpose).get_by_role("radio", name=name, exact=True)


def choose(page: Page, lang: str, purpose: str, *, allow: bool) -> None:
    radio(page, lang, purpose, on=allow).check()


def history_entry(page: Page, lang: str, purpose: str, decision: str) -> Locator:
    """The history's items for ``purpose`` with that decision (newest first)."""
    t = TEXTS[lang]
    return (
        page.get_by_role("list")
        .filter(has=page.get_by_role("link", name=t["receipt"]))
        .get_by_role("listitem")
        .filter(has_text=f"{title(lang, purpose)}: {t['decision'][decision]}")
    )


def sign_in(page: Page, lang: str, account: Account, then: str = "/account") -> None:
    t = TEXTS[lang]
    page.goto(f"/login?next={then}")
    expect_page(page, lang, t["sign_in"])
    page.get_by_label(t["email"], exact=True).fill(account.email)
    page.get_by_label(t["password"], exact=True).fill(account.password)
    page.get_by_role("button", name=t["sign_in"], exact=True).click()
    expect(page).to_have_url(re.compile(f"{re.escape(then)}$"))


def open_privacy(page: Page, lang: str, account: Account) -> None:
    sign_in(page, lang, account, then="/account/privacy")
    expect_page(page, lang, TEXTS[lang]["title"])


def save(page: Page, lang: str, notice: str) -> None:
    t = TEXTS[lang]
    page.get_by_role("button", name=t["save"], exact=True).click()
    expect(page).to_have_url(re.compile(rf"/account/privacy\?notice={notice}$"))
    expect_page(page, lang, t["title"])
    expect(page.get_by_role("status")).to_have_text(t[notice])


def confirm_from_mailbox(
    page: Page, lang: str, to: str, what: str, purpose: str, screenshot: Screenshot
) -> None:
    """Follow the double opt-in link sent to ``to`` (``what``: the subject, or for an SMS the
    start of its text) and confirm it, then go back to the preference center."""
    t = TEXTS[lang]
    page.goto("/dev/mail")
    expect_page(page, lang, t["mailbox"])
    message = page.get_by_role("article").filter(has_text=to).filter(has_text=what).first
    expect(message).to_be_visible()
    screenshot(page, "mailbox")
    message.get_by_role("link", name=t["open_link"]).click()

    expect(page).to_have_url(re.compile(r"/privacy/confirm\?token="))
    expect_page(page, lang, t["confirm_title"])
    expect(page.get_by_text(t["confirm_text"])).to_be_visible()
    screenshot(page, "confirm-page")
    # Opening the link confirmed nothing (mail scanners open links): the choice still waits.
    page.get_by_role("link", name=t["privacy"], exact=True).click()
    expect_status(page, lang, purpose, "pending")
    page.go_back()
    expect_page(page, lang, t["confirm_title"])

    page.get_by_role("button", name=t["yes_confirm"], exact=True).click()
    expect_page(page, lang, t["confirmed"])
    expect(
        page.get_by_text(t["confirmed_text"].format(purpose=title(lang, purpose)))
    ).to_be_visible()
    screenshot(page, "confirmed")
    page.get_by_role("main").get_by_role("link", name=t["settings_button"]).click()
    expect_page(page, lang, t["title"])
    expect_status(page, lang, purpose, "granted")


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
    expect(page.get_by_role("button", name=t["withdraw_all"])).to_be_visible()
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

    with page.expect_download() as download_info:
        granted.get_by_role("link", name=t["receipt"]).click()
    download = download_info.value
    assert re.fullmatch(r"consent-receipt-\d+\.jwt", download.suggested_filename)
    saved_to = tmp_path / download.suggested_filename
    download.save_as(saved_to)

    # Anyone can check the receipt against the provider's published receipt keys.
    published = httpx.get(f"{identity_server.url}/receipts/jwks", timeout=10).json()
    keys = KeySet.import_key_set(published)
    receipt = jwt.decode(saved_to.read_text().strip(), keys)
    assert receipt.header["typ"] == "consent-receipt+jwt"
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

    page.get_by_role("button", name=t["withdraw_all"], exact=True).click()
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
