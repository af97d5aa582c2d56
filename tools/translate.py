"""Fill a locale's catalog from a msgid -> translation dict (used when adding many strings).

    python tools/translate.py es /path/to/dict.py   # the file defines ES = {...}

Day to day, edit ``src/identity/web/locales/<lang>/LC_MESSAGES/messages.po`` directly after
``make messages`` has merged new strings into it.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

LOCALES = Path(__file__).resolve().parent.parent / "src" / "identity" / "web" / "locales"


def main(locale: str, source: str) -> None:
    table = runpy.run_path(source)[locale.upper()]
    po_path = LOCALES / locale / "LC_MESSAGES" / "messages.po"
    with (LOCALES / "messages.pot").open("rb") as f:
        template = read_po(f)
    catalog = read_po(po_path.open("rb"), locale=locale) if po_path.exists() else None
    if catalog is None:
        from babel.messages.catalog import Catalog

        catalog = Catalog(locale=locale, project="identity", fuzzy=False)
    catalog.update(template)
    for message in catalog:
        if isinstance(message.id, tuple):  # plural forms: the table has both
            if all(form in table for form in message.id):
                message.string = tuple(table[form] for form in message.id)
                message.flags.discard("fuzzy")
        elif message.id and message.id in table:
            message.string = table[message.id]
            message.flags.discard("fuzzy")
    po_path.parent.mkdir(parents=True, exist_ok=True)
    with po_path.open("wb") as f:
        write_po(f, catalog, no_location=True, sort_output=True, include_previous=False)
    missing = [m.id for m in catalog if m.id and not _translated(m.string)]
    print(f"{po_path}: {len(catalog) - len(missing)} translated, {len(missing)} missing")
    for m in missing:
        print("  missing:", m)


def _translated(string: str | tuple[str, ...]) -> bool:
    return all(string) if isinstance(string, tuple) else bool(string)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
