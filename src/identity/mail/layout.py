"""Every mail in one layout: the plain text a template writes, and an HTML part made from it.

A mail template (``templates/mail/<name>.txt``) writes only its text. :func:`render_mail` adds
the footer (the brand, why the message came, the privacy policy) to it, and builds the HTML
part from the same text through ``mail/_layout.html``: paragraphs stay paragraphs, and a link
becomes a button, labelled by the template's optional ``{% set button = _("...") %}`` or, for
"Label: link" lines, by the label. A new template therefore gets its HTML part without any
work, and the two parts cannot disagree about a link: both come from the same text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

URL = re.compile(r"https?://[^\s<>\"']+")
FOOTER_SEPARATOR = "\n-- \n"  # the signature separator (RFC 3676 §4.3) before the footer


class MailTemplates(Protocol):
    def render(self, name: str, locale: str, context: dict[str, Any]) -> str: ...

    def render_with_exports(
        self, name: str, locale: str, context: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]: ...


@dataclass(frozen=True, slots=True)
class Block:
    """A paragraph (``lines``), or a button (``href`` with ``label``, the label may be empty:
    the layout's default then)."""

    lines: tuple[str, ...] = ()
    href: str | None = None
    label: str = ""


@dataclass(frozen=True, slots=True)
class MailBody:
    text: str
    html: str


def blocks_of(text: str) -> list[Block]:
    """The text's paragraphs (split at blank lines) with each link taken out as a button."""
    blocks: list[Block] = []
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        lines: list[str] = []
        for line in (raw.strip() for raw in paragraph.splitlines()):
            found = URL.search(line)
            if not found:
                if line:
                    lines.append(line)
                continue
            before = line[: found.start()].strip()
            if lines:
                blocks.append(Block(tuple(lines)))
                lines = []
            blocks.append(Block(href=found.group(0), label=before.rstrip(":").strip()))
            after = line[found.end() :].strip()
            if after:
                lines.append(after)
        if lines:
            blocks.append(Block(tuple(lines)))
    return blocks


def render_mail(
    templates: MailTemplates, name: str, locale: str, context: dict[str, Any]
) -> MailBody:
    """``templates/mail/<name>.txt`` in ``locale`` as both parts of a multipart/alternative
    mail, in the one layout (brand, footer with the privacy policy and why it came)."""
    body, exports = templates.render_with_exports(f"mail/{name}.txt", locale, context)
    body = body.strip()
    text = templates.render("mail/_layout.txt", locale, {"body": body})
    html = templates.render(
        "mail/_layout.html",
        locale,
        {"blocks": blocks_of(body), "button": exports.get("button") or ""},
    )
    return MailBody(text=text.strip() + "\n", html=html)
