"""Fuzz every page form and the pages' query parameters (hypothesis): sign-in, sign-up,
password reset, verification, the account, sessions, apps, the data page (export, erasure)
and the privacy pages, from an anonymous browser and from a signed-in one posting its valid
CSRF token. Whatever arrives, the answer is never a 5xx and nothing is logged as an unhandled
error.

Forms start valid (real reset, verification, confirmation and unsubscribe links, the real
session id) and are then mutated at random, or swept one parameter at a time;
:mod:`tests.support.fuzz` has the strategies and the harness.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from identity.context import Origin
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.fuzz import FUZZ, Form, nasty, open_browsers, value, weighted

EMAIL = "fuzz@example.com"
OTHER = "other@example.com"
NEW_PASSWORD = "another horse battery staple"
NEXT = ("/account", "/account/privacy", "//evil.example", "https://evil.example/", "/\\evil")
LOCALES = ("es", "en", "fr", "es-ES")
# A page form takes fewer parameters than an OAuth request: fewer examples cover it.
FORM_FUZZ = settings(FUZZ, max_examples=25)
PAGE_PARAMS = {
    "lang": value(*LOCALES),
    "ui_locales": value(*LOCALES),
    "notice": value("verified", "signed_out", "saved", "revoked", "saved_pending"),
    "next": value(*NEXT),
}


class Pages:
    """A customer signed in on one browser, and real links of every kind to replay."""

    def __init__(self, browsers: Any, runtime: Any, mailbox: Any, make_user: Any) -> None:
        self.browsers = browsers
        make_user(OTHER)
        make_user("new@example.com", verified=False)
        origin = Origin(ip="192.0.2.200")
        runtime.accounts.resend_verification(email="new@example.com", origin=origin)
        self.verify_link = mailbox.last_link("new@example.com", "/verify")
        runtime.accounts.request_reset(email=OTHER, origin=origin)
        self.reset_link = mailbox.last_link(OTHER, "/reset")
        user = runtime.accounts.current(browsers.signed_in.cookies[browsers.session_cookie]).user
        runtime.consent.set_choices(str(user.id), {"email_marketing": True}, origin=origin)
        self.confirm_link = mailbox.last_link(EMAIL, "/privacy/confirm")
        unsubscribe_url = runtime.consent.unsubscribe_url(str(user.id), "email_marketing")
        self.unsubscribe = unsubscribe_url.rsplit("/", 1)[1]
        self.purposes = [p.id for p in runtime.consent.catalog]
        self.sid = runtime.accounts.current(
            browsers.signed_in.cookies[browsers.session_cookie]
        ).session.sid

    @staticmethod
    def token_of(link: str) -> str:
        return link.split("token=", 1)[1]

    @cached_property
    def forms(self) -> dict[str, Form]:
        reset_token = self.token_of(self.reset_link)
        verify_token = self.token_of(self.verify_link)
        confirm_token = self.token_of(self.confirm_link)
        emails = value(OTHER, EMAIL, "new@example.com", "nobody@example.com", "a@b")
        passwords = value(DEFAULT_PASSWORD, NEW_PASSWORD, "short")
        profile = (
            ("name", "Fuzz Shopper"),
            ("locale", "es"),
            ("phone_number", "+34 600 000 000"),
            ("street_address", "Calle Mayor 1"),
            ("locality", "Madrid"),
            ("postal_code", "28013"),
            ("country", "ES"),
        )
        unsubscribe = f"/unsubscribe/{self.unsubscribe}"
        return {
            # signing in and up, passwords, verification
            "GET /login": page("/login", [("next", "/account")], login_hint=emails),
            "POST /login": form(
                "/login",
                [("email", OTHER), ("password", DEFAULT_PASSWORD), ("next", "/account")],
                email=emails,
                password=passwords,
                next=value(*NEXT),
            ),
            "GET /signup": page("/signup", [("next", "/account")]),
            "POST /signup": form(
                "/signup",
                [
                    ("email", "someone@example.com"),
                    ("name", "Some One"),
                    ("password", NEW_PASSWORD),
                    ("locale", "es"),
                    ("next", "/account"),
                ],
                email=emails,
                name=nasty,
                password=passwords,
                locale=value(*LOCALES),
                next=value(*NEXT),
            ),
            "GET /forgot": page("/forgot", [("email", OTHER)], email=emails),
            "POST /forgot": form("/forgot", [("email", OTHER)], email=emails),
            "GET /reset": page("/reset", [("token", reset_token)], token=value(reset_token)),
            "POST /reset": form(
                "/reset",
                [("token", reset_token), ("password", NEW_PASSWORD), ("confirm", NEW_PASSWORD)],
                token=value(reset_token),
                password=passwords,
                confirm=passwords,
            ),
            "GET /verify": page("/verify", [("token", verify_token)], token=value(verify_token)),
            "POST /verify/resend": form(
                "/verify/resend", [("email", "new@example.com")], email=emails
            ),
            # the account
            "GET /account": page("/account"),
            "POST /account/profile": form(
                "/account/profile",
                profile,
                name=nasty,
                locale=value(*LOCALES),
                phone_number=value("+34 600 000 000", "600", "+1"),
                street_address=nasty,
                locality=nasty,
                postal_code=value("28013"),
                country=value("ES", "es", "XX", "ESP"),
            ),
            "POST /account/sessions/end": form(
                "/account/sessions/end", [("sid", "unknown")], sid=value(self.sid)
            ),
            "POST /account/sessions/end-others": form("/account/sessions/end-others", []),
            "GET /account/apps": page("/account/apps"),
            "POST /account/apps/revoke": form(
                "/account/apps/revoke", [("client_id", "marketplace")], client_id=nasty
            ),
            # their data: the export, erasure and its cancellation
            "GET /account/data": page("/account/data"),
            "POST /account/data": form("/account/data", [], password=passwords),
            "POST /account/erase": form(
                "/account/erase", [("password", "not the password")], password=passwords
            ),
            "POST /account/erase/cancel": form("/account/erase/cancel", []),
            # privacy
            "GET /account/privacy": page("/account/privacy"),
            "POST /account/privacy": form(
                "/account/privacy",
                [(f"purpose.{p}", "on") for p in self.purposes],
                **{f"purpose.{p}": value("on", "off") for p in self.purposes},
            ),
            "POST /account/privacy/withdraw-all": form("/account/privacy/withdraw-all", []),
            "GET /account/privacy/receipts/{id}": replace(
                page("/account/privacy/receipts/1"),
                paths=path_segment("/account/privacy/receipts/", "1"),
            ),
            "GET /account/privacy/receipts/{id}.jwt": replace(
                page("/account/privacy/receipts/1.jwt"),
                paths=path_segment("/account/privacy/receipts/", "1").map(lambda p: p + ".jwt"),
            ),
            "GET /privacy/purposes": page("/privacy/purposes"),
            "GET /privacy/confirm": page(
                "/privacy/confirm", [("token", confirm_token)], token=value(confirm_token)
            ),
            "POST /privacy/confirm": form(
                "/privacy/confirm", [("token", confirm_token)], token=value(confirm_token)
            ),
            "GET /privacy/review": page("/privacy/review", [("next", "/account")]),
            "POST /privacy/review": form(
                "/privacy/review",
                [("next", "/account"), ("choice", "keep")],
                next=value(*NEXT),
                choice=value("keep", "withdraw"),
            ),
            "GET /unsubscribe/{token}": replace(
                page(unsubscribe), paths=path_segment("/unsubscribe/", self.unsubscribe)
            ),
            # RFC 8058: the mail client posts, with no cookie and no CSRF token.
            "POST /unsubscribe/{token}": Form(
                "POST",
                unsubscribe,
                (("List-Unsubscribe", "One-Click"),),
                {"List-Unsubscribe": nasty},
                paths=path_segment("/unsubscribe/", self.unsubscribe),
            ),
        }


def path_segment(prefix: str, real: str) -> st.SearchStrategy[str]:
    return weighted((1, st.just(real)), (2, value(real))).map(
        lambda segment: prefix + quote(segment, safe="")[:2000]
    )


@pytest.fixture
def pages(app, runtime, make_user, mailbox, caplog):
    make_user(EMAIL, name="Fuzz Shopper")
    for browsers in open_browsers(app, runtime, EMAIL, caplog):
        yield Pages(browsers, runtime, mailbox, make_user)


def page(path: str, base: list[tuple[str, str]] | None = None, **alternatives: Any) -> Form:
    return Form("GET", path, tuple(base or []), {**PAGE_PARAMS, **alternatives})


def form(path: str, base: Any, **alternatives: Any) -> Form:
    return Form("POST", path, tuple(base), alternatives, csrf=True)


# One test function (so one app) per form, each with the whole example budget; the pages
# only read a few query parameters, so they share one.
PAGES = [
    "GET /login",
    "GET /signup",
    "GET /forgot",
    "GET /reset",
    "GET /verify",
    "GET /account",
    "GET /account/apps",
    "GET /account/data",
    "GET /account/privacy",
    "GET /account/privacy/receipts/{id}",
    "GET /account/privacy/receipts/{id}.jwt",
    "GET /privacy/purposes",
    "GET /privacy/confirm",
    "GET /privacy/review",
    "GET /unsubscribe/{token}",
]
FORMS = [
    "POST /login",
    "POST /signup",
    "POST /forgot",
    "POST /reset",
    "POST /verify/resend",
    "POST /account/profile",
    "POST /account/sessions/end",
    "POST /account/sessions/end-others",
    "POST /account/apps/revoke",
    "POST /account/data",
    "POST /account/erase",
    "POST /account/erase/cancel",
    "POST /account/privacy",
    "POST /account/privacy/withdraw-all",
    "POST /privacy/confirm",
    "POST /privacy/review",
    "POST /unsubscribe/{token}",
]


@given(data=st.data())
@settings(FUZZ, max_examples=60)
def test_no_query_makes_a_page_fail(pages, data):
    form = data.draw(st.sampled_from(PAGES).map(pages.forms.__getitem__))
    pages.browsers.check(data.draw(form.calls()))


@pytest.mark.parametrize("endpoint", FORMS)
@given(data=st.data())
@FORM_FUZZ
def test_no_input_makes_a_page_form_fail(pages, endpoint, data):
    pages.browsers.check(data.draw(pages.forms[endpoint].calls()))


def test_no_single_hostile_parameter_makes_a_page_fail(pages):
    """Each parameter of each valid form made hostile in turn (see ``SWEEP``)."""
    assert sorted(pages.forms) == sorted(PAGES + FORMS)
    for form in pages.forms.values():
        for call in form.sweep():
            pages.browsers.check(call)
