"""Anonymous to known, in a real browser: a visitor answers the web store's cookie banner,
signs in, finds that choice on the account in the preference center, and undoes it.

``identity demo rp`` is the store: its backend keeps the visitor's anonymous id (from the
provider's ``/v1/anonymous``) in the store's own cookie, writes the banner's answer through the
consent API and asks the decision API before it shows recommendations. "Sign in" carries the id
(``anon_id``); the provider links it, merging the choice, when the store redeems the code
(``docs/linking.md``). The banner and the store's privacy blocks speak the visitor's language;
the rest of the demo's page is English by design. Provider pages are asserted in the shopper's
language (the Spanish texts from ``messages.po`` and ``policies/*.toml``). Screenshots of every
step are in ``artifacts/e2e/<backend>/``.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Locator, Page, expect

from identity.demo_rp.banner import VISITOR_COOKIE
from tests.e2e.harness import DemoRp, Server
from tests.e2e.privacy_center import TEXTS as CENTER
from tests.e2e.privacy_center import expect_status, history_entry, purpose_box, title
from tests.e2e.steps import (
    RP,
    Screenshot,
    expect_page,
    expect_signed_in,
    expect_signed_out,
    log_in,
)

pytestmark = pytest.mark.e2e

NAMES = {"es": "Lucía Fernández", "en": "Tom Baker"}
STORE = "Web store"  # the store's client name at the provider, as its pages show it
TEXTS = {
    "es": {
        # the store's banner and privacy blocks
        "banner": "Tus opciones de privacidad",
        "intro": (
            "Esta tienda recuerda tus opciones en su propia cookie, nunca en la de un tercero. "
            "Cuando inicies sesión, tus opciones pasan a tu cuenta."
        ),
        "personalization": "Recomendaciones personalizadas según lo que miras aquí",
        "analytics": "Estadísticas agregadas para mejorar la tienda",
        "accept_all": "Aceptar todo",
        "reject_all": "Rechazar todo",
        "save": "Guardar mis opciones",
        "recommended": "Recomendado para ti",
        "products": ["Camisa de lino, talla M", "Zapatillas de trail", "Bufanda de lana reciclada"],
        "recommendations_undecided": (
            "Las recomendaciones están desactivadas hasta que las permitas."
        ),
        "counted": "Esta visita cuenta en las estadísticas agregadas de la tienda.",
        "not_counted": "Esta visita no cuenta en las estadísticas: te opusiste.",
        "change": "Opciones de privacidad",
        "settings": "ajustes de privacidad",
        # the provider's preference center
        "origin": "Elegido antes de iniciar sesión ({channel}, ",
        "links": "Elecciones de antes de iniciar sesión",
        "links_help": (
            "Al iniciar sesión aplicamos lo que habías elegido como visitante. Si no fuiste tú "
            "(un dispositivo compartido, por ejemplo), deshazlo: tu cuenta vuelve a como estaba."
        ),
        "linked": "{channel} · sesión iniciada ",
        "undo": "Deshacer",
        "undone": (
            "Hecho: las elecciones que hiciste antes de iniciar sesión ya no se aplican a tu "
            "cuenta."
        ),
    },
    "en": {
        "banner": "Your privacy choices",
        "intro": (
            "This store remembers your choices in its own cookie, never a third party's. "
            "When you sign in, your choices go with you to your account."
        ),
        "personalization": "Personalised recommendations from what you look at here",
        "analytics": "Aggregated statistics to improve the store",
        "accept_all": "Accept all",
        "reject_all": "Reject all",
        "save": "Save my choices",
        "recommended": "Recommended for you",
        "products": ["Linen shirt, size M", "Trail running shoes", "Recycled wool scarf"],
        "recommendations_undecided": "Recommendations are off until you allow them.",
        "counted": "This visit is counted in the store's aggregated statistics.",
        "not_counted": "This visit is not counted in the statistics: you objected.",
        "change": "Privacy choices",
        "settings": "privacy settings",
        "origin": "Chosen before you signed in ({channel}, ",
        "links": "Choices from before you signed in",
        "links_help": (
            "When you signed in, we applied what you had chosen as a visitor. If that was not "
            "you (a shared device, for example), undo it: your account goes back to what it was."
        ),
        "linked": "{channel} · signed in ",
        "undo": "Undo",
        "undone": "Undone: the choices made before you signed in no longer apply to your account.",
    },
}


# -- at the store -------------------------------------------------------------------------


def banner(page: Page, lang: str) -> Locator:
    """The cookie banner: a region named by its heading."""
    return page.get_by_role("region", name=TEXTS[lang]["banner"], exact=True)


def answer_the_banner(
    page: Page, rp: DemoRp, lang: str, *, accept_all: bool, screenshot: Screenshot
) -> None:
    """A first visit: the banner asks, in ``lang``; the visitor accepts all, or allows only
    recommendations and saves."""
    t = TEXTS[lang]
    page.goto(f"{rp.home('store')}?lang={lang}")
    expect_signed_out(page, rp, "store")
    asking = banner(page, lang)
    expect(asking).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", lang)  # the whole store speaks it
    expect(asking.get_by_text(t["intro"], exact=True)).to_be_visible()
    recommendations = asking.get_by_label(t["personalization"], exact=True)
    statistics = asking.get_by_label(t["analytics"], exact=True)
    expect(recommendations).not_to_be_checked()  # nothing is decided before the visitor says
    expect(statistics).not_to_be_checked()
    for button in ("accept_all", "reject_all", "save"):
        expect(asking.get_by_role("button", name=t[button], exact=True)).to_be_visible()
    screenshot(page, "store-banner")

    if accept_all:
        asking.get_by_role("button", name=t["accept_all"], exact=True).click()
    else:
        recommendations.check()
        screenshot(page, "store-banner-recommendations-ticked")
        asking.get_by_role("button", name=t["save"], exact=True).click()
    expect(page).to_have_url(rp.home("store"))
    expect(asking).to_have_count(0)


def expect_recommendations(page: Page, lang: str, *, counted: bool) -> None:
    """The store asked the decision API: recommendations are allowed, and the visit is
    counted in the statistics or not."""
    t = TEXTS[lang]
    block = page.locator("#shop-privacy")
    expect(block.get_by_role("heading", level=2)).to_have_text(t["recommended"])
    expect(block.locator("#recommendations > li")).to_have_text(t["products"])
    expect(block.locator("#statistics")).to_have_text(t["counted" if counted else "not_counted"])


def sign_in_carrying_the_visitor_id(page: Page, server: Server, lang: str) -> str:
    """ "Sign in" at the store: the authorization request carries the store's anonymous id
    (its own first-party cookie, never the provider's); returns that id."""
    with page.expect_request(re.compile(re.escape(server.url) + r"/authorize\?")) as sent:
        page.get_by_role("link", name=RP[lang]["sign_in"], exact=True).click()
    [anon_id] = parse_qs(urlsplit(sent.value.url).query)["anon_id"]
    [cookie] = [c for c in page.context.cookies() if c["name"] == VISITOR_COOKIE]
    assert (cookie["value"], cookie["domain"], cookie["path"]) == (anon_id, "127.0.0.1", "/store")
    assert cookie["httpOnly"]
    expect(page).to_have_url(re.compile("^" + re.escape(server.url) + r"/login\?next=%2Fauthorize"))
    return anon_id


# -- at the provider's preference center --------------------------------------------------


def links_section(page: Page, lang: str) -> Locator:
    return page.get_by_role("heading", name=TEXTS[lang]["links"], level=2, exact=True)


def link_item(page: Page, lang: str) -> Locator:
    """The store's entry under "Choices from before you signed in", found by its button."""
    undo = page.get_by_role("button", name=f"{TEXTS[lang]['undo']} ({STORE})", exact=True)
    return page.get_by_role("listitem").filter(has=undo)


def origin_line(page: Page, lang: str, purpose: str) -> Locator:
    return purpose_box(page, lang, purpose).locator(".origin")


def expect_origin(page: Page, lang: str, purpose: str) -> None:
    """ "Chosen before you signed in (Web store, <when>)." under the purpose."""
    start = TEXTS[lang]["origin"].format(channel=STORE)
    expect(origin_line(page, lang, purpose)).to_have_text(
        re.compile(f"^{re.escape(start)}.+\\)\\.$")
    )


# -- the journey --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "device", "accept_all"),
    [
        pytest.param("es", "phone", True, id="es-phone-accept-all"),
        pytest.param("en", "phone", False, id="en-phone-recommendations-only"),
        pytest.param("en", "desktop", True, id="en-desktop-accept-all"),
    ],
)
def test_a_visitors_banner_choice_follows_them_into_the_account_and_undo_takes_it_back(
    lang, device, accept_all, open_page, screenshot, confirmed_account, demo_rp, identity_server
):
    t, center = TEXTS[lang], CENTER[lang]
    account = confirmed_account(lang, name=NAMES[lang])
    page = open_page(lang, device)

    # 1-2. The banner asks; the store follows the answer (its backend asks the decision API).
    answer_the_banner(page, demo_rp, lang, accept_all=accept_all, screenshot=screenshot)
    expect_recommendations(page, lang, counted=accept_all)
    expect(page.get_by_role("link", name=t["change"], exact=True)).to_be_visible()
    screenshot(page, "store-recommended-for-you")

    # 3. Sign in with the visitor's id; the provider links it when the store redeems the code.
    sign_in_carrying_the_visitor_id(page, identity_server, lang)
    log_in(page, account, screenshot)
    expect_signed_in(page, demo_rp, "store", account)
    # Now asked for the account: the merged choice, not the visitor's id.
    expect_recommendations(page, lang, counted=accept_all)
    expect(banner(page, lang)).to_have_count(0)
    screenshot(page, "store-signed-in-recommended-for-you")

    # 4. The preference center says where the choice came from, and offers to undo it.
    page.get_by_role("link", name=t["settings"], exact=True).click()
    expect(page).to_have_url(f"{identity_server.url}/account/privacy")
    expect_page(page, lang, center["title"])
    expect_status(page, lang, "personalization", "granted")
    expect_origin(page, lang, "personalization")
    # Statistics rest on legitimate interest: accepting leaves them on, an unticked box objects.
    analytics = "no_objection" if accept_all else "objected"
    expect_status(page, lang, "analytics", "legitimate_interest" if accept_all else "objected")
    expect_origin(page, lang, "analytics")
    for purpose in ("email_marketing", "partner_sharing", "sms_marketing"):
        expect_status(page, lang, purpose, "not_asked")  # the banner never asked about these
        expect(origin_line(page, lang, purpose)).to_have_count(0)
    expect(links_section(page, lang)).to_be_visible()
    expect(page.get_by_text(t["links_help"], exact=True)).to_be_visible()
    linked = link_item(page, lang)
    expect(linked).to_have_count(1)
    expect(linked).to_contain_text(t["linked"].format(channel=STORE))
    expect(linked).to_contain_text(
        f"{title(lang, 'personalization')}: {center['decision']['granted']}"
        f" · {title(lang, 'analytics')}: {center['decision'][analytics]}"
    )
    for purpose, decision in (("personalization", "granted"), ("analytics", analytics)):
        merged = history_entry(page, lang, purpose, decision)
        expect(merged).to_have_count(1)
        expect(merged).to_contain_text(center["source"]["link_merge"])
    linked.scroll_into_view_if_needed()
    screenshot(page, "preference-center-choice-from-before-sign-in")

    # 5. Undo: the account goes back to "not decided", and the link is gone.
    linked.get_by_role("button", name=f"{t['undo']} ({STORE})").click()
    expect(page).to_have_url(f"{identity_server.url}/account/privacy?notice=undone")
    expect_page(page, lang, center["title"])
    expect(page.get_by_role("status")).to_have_text(t["undone"])
    expect_status(page, lang, "personalization", "not_asked")
    expect_status(page, lang, "analytics", "legitimate_interest")
    for purpose in ("personalization", "analytics"):
        expect(origin_line(page, lang, purpose)).to_have_count(0)
        # The ledger shows both directions: the merge stays, its undo is recorded after it.
        undone = history_entry(page, lang, purpose, "reverted")
        expect(undone).to_have_count(1)
        expect(undone).to_contain_text(center["source"]["link_undo"])
    expect(history_entry(page, lang, "analytics", analytics)).to_have_count(1)
    expect(links_section(page, lang)).to_have_count(0)
    expect(link_item(page, lang)).to_have_count(0)
    screenshot(page, "preference-center-undone")

    # The store follows: no recommendations for the account, which has not decided now.
    page.goto(demo_rp.home("store"))
    expect_signed_in(page, demo_rp, "store", account)
    expect(page.locator("#recommendations-off")).to_have_text(t["recommendations_undecided"])
    expect(page.locator("#recommendations")).to_have_count(0)
    expect(page.locator("#statistics")).to_have_text(t["counted"])
    screenshot(page, "store-after-undo")
