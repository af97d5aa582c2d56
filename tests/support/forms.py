"""Helpers that use the pages the way a browser does: fetch a form, post it with its token."""

from __future__ import annotations

import re
from html import unescape
from typing import Any

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(client: Any, path: str = "/login") -> str:
    page = client.get(path)
    match = _TOKEN.search(page.text)
    assert match, f"no CSRF token on {path} (status {page.status_code})"
    return unescape(match.group(1))


def submit(client: Any, path: str, data: dict[str, str], *, form_page: str | None = None) -> Any:
    """POST ``data`` to ``path`` with the CSRF token of ``form_page`` (default: ``path``)."""
    token = csrf_token(client, form_page or path.split("?")[0])
    return client.post(path, data={"csrf_token": token, **data})


def login(client: Any, email: str, password: str, next_url: str = "/account") -> Any:
    return submit(client, "/login", {"email": email, "password": password, "next": next_url})


def page_text(html: str) -> str:
    """Visible text of a page, roughly: tags dropped, whitespace collapsed."""
    text = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", text)
    return re.sub(r"\s+", " ", unescape(text)).strip()
