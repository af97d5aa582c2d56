"""Reading the officer console's pages the way an officer does: the entries a results page
lists, its "older"/"newer" links, and every page of a search followed to its end."""

from __future__ import annotations

import re
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from identity.audit.models import AuditEntryRow

_ENTRY = re.compile(r'<a href="/admin/audit/(\d+)">')
_PAGER = re.compile(r'<a href="(/admin/audit\?[^"]+)" rel="(prev|next)">')


def listed(html: str) -> list[int]:
    """The leaf indexes a results page lists, in the order shown."""
    return [int(i) for i in _ENTRY.findall(html)]


def link(html: str, which: str) -> str | None:
    """The "older" (``next``) or "newer" (``prev``) link of a results page."""
    rel = {"older": "next", "newer": "prev"}[which]
    for href, found in _PAGER.findall(html):
        if found == rel:
            return unescape(href)
    return None


def cursor_of(href: str) -> str:
    return parse_qs(urlsplit(href).query)["cursor"][0]


def every_page(client: Any, first: str) -> list[int]:
    """Follow "older" from ``first`` to the last page; every index listed, in order (a
    search by email address is sent on to the same search by account first)."""
    page = client.get(first)
    if page.status_code == 303:
        page = client.get(page.headers["location"])
    assert page.status_code == 200, page.text
    seen = listed(page.text)
    while (older := link(page.text, "older")) is not None:
        page = client.get(older)
        assert page.status_code == 200, page.text
        seen += listed(page.text)
    return seen


def placed_entries(runtime: Any) -> list[AuditEntryRow]:
    """Every entry the log has placed, newest first: the oracle searches are checked against."""
    with runtime.db.read() as session:
        return list(
            session.scalars(
                select(AuditEntryRow)
                .where(AuditEntryRow.leaf_index.is_not(None))
                .order_by(AuditEntryRow.leaf_index.desc())
            )
        )


def officer_entries(runtime: Any, action: str) -> list[AuditEntryRow]:
    """The officer.* entries of one action, oldest first (placed or not)."""
    with runtime.db.read() as session:
        return list(
            session.scalars(
                select(AuditEntryRow)
                .where(AuditEntryRow.action == action)
                .order_by(AuditEntryRow.id)
            )
        )
