"""Countries for the address form: ISO 3166-1 alpha-2 codes and their names in the page's
language, from Babel's copy of the Unicode CLDR (no list of our own to keep up to date).

The form shows names and stores the code, so "Spain" can never be cut to "Sp"; the server
accepts only a code from :func:`country_codes`.
"""

from __future__ import annotations

import unicodedata
from functools import cache

from babel import Locale

# CLDR territories that are not countries one can live in: regions ("150" Europe is
# filtered by being numeric), groupings, unknown/private-use codes, and the "exceptionally
# reserved" codes ISO 3166-1 does not assign (Ceuta and Melilla are in ES, the Canaries too).
NOT_COUNTRIES = frozenset(
    {"EU", "EZ", "UN", "QO", "ZZ", "XA", "XB", "AC", "CP", "CQ", "DG", "EA", "IC", "TA"}
)


@cache
def country_codes() -> frozenset[str]:
    """Every code the address form accepts."""
    return frozenset(
        code
        for code in Locale("en").territories
        if len(code) == 2 and code.isalpha() and code not in NOT_COUNTRIES
    )


def _sort_key(name: str) -> str:
    # Accents sort with their base letter ("Égypte" near "Equateur"), as a reader expects;
    # close enough to CLDR collation for a list of names, without ICU.
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


@cache
def country_choices(locale: str) -> tuple[tuple[str, str], ...]:
    """(code, name in ``locale``) for every accepted code, sorted by name for that locale."""
    names = Locale.parse(locale).territories
    codes = country_codes()
    return tuple(
        sorted(
            ((code, names.get(code, code)) for code in codes),
            key=lambda choice: _sort_key(choice[1]),
        )
    )
