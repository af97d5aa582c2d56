"""Rendering pages: one helper that adds what every template needs."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import Request
from starlette.responses import HTMLResponse, RedirectResponse

from identity.web.csrf import FIELD as CSRF_FIELD
from identity.web.deps import current_session, explicit_locale_choice, get_runtime, request_locale
from identity.web.i18n import LANG_COOKIE, LOCALES

LANG_COOKIE_MAX_AGE = 365 * 24 * 3600


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    runtime = get_runtime(request)
    locale = request_locale(request)
    full = {
        "current": current_session(request),
        "csrf_field": CSRF_FIELD,
        "csrf_token": runtime.csrf.token(request),
        "language_links": language_links(request),
        "dev_mode": runtime.settings.is_development,
        "brand": runtime.settings.brand_name,
        "password_min_length": runtime.settings.password_min_length,
        **(context or {}),
    }
    html = runtime.templates.render(template, locale, full)
    response = HTMLResponse(html, status_code=status, headers=headers)
    runtime.csrf.attach(request, response)
    remember_language_choice(request, response)
    return response


def remember_language_choice(request: Request, response: Any) -> None:
    chosen = explicit_locale_choice(request)
    if chosen and request.cookies.get(LANG_COOKIE) != chosen:
        runtime = get_runtime(request)
        response.set_cookie(
            LANG_COOKIE,
            chosen,
            max_age=LANG_COOKIE_MAX_AGE,
            httponly=True,
            secure=runtime.settings.https,
            samesite="lax",
        )


def language_links(request: Request) -> list[dict[str, Any]]:
    """The switcher: the current page in each language (other query parameters kept)."""
    current = request_locale(request)
    params = {k: v for k, v in request.query_params.items() if k != "lang"}
    return [
        {
            "locale": locale,
            "href": f"{request.url.path}?{urlencode({**params, 'lang': locale})}",
            "current": locale == current,
        }
        for locale in LOCALES
    ]


def redirect(url: str) -> RedirectResponse:
    """303 See Other: after a form post the browser must follow with GET (RFC 9110 §15.4.4)."""
    return RedirectResponse(url, status_code=303)


def safe_next(value: str | None, default: str = "/account") -> str:
    """Only same-site relative paths may be a post-login destination (no open redirects)."""
    if not value or len(value) > 2000:
        return default
    if not value.startswith("/") or value.startswith(("//", "/\\")) or "\\" in value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(ord(c) < 0x20 for c in value):
        return default
    return value
