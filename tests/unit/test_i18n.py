"""Language negotiation and the completeness of the Spanish catalog."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from identity.web.i18n import LOCALE_DIR, negotiate, parse_accept_language

ROOT = Path(__file__).resolve().parents[2]


def test_accept_language_is_ordered_by_quality():
    assert parse_accept_language("en;q=0.5, es-ES, fr;q=0.8, de;q=0") == ["es-ES", "fr", "en"]
    assert parse_accept_language("") == []
    assert parse_accept_language("es;q=abc, en") == ["en"]


def test_the_explicit_choice_wins_then_cookie_user_ui_locales_and_browser():
    assert negotiate(explicit="es", cookie="en", accept_language="en") == "es"
    assert negotiate(cookie="es", user_locale="en") == "es"
    assert negotiate(user_locale="es", ui_locales="en") == "es"
    assert negotiate(ui_locales="fr es-MX", accept_language="en") == "es"
    assert negotiate(accept_language="fr-CA, es;q=0.9, en;q=0.8") == "es"
    assert negotiate(accept_language="de, fr") == "en"
    assert negotiate(explicit="xx", cookie="zz") == "en"


def _extracted_msgids() -> set[str]:
    method_map = [
        ("templates/**.html", "jinja2"),
        ("templates/**.txt", "jinja2"),
        ("src/identity/**.py", "python"),
    ]
    options = {"templates/**": {"extensions": "jinja2.ext.i18n"}}
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    ids = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options, keywords=keywords
    ):
        ids.add(message if isinstance(message, str) else message[0])
    return {i for i in ids if i}


def test_every_visible_string_has_a_spanish_translation():
    with (LOCALE_DIR / "es" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        catalog = read_po(f, locale="es")
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    missing = sorted(_extracted_msgids() - translated)
    assert missing == [], "run `make messages` and translate: " + "; ".join(missing)
