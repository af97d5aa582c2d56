"""Spanish and English through Babel gettext catalogs.

Catalogs live in ``web/locales/<lang>/LC_MESSAGES/messages.po`` and are compiled in memory at
start-up (no binary ``.mo`` files in the repository, no build step). English is the source
language, so its catalog is the identity. ``make messages`` re-extracts the template strings.

Language choice, first match wins (see :func:`negotiate`): an explicit ``?lang=`` switch, the
language cookie the switcher leaves, the signed-in user's saved language, the ``ui_locales``
parameter of an OpenID Connect request, the browser's ``Accept-Language``, then English.

Dates and times follow one regional convention per language (:data:`FORMAT_LOCALES`): the
English texts use British spelling ("personalised", "cancelled"), so English pages and mails use
British formats (``2 December 2026``, 24-hour clock); Spanish ones those of Spain.
"""

from __future__ import annotations

import gettext
from collections.abc import Iterable
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from identity.context import LOCALES

DEFAULT_LOCALE = "en"
LOCALE_DIR = Path(__file__).parent / "locales"
LANG_COOKIE = "identity_lang"
# Babel's locale for dates and times per language: British English to match the spelling.
FORMAT_LOCALES = {"en": "en_GB", "es": "es_ES"}


def format_locale(locale: str) -> str:
    """The Babel locale that formats dates and times on pages in ``locale``."""
    return FORMAT_LOCALES.get(locale, FORMAT_LOCALES[DEFAULT_LOCALE])


def load_translations(locale: str) -> gettext.NullTranslations:
    po = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return gettext.NullTranslations()
    with po.open("rb") as f:
        catalog = read_po(f, locale=locale)
    buffer = BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(fp=buffer, domain="messages")


def supported(tag: str | None) -> str | None:
    """Map a language tag (``es-MX``, ``EN``) to a supported locale, or None."""
    if not tag:
        return None
    primary = tag.strip().replace("_", "-").split("-")[0].lower()
    return primary if primary in LOCALES else None


def parse_accept_language(header: str) -> list[str]:
    """Language tags from an ``Accept-Language`` header, best first (RFC 9110 §12.5.4)."""
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            weighted.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(weighted)]


def negotiate(
    *,
    explicit: str | None = None,
    cookie: str | None = None,
    user_locale: str | None = None,
    ui_locales: str | None = None,
    accept_language: str | None = None,
) -> str:
    candidates: Iterable[str | None] = (
        explicit,
        cookie,
        user_locale,
        *(ui_locales or "").split(),
        *parse_accept_language(accept_language or ""),
    )
    for candidate in candidates:
        locale = supported(candidate)
        if locale:
            return locale
    return DEFAULT_LOCALE
