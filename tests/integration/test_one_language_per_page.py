"""One language per page: OAuth error pages explain every code in the page's language, the
protocol's English description stays folded (and only on English pages), error titles match
their headings, and dates follow the language's own conventions (en_GB, es_ES)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest

from identity.web.templating import Templates
from tests.support.forms import page_text

ENGLISH_DESCRIPTION = "The client does not exist on this server."
CODES = [
    "invalid_request", "invalid_client", "unauthorized_client", "access_denied",
    "unsupported_response_type", "invalid_scope", "server_error", "temporarily_unavailable",
    "interaction_required", "login_required", "account_selection_required", "consent_required",
    "invalid_request_uri", "invalid_request_object", "request_not_supported",
    "request_uri_not_supported", "registration_not_supported", "interaction_expired",
    "something_new",
]  # fmt: skip


def unknown_client(client, lang):
    query = "client_id=nobody&response_type=code&scope=openid&redirect_uri=https://x.example/cb"
    return client.get(f"/authorize?{query}", headers={"Accept-Language": lang})


def test_an_unknown_client_is_explained_in_spanish_with_no_english_sentence(client, runtime):
    page = unknown_client(client, "es-ES")
    assert page.status_code == 400
    text = page_text(page.text)
    assert ENGLISH_DESCRIPTION not in text
    assert "No hemos podido iniciar tu sesión" in text
    assert "No conocemos la app que te ha enviado aquí" in text
    # The code for support, folded.
    assert re.search(r"<details class=\"technical\">.*<code>invalid_client</code>", page.text, re.S)


def test_english_pages_keep_the_protocols_description_in_the_folded_details(client):
    page = unknown_client(client, "en-GB")
    details = page.text.split('<details class="technical">', 1)[1].split("</details>")[0]
    assert ENGLISH_DESCRIPTION in details
    assert ENGLISH_DESCRIPTION not in page.text.split('<details class="technical">', 1)[0]


@pytest.mark.parametrize("code", CODES)
def test_every_error_code_gets_an_explanation_in_the_pages_language(runtime, code):
    context = {
        "error": code, "description": "An English sentence for developers.", "current": None,
        "csrf_field": "csrf_token", "csrf_token": "t", "language_links": [], "dev_mode": False,
        "brand": runtime.settings.brand_name, "password_min_length": 10,
    }  # fmt: skip
    for template in ("oidc/error.html", "oidc/logout_error.html"):
        spanish = page_text(runtime.templates.render(template, "es", context))
        assert "An English sentence for developers." not in spanish
        assert code in spanish  # the code itself, for support
        english = page_text(runtime.templates.render(template, "en", context))
        assert "An English sentence for developers." in english


@pytest.mark.parametrize(
    ("lang", "heading"), [("en", "Page not found"), ("es", "Página no encontrada")]
)
def test_the_404_page_title_and_heading_agree(client, lang, heading):
    page = client.get(f"/no-such-page?lang={lang}")
    assert page.status_code == 404
    title = re.search(r"<title>(.*?) · ", page.text).group(1)
    h1 = re.search(r"<h1>(.*?)</h1>", page.text).group(1)
    assert title == h1 == heading


def test_english_pages_use_british_dates_and_spanish_ones_those_of_spain(tmp_path):
    (tmp_path / "d.html").write_text("{{ day | date }}|{{ moment | datetime }}")
    templates = Templates(tmp_path, timezone="Europe/Madrid")
    context = {"day": date(2026, 12, 2), "moment": datetime(2026, 12, 2, 17, 5, tzinfo=UTC)}
    assert templates.render("d.html", "en", context) == "2 December 2026|2 Dec 2026, 18:05 CET"
    assert (
        templates.render("d.html", "es", context) == "2 de diciembre de 2026|2 dic 2026, 18:05 CET"
    )
