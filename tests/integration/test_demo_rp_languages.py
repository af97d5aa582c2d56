"""The demo channels speak Spanish and English, negotiated as the provider negotiates: the
switch (``?lang=``), then the cookie it leaves, then the browser's Accept-Language."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx

from tests.integration.test_demo_rp import (  # noqa: F401 (fixtures)
    Demo,
    demo,
    provider,
)
from tests.support.forms import page_text


def test_a_spanish_browser_gets_the_channels_in_spanish(demo: Demo) -> None:
    with httpx.Client(headers={"Accept-Language": "es-ES,es;q=0.9,en;q=0.5"}) as http:
        for channel, title in (("store", "Tienda web"), ("app", "App de la tienda")):
            page = http.get(demo.home(channel))
            assert '<html lang="es">' in page.text
            text = page_text(page.text)
            assert title in text
            assert "No has iniciado sesión." in text
            assert "Not signed in" not in text
        overview = page_text(http.get(f"{demo.store_url}/").text)
        assert "Una cuenta, tres canales" in overview


def test_the_switch_wins_and_is_remembered_across_channels(demo: Demo) -> None:
    with httpx.Client(headers={"Accept-Language": "es"}) as http:
        switched = http.get(f"{demo.home('store')}?lang=en")
        assert "Not signed in." in page_text(switched.text)
        assert switched.cookies.get("demo_rp_lang") == "en"
        # Another channel on the same site, no ?lang= this time: the cookie decides.
        assert '<html lang="en">' in http.get(demo.home("app")).text


def test_the_provider_is_asked_for_the_same_language(demo: Demo) -> None:
    with httpx.Client(headers={"Accept-Language": "es"}) as http:
        start = http.get(f"{demo.home('store')}login")
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["ui_locales"] == ["es"]


def test_an_unknown_language_falls_back_to_english(demo: Demo) -> None:
    with httpx.Client(headers={"Accept-Language": "de"}) as http:
        page = http.get(f"{demo.home('store')}?lang=xx")
    assert '<html lang="en">' in page.text
    assert "demo_rp_lang" not in page.cookies
