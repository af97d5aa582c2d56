"""The preference center (``/account/privacy``) as the shopper reads it, in Spanish and in
English (the Spanish texts from ``messages.po`` and ``policies/*.toml``), and the steps the
journeys take there. Shared by the privacy journeys and the linking journey.
"""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import Account
from tests.e2e.steps import Screenshot, expect_page, log_in

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
        "withdraw_title": "¿Retirar todo el consentimiento?",
        "withdraw_yes": "Sí, retirarlo todo",
        "allow_all": "Permitir todo",
        "refuse_all": "Rechazar todo",
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
        "receipt_title": "Justificante de consentimiento",
        "receipt_download": "Descargar el justificante firmado (.jwt)",
        "receipt_jws": "Ver el justificante firmado (JWS)",
        "receipt_text_shown": "El texto que se te mostró",
        "decision": {
            "granted": "permitido",
            "denied": "rechazado",
            "withdrawn": "retirado",
            "objected": "te opusiste",
            "no_objection": "sin oposición",
            "reverted": "vuelta a sin decidir",
        },
        "keep_on": "Mantenerlo activo",
        "object": "Me opongo",
        "pending": "(pendiente de confirmación)",
        "source": {
            "preference_center": "ajustes de privacidad",
            "double_opt_in": "enlace de confirmación",
            "unsubscribe": "enlace de baja",
            "gpc": "la señal de privacidad de tu navegador (GPC)",
            "link_merge": "tu elección antes de iniciar sesión",
            "link_undo": "deshiciste una elección hecha antes de iniciar sesión",
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
        "withdraw_title": "Withdraw all consent?",
        "withdraw_yes": "Yes, withdraw all",
        "allow_all": "Allow all",
        "refuse_all": "Refuse all",
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
        "receipt_title": "Consent receipt",
        "receipt_download": "Download the signed receipt (.jwt)",
        "receipt_jws": "Show the signed receipt (JWS)",
        "receipt_text_shown": "The text you were shown",
        "decision": {
            "granted": "allowed",
            "denied": "refused",
            "withdrawn": "withdrawn",
            "objected": "objected",
            "no_objection": "no objection",
            "reverted": "back to not decided",
        },
        "keep_on": "Keep it on",
        "object": "I object",
        "pending": "(waiting for confirmation)",
        "source": {
            "preference_center": "privacy settings",
            "double_opt_in": "confirmation link",
            "unsubscribe": "unsubscribe link",
            "gpc": "your browser's privacy signal (GPC)",
            "link_merge": "your choice before you signed in",
            "link_undo": "you undid a choice made before you signed in",
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


# -- what the shopper sees ----------------------------------------------------------------


def title(lang: str, purpose: str) -> str:
    return str(TEXTS[lang]["purposes"][purpose][0])


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
    """The history's items for ``purpose`` with that decision (newest first); the earlier
    ones, folded after the latest few, are unfolded first, as a shopper would."""
    t = TEXTS[lang]
    folded = page.locator("details.older-history:not([open]) > summary")
    if folded.count():
        folded.click()
    return (
        page.get_by_role("list")
        .filter(has=page.get_by_role("link", name=t["receipt"]))
        .get_by_role("listitem")
        .filter(has_text=f"{title(lang, purpose)}: {t['decision'][decision]}")
    )


def sign_in(page: Page, lang: str, account: Account, then: str = "/account") -> None:
    assert lang == account.lang
    page.goto(f"/login?next={then}")
    log_in(page, account)
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
