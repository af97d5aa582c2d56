"""Branding per deployment: name, logo, primary colour and legal links, validated strictly."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from identity.app import create_app
from identity.runtime import Runtime
from identity.settings import Settings
from tests.support.forms import page_text

LOGO = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"><rect width="1" height="1"/></svg>'
)


@pytest.fixture
def branded(make_settings, tmp_path):
    """A client of an instance with a brand of its own: a logo file, a colour, legal links."""
    from starlette.testclient import TestClient

    logo = tmp_path / "logo.svg"
    logo.write_text(LOGO)
    settings = make_settings(
        brand_name="Tienda Sol",
        brand_logo=str(logo),
        brand_color="#0B6E4F",
        privacy_policy_url="https://sol.example/privacidad",
        terms_url="/static/terms.html",
    )
    runtime = Runtime.build(settings)
    with TestClient(create_app(settings, runtime=runtime), follow_redirects=False) as client:
        yield client
    runtime.close()


@pytest.mark.parametrize(
    "colour",
    ["red", "#fff", "#ffff00", "#0b6e4f;}body{background:url(x)", "#0b6e4f ", "var(--x)", ""],
)
def test_a_colour_that_is_not_a_readable_hex_colour_is_refused(make_settings, colour):
    with pytest.raises(ValidationError, match="brand_color"):
        make_settings(brand_color=colour)


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "//evil.example/x", 'https://x.example/"><script>', "privacy"]
)
def test_legal_links_must_be_web_addresses_or_paths_of_this_site(make_settings, url):
    with pytest.raises(ValidationError):
        make_settings(terms_url=url)


@pytest.mark.parametrize(
    "logo", ["https://cdn.example/logo.png", "/static/../secret.svg", "/etc/passwd"]
)
def test_a_logo_from_another_host_or_outside_the_allowed_files_is_refused(make_settings, logo):
    with pytest.raises(ValidationError, match="brand_logo"):
        make_settings(brand_logo=logo)


def test_the_brand_colour_reaches_pages_through_a_stylesheet_of_our_own(branded):
    css = branded.get("/brand.css")
    assert css.headers["content-type"].startswith("text/css")
    assert css.text == ":root { --accent: #0b6e4f; --accent-ink: #ffffff; }\n"
    assert '<link rel="stylesheet" href="/brand.css">' in branded.get("/login").text


def test_the_header_shows_the_logo_named_by_its_alt_text(branded):
    html = branded.get("/login?lang=es").text
    assert '<img class="logo" src="/brand/logo" alt="Tienda Sol"' in html
    logo = branded.get("/brand/logo")
    assert (logo.status_code, logo.headers["content-type"]) == (200, "image/svg+xml")
    assert logo.text == LOGO


@pytest.mark.parametrize("path", ["/login", "/signup", "/no-such-page", "/privacy/purposes"])
def test_every_page_footer_links_the_privacy_policy_and_the_terms(branded, path):
    footer = branded.get(path).text.split('<footer class="footer">')[1]
    assert '<a href="https://sol.example/privacidad">' in footer
    assert '<a href="/static/terms.html">' in footer


def test_sign_up_says_what_creating_an_account_accepts_with_the_links(branded):
    text = branded.get("/signup?lang=en").text
    legal = re.search(r'<p class="help legal-links">(.*?)</p>', text, re.S).group(1)
    assert page_text(legal).startswith(
        "By creating an account you accept the terms of use and confirm you have read the "
        "privacy policy"
    )
    assert '<a href="/static/terms.html">terms of use</a>' in legal
    assert '<a href="https://sol.example/privacidad">privacy policy</a>' in legal


def test_without_settings_the_privacy_policy_is_our_purposes_page(client, settings):
    assert isinstance(settings, Settings)
    html = client.get("/signup").text
    assert '<a href="/privacy/purposes">' in html.split('<footer class="footer">')[1]
    assert "terms of use" not in page_text(html)
    assert client.get("/brand/logo").status_code == 404
