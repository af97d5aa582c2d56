"""Single sign-on across the retailer's channels, in a real browser, against real processes.

``identity serve`` is the provider; ``identity demo rp`` is the relying party with the three
channels: the web store and the shop app on ``127.0.0.1``, the marketplace on ``localhost``
(another site to the browser, like another company). Its clients are the demo's
(``identity.demo.DEMO_CLIENTS``), registered for a free port of each test process.

The provider's pages and the demo relying party's are asserted in the shopper's language.
The provider runs without its background outbox worker here: a journey delivers
back-channel logouts itself with ``identity outbox deliver`` at the moment it chooses, so what a
channel's page shows next is not a race with the worker. Screenshots of every step are in
``artifacts/e2e/<backend>/``.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Account
from tests.e2e.harness import DemoRp, Server, deliver_outbox
from tests.e2e.steps import (
    RP,
    Screenshot,
    Seen,
    expect_provider_page,
    expect_signed_in,
    expect_signed_out,
    log_in,
    rp_lang,
)

pytestmark = pytest.mark.e2e

NAMES = {"es": "Lucía Fernández", "en": "Tom Baker"}
TEXTS = {
    "es": {
        "sign_in": "Iniciar sesión",
        "hello": "Hola, {name}",
        "consent_title": "Marketplace quiere acceder a tu cuenta",
        "consent_tab": "¿Permitir el acceso?",
        "signed_in_as": "Has iniciado sesión como {email}.",
        "will_be_able": "Si lo permites, Marketplace podrá:",
        "scopes": [
            "Saber quién eres cuando inicias sesión",
            "Ver tu nombre y tu idioma preferido",
            "Ver tu dirección de correo",
            "Mantener la conexión con tu cuenta aunque no la estés usando",
        ],
        "pairwise": "Marketplace pertenece a otra empresa. Recibe un identificador distinto",
        "allow": "Permitir",
        "deny": "No permitir",
        "apps_link": "Ver y retirar las apps de otras empresas que pueden usar tu cuenta",
        "apps_title": "Apps con acceso",
        "allowed_on": "Permitido el",
        "remove": "Retirar el acceso",
        "removed": (
            "Acceso retirado. Esa app ya no puede usar tu cuenta y le hemos pedido que cierre"
            " tu sesión."
        ),
        "no_apps": "Ninguna otra app tiene acceso a tu cuenta.",
    },
    "en": {
        "sign_in": "Sign in",
        "hello": "Hello, {name}",
        "consent_title": "Marketplace wants to access your account",
        "consent_tab": "Allow access?",
        "signed_in_as": "Signed in as {email}.",
        "will_be_able": "If you allow it, Marketplace will be able to:",
        "scopes": [
            "Know who you are when you sign in",
            "See your name and preferred language",
            "See your email address",
            "Stay connected to your account when you are not using it",
        ],
        "pairwise": "Marketplace is run by another company. It gets an identifier that is",
        "allow": "Allow",
        "deny": "Don't allow",
        "apps_link": "See and remove the other companies' apps that can use your account",
        "apps_title": "Apps with access",
        "allowed_on": "Allowed on",
        "remove": "Remove access",
        "removed": (
            "Access removed. That app can no longer use your account and has been told to sign"
            " you out."
        ),
        "no_apps": "No other apps have access to your account.",
    },
}


# -- steps a shopper takes ----------------------------------------------------------------


def sign_in_at_the_store(
    page: Page,
    rp: DemoRp,
    server: Server,
    account: Account,
    screenshot: Screenshot,
) -> Seen:
    """Start at the store signed out; the provider asks for the password once."""
    page.goto(rp.home("store"))
    expect_signed_out(page, rp, "store")
    screenshot(page, "store-signed-out")
    page.get_by_role("link", name=RP[account.lang]["sign_in"], exact=True).click()

    expect(page).to_have_url(re.compile("^" + re.escape(server.url) + r"/login\?next=%2Fauthorize"))
    log_in(page, account, screenshot)

    seen = expect_signed_in(page, rp, "store", account)
    expect(page.locator("#claim-aud")).to_have_text(rp.client_ids["store"])
    screenshot(page, "store-signed-in")
    return seen


def sign_in_without_a_password(page: Page, rp: DemoRp, channel: str, account: Account) -> Seen:
    """Another first-party channel: "Sign in" comes straight back signed in, because the
    provider knows this browser; a login page on the way would stop the journey here."""
    page.goto(rp.home(channel))
    expect_signed_out(page, rp, channel)
    page.get_by_role("link", name=RP[account.lang]["sign_in"], exact=True).click()
    return expect_signed_in(page, rp, channel, account)


def ask_the_marketplace_to_sign_in(
    page: Page, rp: DemoRp, server: Server, account: Account, screenshot: Screenshot
) -> None:
    """The marketplace, a third party, gets the consent screen in the shopper's language
    (the provider session is there already: no password)."""
    t = TEXTS[account.lang]
    page.goto(rp.home("marketplace"))
    expect_signed_out(page, rp, "marketplace")
    screenshot(page, "marketplace-signed-out")
    page.get_by_role("link", name=RP[account.lang]["sign_in"], exact=True).click()

    expect_provider_page(page, server, account.lang, t["consent_title"])
    expect(page).to_have_title(re.compile("^" + re.escape(t["consent_tab"]) + " · "))
    expect(page.get_by_text(t["signed_in_as"].format(email=account.email))).to_be_visible()
    expect(page.get_by_text(t["will_be_able"])).to_be_visible()
    expect(page.locator("ul.scopes > li")).to_have_text(t["scopes"])
    expect(page.get_by_text(t["pairwise"])).to_be_visible()
    screenshot(page, "marketplace-consent")


def allow_the_marketplace(
    page: Page, rp: DemoRp, server: Server, account: Account, screenshot: Screenshot
) -> Seen:
    ask_the_marketplace_to_sign_in(page, rp, server, account, screenshot)
    page.get_by_role("button", name=TEXTS[account.lang]["allow"], exact=True).click()
    seen = expect_signed_in(page, rp, "marketplace", account)
    expect(page.get_by_text(RP[account.lang]["has_refresh"])).to_be_visible()
    expect(page.locator("main")).to_contain_text("offline_access")
    screenshot(page, "marketplace-signed-in")
    return seen


def expect_signed_out_by_the_provider(page: Page, rp: DemoRp, channel: str) -> None:
    """The channel learnt from the provider's back-channel logout, not from a cookie."""
    page.goto(rp.home(channel))
    expect_signed_out(page, rp, channel)
    expect(page.get_by_role("status")).to_have_text(RP[rp_lang(page)]["backchannel"])


# -- journeys -----------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["es", "en"])
def test_signed_in_at_the_store_the_app_needs_no_password_and_the_marketplace_asks_consent_once_and_sees_another_sub_and_sid(  # noqa: E501
    lang, open_page, screenshot, confirmed_account, demo_rp, identity_server
):
    account = confirmed_account(lang, name=NAMES[lang])
    page = open_page(lang, "phone")

    store = sign_in_at_the_store(page, demo_rp, identity_server, account, screenshot)

    app = sign_in_without_a_password(page, demo_rp, "app", account)
    # The same provider session, the same authentication: first-party channels share the sub.
    assert (app.sub, app.sid, app.auth_time) == (store.sub, store.sid, store.auth_time)
    expect(page.locator("#claim-aud")).to_have_text(demo_rp.client_ids["app"])
    screenshot(page, "app-signed-in-without-password")

    market = allow_the_marketplace(page, demo_rp, identity_server, account, screenshot)
    # Pairwise: the marketplace cannot join its records with the store's on sub or sid.
    assert market.sub != store.sub
    assert market.sid != store.sid
    assert market.auth_time == store.auth_time  # no new password

    # Consent is asked once: signing in again comes straight back.
    page.context.clear_cookies(domain="localhost")  # the marketplace forgets its own login
    again = sign_in_without_a_password(page, demo_rp, "marketplace", account)
    assert again.sub == market.sub
    screenshot(page, "marketplace-again-without-consent")


def test_signing_out_everywhere_at_the_store_signs_the_app_and_the_marketplace_out_over_the_back_channel(  # noqa: E501
    open_page, screenshot, confirmed_account, demo_rp, identity_server
):
    lang = "en"
    account = confirmed_account(lang, name=NAMES[lang])
    page = open_page(lang, "phone")
    sign_in_at_the_store(page, demo_rp, identity_server, account, screenshot)
    sign_in_without_a_password(page, demo_rp, "app", account)
    allow_the_marketplace(page, demo_rp, identity_server, account, screenshot)

    page.goto(demo_rp.home("store"))
    page.get_by_role("button", name="Sign out everywhere").click()
    # RP-initiated logout with an id_token_hint: no "really sign out?" page at the provider.
    expect_signed_out(page, demo_rp, "store")
    expect(page.get_by_role("status")).to_have_text(RP[rp_lang(page)]["signed_out_everywhere"])
    screenshot(page, "store-signed-out-everywhere")

    delivered = deliver_outbox(identity_server)
    assert "3 delivered, 0 to retry" in delivered, delivered
    expect_signed_out_by_the_provider(page, demo_rp, "app")
    screenshot(page, "app-signed-out-by-back-channel")
    expect_signed_out_by_the_provider(page, demo_rp, "marketplace")
    screenshot(page, "marketplace-signed-out-by-back-channel")

    page.goto(f"{identity_server.url}/account")
    expect(page).to_have_url(f"{identity_server.url}/login?next=/account")
    expect_provider_page(page, identity_server, lang, TEXTS[lang]["sign_in"])
    screenshot(page, "provider-account-asks-to-sign-in")


def test_declining_consent_at_the_marketplace_leaves_it_signed_out_with_access_denied_and_the_store_signed_in(  # noqa: E501
    open_page, screenshot, confirmed_account, demo_rp, identity_server
):
    lang = "es"
    t = TEXTS[lang]
    account = confirmed_account(lang, name=NAMES[lang])
    page = open_page(lang, "phone")
    store = sign_in_at_the_store(page, demo_rp, identity_server, account, screenshot)

    ask_the_marketplace_to_sign_in(page, demo_rp, identity_server, account, screenshot)
    page.get_by_role("button", name=t["deny"], exact=True).click()
    expect_signed_out(page, demo_rp, "marketplace")
    expect(page.get_by_role("status")).to_have_text(
        re.compile(r"^Has decidido no compartir tu cuenta con Marketplace")
    )
    screenshot(page, "marketplace-access-denied")

    page.goto(demo_rp.home("store"))
    assert expect_signed_in(page, demo_rp, "store", account) == store
    screenshot(page, "store-still-signed-in")
    page.goto(f"{identity_server.url}/account")
    expect_provider_page(page, identity_server, lang, t["hello"].format(name=account.name))
    # Nothing was allowed, so there is nothing to remove.
    page.get_by_role("link", name=t["apps_link"]).click()
    expect_provider_page(page, identity_server, lang, t["apps_title"])
    expect(page.locator("ul.sessions > li")).to_have_text([t["no_apps"]])
    screenshot(page, "provider-no-apps-with-access")


def test_removing_the_marketplace_from_apps_with_access_signs_it_out_and_consent_is_asked_again(
    open_page, screenshot, confirmed_account, demo_rp, identity_server
):
    lang = "es"
    t = TEXTS[lang]
    account = confirmed_account(lang, name=NAMES[lang])
    page = open_page(lang, "phone")
    store = sign_in_at_the_store(page, demo_rp, identity_server, account, screenshot)
    allow_the_marketplace(page, demo_rp, identity_server, account, screenshot)

    page.goto(f"{identity_server.url}/account")
    expect_provider_page(page, identity_server, lang, t["hello"].format(name=account.name))
    page.get_by_role("link", name=t["apps_link"]).click()
    expect_provider_page(page, identity_server, lang, t["apps_title"])
    apps = page.locator("ul.sessions > li")
    expect(apps).to_have_count(1)
    marketplace = apps.filter(has_text="Marketplace")
    expect(marketplace).to_contain_text(t["allowed_on"])
    expect(marketplace.locator("ul.scopes > li")).to_have_text(t["scopes"])
    screenshot(page, "provider-apps-with-access")

    marketplace.get_by_role("button", name=t["remove"]).click()
    expect_provider_page(page, identity_server, lang, t["apps_title"])
    expect(page.get_by_role("status")).to_have_text(t["removed"])
    expect(apps).to_have_text([t["no_apps"]])
    screenshot(page, "provider-access-removed")

    # The provider tells the marketplace over the back channel.
    assert "1 delivered, 0 to retry" in deliver_outbox(identity_server)
    expect_signed_out_by_the_provider(page, demo_rp, "marketplace")
    screenshot(page, "marketplace-access-token-refused")

    # The store (first party) is untouched, and the marketplace must ask again.
    page.goto(demo_rp.home("store"))
    assert expect_signed_in(page, demo_rp, "store", account) == store
    ask_the_marketplace_to_sign_in(page, demo_rp, identity_server, account, screenshot)
