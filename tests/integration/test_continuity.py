"""A shopper who comes from a channel ends back in it: ``next`` rides through sign-up, the
verification mail, verify, forgot, the reset mail and reset, and never leads off site. The
sign-in page names the registered client it continues to and links back to its home page; the
consent screen offers "Not you?" and the partner's privacy policy."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from identity.oidc.registration import InvalidRegistration
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import csrf_token, page_text, submit
from tests.support.rp import query_of

STORE_HOME = "https://store.example/"
MARKET_POLICY = "https://marketplace.example/privacy"
NEW_PASSWORD = "a brand new passphrase"
SHOPPER = {"email": "nuria@example.com", "name": "Nuria", "password": "a long enough secret"}
OFF_SITE = (
    "https://evil.example/",
    "//evil.example/x",
    "/\\evil.example",
    "javascript:alert(1)",
    "http:/evil.example",
)


@pytest.fixture
def web_store(make_rp):
    return make_rp(name="Web store", client_id="store", first_party=True, client_uri=STORE_HOME)


@pytest.fixture
def partner(make_rp):
    return make_rp(
        name="Marketplace",
        client_id="marketplace",
        redirect_uris=["https://marketplace.example/auth/callback"],
        policy_uri=MARKET_POLICY,
        client_uri="https://marketplace.example/",
    )


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no {name} field"
    return unescape(match.group(1))


def href_of(html: str, text: str) -> str:
    match = re.search(rf'<a [^>]*href="([^"]*)"[^>]*>{re.escape(text)}</a>', html)
    assert match, f"no link {text!r}"
    return unescape(match.group(1))


def brand_href(html: str) -> str:
    return unescape(re.search(r'<a class="brand" href="([^"]*)"', html).group(1))


def mailed_query(mailbox, email: str, path: str) -> dict[str, str]:
    return query_of(mailbox.last_link(email, path))


def sign_in_redirect(rp) -> str:
    """Start an authorization in a browser with no session: the ``next`` it is sent with."""
    response = rp.authorize()
    assert response.headers["location"].startswith("/login?")
    return query_of(response.headers["location"])["next"]


def test_signing_up_from_the_store_ends_back_in_the_store_signed_in(browser, web_store, mailbox):
    next_url = sign_in_redirect(web_store)
    signup_page = browser.get(f"/signup?{urlencode({'next': next_url})}")
    assert hidden(signup_page.text, "next") == next_url

    sent = submit(browser, "/signup", {**SHOPPER, "locale": "en", "next": next_url})
    assert sent.headers["location"] == f"/signup/sent?{urlencode({'next': next_url})}"
    link = mailed_query(mailbox, SHOPPER["email"], "/verify")
    assert link["next"] == next_url

    verified = browser.get(f"/verify?{urlencode(link)}")
    assert verified.status_code == 303
    assert query_of(verified.headers["location"]) == {
        "notice": "verified",
        "login_hint": SHOPPER["email"],
        "next": next_url,
    }
    login_page = browser.get(verified.headers["location"])
    assert 'value="nuria@example.com"' in login_page.text  # the address is filled in
    assert "to continue to Web store" in page_text(login_page.text)

    signed_in = browser.post(
        "/login",
        data={
            "csrf_token": hidden(login_page.text, "csrf_token"),
            "email": SHOPPER["email"],
            "password": SHOPPER["password"],
            "next": hidden(login_page.text, "next"),
        },
    )
    assert signed_in.headers["location"] == next_url
    result = web_store.follow_to_client(signed_in)
    assert result["state"] == web_store.last.state
    assert "code" in result


def test_signing_up_again_mails_the_owner_links_that_keep_the_destination(
    browser, web_store, make_user, mailbox
):
    make_user(SHOPPER["email"])
    next_url = sign_in_redirect(web_store)
    submit(browser, "/signup", {**SHOPPER, "locale": "en", "next": next_url})
    text = mailbox.last(SHOPPER["email"])["text"]
    links = [urlsplit(u) for u in re.findall(r"https?://\S+", text)]
    assert {p.path for p in links} >= {"/login", "/forgot"}
    ways_in = [p for p in links if p.path in ("/login", "/forgot")]  # not the footer's policy
    assert all(parse_qs(p.query)["next"] == [next_url] for p in ways_in)


def test_forgot_password_keeps_the_destination_and_the_typed_email(
    browser, web_store, make_user, mailbox
):
    make_user("ana@example.com")
    next_url = sign_in_redirect(web_store)
    refused = submit(
        browser, "/login", {"email": "ana@example.com", "password": "wrong", "next": next_url}
    )
    assert refused.status_code == 401
    forgot_link = href_of(refused.text, "Forgot your password?")
    assert query_of(forgot_link) == {"email": "ana@example.com", "next": next_url}

    forgot_page = browser.get(forgot_link)
    assert 'value="ana@example.com"' in forgot_page.text
    assert hidden(forgot_page.text, "next") == next_url
    assert "to continue to Web store" in page_text(forgot_page.text)
    sent = submit(browser, "/forgot", {"email": "ana@example.com", "next": next_url})
    assert sent.headers["location"] == f"/forgot/sent?{urlencode({'next': next_url})}"

    link = mailed_query(mailbox, "ana@example.com", "/reset")
    assert link["next"] == next_url
    reset_page = browser.get(f"/reset?{urlencode(link)}")
    assert hidden(reset_page.text, "next") == next_url
    done = browser.post(
        "/reset",
        data={
            "csrf_token": hidden(reset_page.text, "csrf_token"),
            "token": link["token"],
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
            "next": next_url,
        },
    )
    assert query_of(done.headers["location"]) == {
        "notice": "password_reset",
        "login_hint": "ana@example.com",
        "next": next_url,
    }
    result = web_store.follow_to_client(done, password=NEW_PASSWORD, email="ana@example.com")
    assert "code" in result


@pytest.mark.parametrize("evil", OFF_SITE)
def test_no_carrier_of_next_leads_off_site(browser, make_user, mailbox, evil):
    make_user("ana@example.com")
    for page in ("/login", "/signup", "/forgot"):
        assert hidden(browser.get(f"/{page[1:]}?{urlencode({'next': evil})}").text, "next") == (
            "/account"
        )
    for page in ("/signup/sent", "/forgot/sent"):
        sent_page = browser.get(f"{page}?{urlencode({'next': evil})}").text
        assert href_of(sent_page, "Back to sign in") == "/login?next=/account"

    sent = submit(browser, "/signup", {**SHOPPER, "locale": "en", "next": evil})
    assert sent.headers["location"] == "/signup/sent"
    link = mailed_query(mailbox, SHOPPER["email"], "/verify")
    assert "next" not in link
    verified = browser.get(f"/verify?{urlencode({**link, 'next': evil})}")
    assert "evil" not in verified.headers["location"]
    resent = submit(
        browser, "/verify/resend", {"email": SHOPPER["email"], "next": evil}, form_page="/login"
    )
    assert "evil" not in resent.headers["location"]

    forgot = submit(browser, "/forgot", {"email": "ana@example.com", "next": evil})
    assert forgot.headers["location"] == "/forgot/sent"
    reset_link = mailed_query(mailbox, "ana@example.com", "/reset")
    assert "next" not in reset_link
    reset_page = browser.get(f"/reset?{urlencode({**reset_link, 'next': evil})}")
    assert hidden(reset_page.text, "next") == "/account"
    done = browser.post(
        "/reset",
        data={
            "csrf_token": hidden(reset_page.text, "csrf_token"),
            "token": reset_link["token"],
            "password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
            "next": evil,
        },
    )
    assert "evil" not in done.headers["location"]
    signed_in = submit(
        browser, "/login", {"email": "ana@example.com", "password": NEW_PASSWORD, "next": evil}
    )
    assert signed_in.headers["location"] == "/account"


def test_the_sign_in_page_names_a_registered_client_and_links_to_its_home_page(browser, web_store):
    page = browser.get(f"/login?{urlencode({'next': sign_in_redirect(web_store)})}")
    assert "to continue to Web store" in page_text(page.text)
    assert href_of(page.text, "Back to Web store") == STORE_HOME
    assert brand_href(page.text) == STORE_HOME


@pytest.mark.parametrize(
    "next_url",
    [
        "/authorize?client_id=nobody&redirect_uri=https://evil.example/",
        "/authorize/resume?interaction=forged",
        "/account?client_id=store&client_name=Evil",
        "/authorize/resume?client_id=store",
    ],
)
def test_the_sign_in_page_names_no_client_it_cannot_look_up(browser, web_store, next_url):
    page = browser.get(f"/login?{urlencode({'next': next_url, 'client_name': 'Evil'})}")
    assert "to continue to" not in page_text(page.text)
    assert "Evil" not in page_text(page.text)
    assert STORE_HOME not in page.text
    assert brand_href(page.text) == "/"


def test_a_client_without_a_home_page_is_named_without_a_link(browser, make_rp):
    app = make_rp(name="Shop app", client_id="app", first_party=True)
    page = browser.get(f"/login?{urlencode({'next': sign_in_redirect(app)})}")
    assert "to continue to Shop app" in page_text(page.text)
    assert "Back to Shop app" not in page_text(page.text)
    assert brand_href(page.text) == "/"


@pytest.mark.parametrize("field", ["client_uri", "policy_uri"])
@pytest.mark.parametrize(
    "uri", ["javascript:alert(1)", "http://store.example/", "data:text/html,x"]
)
def test_only_an_https_home_page_or_policy_can_be_registered(make_client, field, uri):
    with pytest.raises(InvalidRegistration) as refused:
        make_client(**{field: uri})
    assert refused.value.problems[0].field == field


def consent_page(browser, partner, email: str):
    response = partner.authorize()
    login = submit(
        browser,
        "/login",
        {
            "email": email,
            "password": DEFAULT_PASSWORD,
            "next": query_of(response.headers["location"])["next"],
        },
    )
    page = browser.get(login.headers["location"])
    assert 'action="/authorize/consent"' in page.text
    return page


def test_the_consent_screen_links_the_partners_registered_privacy_policy(
    browser, partner, make_user
):
    make_user("ana@example.com")
    page = consent_page(browser, partner, "ana@example.com")
    assert href_of(page.text, "Read Marketplace's privacy policy") == MARKET_POLICY


def test_not_you_signs_this_browser_out_and_resumes_the_same_request_after_a_new_sign_in(
    browser, partner, make_user, audit_actions
):
    make_user("ana@example.com")
    make_user("ben@example.com")
    page = consent_page(browser, partner, "ana@example.com")
    assert "Signed in as ana@example.com" in page_text(page.text)
    assert "Not you? Switch account" in page_text(page.text)

    switched = browser.post(
        "/authorize/select",
        data={
            "csrf_token": hidden(page.text, "csrf_token"),
            "interaction": hidden(page.text, "interaction"),
            "choice": "switch",
        },
    )
    location = switched.headers["location"]
    assert location.startswith("/login?")
    assert query_of(location)["next"].startswith("/authorize/resume?interaction=")
    assert browser.get("/account").status_code == 303  # this browser is signed out
    assert "session.ended" in audit_actions()

    again = submit(
        browser,
        "/login",
        {
            "email": "ben@example.com",
            "password": DEFAULT_PASSWORD,
            "next": query_of(location)["next"],
        },
    )
    consent = browser.get(again.headers["location"])
    assert "Signed in as ben@example.com" in page_text(consent.text)
    result = partner.follow_to_client(consent)
    assert result["state"] == partner.last.state
    assert "code" in result


def test_not_you_without_the_csrf_token_changes_nothing(browser, partner, make_user):
    make_user("ana@example.com")
    page = consent_page(browser, partner, "ana@example.com")
    forged = browser.post(
        "/authorize/select",
        data={"interaction": hidden(page.text, "interaction"), "choice": "switch"},
    )
    assert forged.status_code == 403
    assert browser.get("/account").status_code == 200  # still signed in


def test_not_you_with_a_forged_interaction_signs_nobody_out(browser, partner, make_user):
    make_user("ana@example.com")
    page = consent_page(browser, partner, "ana@example.com")
    forged = browser.post(
        "/authorize/select",
        data={
            "csrf_token": csrf_token(browser, "/account"),
            "interaction": "x",
            "choice": "switch",
        },
    )
    assert forged.status_code == 400
    assert browser.get("/account").status_code == 200
    assert 'action="/authorize/consent"' in page.text
