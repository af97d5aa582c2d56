"""Forms that help: the country is picked by name and stored as its code, every message comes
from the server in the page's language, a refused form starts with a summary linking to each
field, each field is tied to its message, and password fields get a show button from a static
script the strict CSP allows."""

from __future__ import annotations

import re

import pytest

from identity.accounts.models import User
from identity.web.middleware import CONTENT_SECURITY_POLICY
from tests.support.fixtures import DEFAULT_PASSWORD
from tests.support.forms import login, page_text, submit

ADDRESS = {"name": "Ana", "locale": "en", "street_address": "Calle Mayor 1", "locality": "Madrid"}


def tag(html: str, element: str, id_: str) -> str:
    match = re.search(rf'<{element}\b[^>]*\bid="{id_}"[^>]*>', html, flags=re.S)
    assert match, f"no <{element} id={id_}>"
    return match.group(0)


def test_the_country_is_a_list_of_names_so_spain_can_no_longer_be_cut(client, make_user, runtime):
    user = make_user("ana@example.com", locale="en")
    login(client, "ana@example.com", DEFAULT_PASSWORD)
    page = client.get("/account").text
    assert 'maxlength="2"' not in page
    assert "<select" in tag(page, "select", "country")
    assert '<option value="ES" >Spain</option>' in page
    names = re.findall(r'<option value="[A-Z]{2}" [^>]*>([^<]+)</option>', page)
    assert len(names) > 240
    assert (names[0], names[-1]) == ("Afghanistan", "Zimbabwe")
    assert names.index("Åland Islands") < names.index("Albania")  # as a reader sorts, not by code

    saved = submit(client, "/account/profile", {**ADDRESS, "country": "ES"}, form_page="/account")
    assert saved.status_code == 303
    with runtime.db.read() as session:
        assert session.get(User, user.id).address["country"] == "ES"
    assert '<option value="ES" selected>Spain</option>' in client.get("/account").text


def test_country_names_follow_the_page_language(client, make_user):
    make_user("ana@example.com", locale="es")
    login(client, "ana@example.com", DEFAULT_PASSWORD)
    page = client.get("/account?lang=es").text
    assert '<option value="ES" >España</option>' in page
    assert '<option value="DE" >Alemania</option>' in page


@pytest.mark.parametrize("country", ["Spain", "Sp", "XX", "EU", "150"])
def test_a_country_that_is_not_a_code_from_the_list_is_refused(client, make_user, runtime, country):
    user = make_user("ana@example.com", locale="en")
    login(client, "ana@example.com", DEFAULT_PASSWORD)
    refused = submit(
        client, "/account/profile", {**ADDRESS, "country": country}, form_page="/account"
    )
    assert refused.status_code == 400
    assert "Choose a country from the list." in page_text(refused.text)
    assert 'aria-invalid="true"' in tag(refused.text, "select", "country")
    with runtime.db.read() as session:
        assert session.get(User, user.id).address is None


def test_the_country_message_is_in_the_page_language(client, make_user):
    make_user("ana@example.com", locale="es")
    login(client, "ana@example.com", DEFAULT_PASSWORD)
    refused = submit(
        client,
        "/account/profile?lang=es",
        {**ADDRESS, "locale": "es", "country": "Spain"},
        form_page="/account",
    )
    assert "Elige un país de la lista." in page_text(refused.text)


def test_the_phone_hint_and_its_message_agree(client, make_user):
    make_user("ana@example.com")
    login(client, "ana@example.com", DEFAULT_PASSWORD)
    refused = submit(
        client,
        "/account/profile",
        {"name": "Ana", "locale": "en", "phone_number": "call me"},
        form_page="/account",
    )
    text = page_text(refused.text)
    assert "digits only" not in text
    assert "With the country prefix, like +34 600 123 456." in text
    phone = tag(refused.text, "input", "phone_number")
    assert 'aria-describedby="phone-help phone_number-error"' in phone
    assert 'id="phone_number-error"' in refused.text


def test_a_refused_form_starts_with_a_summary_linking_to_each_field(client):
    refused = submit(
        client, "/signup", {"email": "not an email", "name": "", "password": "x", "locale": "en"}
    )
    assert refused.status_code == 400
    summary = re.search(r'<div class="error-summary"[^>]*>.*?</div>', refused.text, flags=re.S)
    assert summary, "no error summary"
    opening = summary.group(0).split(">", 1)[0]
    assert 'tabindex="-1"' in opening
    assert "autofocus" in opening
    assert 'role="alert"' in opening
    assert refused.text.index("error-summary") < refused.text.index("<h1>")
    links = re.findall(r'<a href="#([a-z_]+)">', summary.group(0))
    assert links == ["email", "name", "password"]
    for field in links:
        element = tag(refused.text, "input", field)
        assert 'aria-invalid="true"' in element
        assert f"{field}-error" in re.search(r'aria-describedby="([^"]*)"', element).group(1)
        assert f'id="{field}-error"' in refused.text
    # One focus target only: the summary, not the first field as well.
    assert refused.text.count("autofocus") == 1


def test_a_field_without_a_problem_carries_no_error_attributes(client):
    refused = submit(
        client,
        "/signup",
        {"email": "nuria@example.com", "name": "Nuria", "password": "x", "locale": "en"},
    )
    assert "aria-invalid" not in tag(refused.text, "input", "email")
    assert 'aria-describedby="password-help password-error"' in tag(
        refused.text, "input", "password"
    )


@pytest.mark.parametrize(
    ("data", "messages"),
    [
        ({"email": "", "password": ""}, ["Enter a valid email address", "Enter your password."]),
        ({"email": "ana@", "password": "x"}, ["Enter a valid email address"]),
        ({"email": "ana@example.com", "password": ""}, ["Enter your password."]),
    ],
)
def test_the_sign_in_form_is_checked_by_the_server(client, data, messages, audit_actions):
    refused = submit(client, "/login", {**data, "next": "/account"})
    assert refused.status_code == 400
    for message in messages:
        assert message in page_text(refused.text)
    assert "error-summary" in refused.text
    assert audit_actions() == []  # nothing was looked up, nothing charged


def test_the_forgot_form_is_checked_by_the_server_in_the_page_language(client, mailbox):
    refused = submit(client, "/forgot?lang=es", {"email": "ana"}, form_page="/forgot")
    assert refused.status_code == 400
    assert "error-summary" in refused.text
    assert 'value="ana"' in refused.text  # what was typed stays
    assert 'aria-invalid="true"' in tag(refused.text, "input", "email")
    assert mailbox.messages() == []


@pytest.mark.parametrize("page", ["/login", "/signup", "/forgot", "/account", "/logout"])
def test_every_account_form_leaves_the_messages_to_the_server(client, make_user, page):
    make_user("ana@example.com")
    login(client, "ana@example.com", DEFAULT_PASSWORD)
    if page in ("/login", "/signup", "/forgot"):
        client.cookies.clear()
    html = client.get(page).text
    forms = re.findall(r"<form\b[^>]*>", html)
    account_forms = [f for f in forms if 'action="/logout" class="inline"' not in f]
    assert account_forms
    assert all("novalidate" in f for f in account_forms), account_forms


def test_the_reset_form_leaves_the_messages_to_the_server(client, make_user, mailbox):
    make_user("ana@example.com")
    submit(client, "/forgot", {"email": "ana@example.com"})
    html = client.get(mailbox.last_link("ana@example.com", "/reset")).text
    assert all("novalidate" in f for f in re.findall(r"<form\b[^>]*>", html))
    assert html.count('class="password-field"') == 2


@pytest.mark.parametrize(("lang", "label"), [("en", "Show password"), ("es", "Mostrar contraseña")])
def test_password_fields_get_a_show_button_from_a_static_script(client, lang, label):
    page = client.get(f"/login?lang={lang}")
    assert f'data-reveal-label="{label}"' in page.text
    assert '<script src="/static/forms.js" defer></script>' in page.text
    assert "<script>" not in page.text  # no inline script: the CSP stays strict
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    script = client.get("/static/forms.js")
    assert script.status_code == 200
    assert "aria-pressed" in script.text
