"""Request-scoped helpers shared by every HTML page: runtime, current session, language."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from starlette.datastructures import FormData

from identity.context import OFFICER, CurrentSession, Origin
from identity.errors import PermissionDenied
from identity.web.csrf import FIELD as CSRF_FIELD
from identity.web.i18n import LANG_COOKIE, negotiate, supported

if TYPE_CHECKING:  # the composition root builds everything, this module included
    from identity.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def current_session(request: Request) -> CurrentSession | None:
    """The signed-in user of this browser, looked up once per request (reads only)."""
    if not hasattr(request.state, "current_session"):
        runtime = get_runtime(request)
        cookie = request.cookies.get(runtime.session_cookie.name)
        request.state.current_session = runtime.accounts.current(cookie)
    current: CurrentSession | None = request.state.current_session
    return current


class SignInRequired(Exception):
    """A page needs a signed-in user; the error handler sends the browser to sign in."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def signed_in(next_url: str | None = None) -> Any:
    """A dependency: the signed-in session, or a sign-in that comes back to ``next_url``
    (default: the page asked for; forms name the page that holds them)."""

    def required(request: Request) -> CurrentSession:
        current = current_session(request)
        if current is None:
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise SignInRequired(next_url or here)
        return current

    return Depends(required)


class NotAnOfficer(PermissionDenied):
    slug = "not-an-officer"
    title = "This page is for privacy officers"


def officer_required() -> Any:
    """A dependency: the signed-in session of a privacy officer (role ``officer``). Anyone
    else signed in gets a 403 page; nobody signed in is sent to sign in first."""

    def required(request: Request) -> CurrentSession:
        current = current_session(request)
        if current is None:
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise SignInRequired(here)
        if not get_runtime(request).accounts.has_role(current.user.id, OFFICER):
            raise NotAnOfficer()
        return current

    return Depends(required)


def honour_gpc(request: Request) -> None:
    """Pages' dependency: ``Sec-GPC: 1`` from a signed-in browser is the customer's own
    opt-out of sale/sharing, recorded once (later signals change nothing). API calls never
    run this: there the signal counts only on the customer's own token (``/v1/me``)."""
    if request.headers.get("sec-gpc", "").strip() != "1":
        return
    current = current_session(request)
    if current is not None:
        get_runtime(request).consent.apply_gpc(str(current.user.id), request_origin(request))


def request_locale(request: Request) -> str:
    if not hasattr(request.state, "locale"):
        current = current_session(request)
        request.state.locale = negotiate(
            explicit=request.query_params.get("lang"),
            cookie=request.cookies.get(LANG_COOKIE),
            user_locale=current.user.locale if current else None,
            ui_locales=request.query_params.get("ui_locales"),
            accept_language=request.headers.get("accept-language"),
        )
    locale: str = request.state.locale
    return locale


def explicit_locale_choice(request: Request) -> str | None:
    return supported(request.query_params.get("lang"))


def request_origin(request: Request) -> Origin:
    return Origin(
        ip=request.client.host if request.client else "unknown",
        user_agent=request.headers.get("user-agent", "")[:400],
        locale=request_locale(request),
    )


RuntimeDep = Annotated["Runtime", Depends(get_runtime)]
CurrentDep = Annotated[CurrentSession | None, Depends(current_session)]
UserDep = Annotated[CurrentSession, signed_in()]
OriginDep = Annotated[Origin, Depends(request_origin)]


async def close_parsed_form(request: Request) -> AsyncIterator[None]:
    """Close the form a route read, whatever the outcome (an app-wide dependency).

    Starlette keeps each uploaded file of a parsed form in a temporary file that only
    ``Request.close()`` closes, and nothing calls it for a route that reads
    ``request.form()`` itself. None of our forms takes a file, but anyone may send one.
    """
    try:
        yield
    finally:
        await request.close()


async def csrf_checked_form(request: Request) -> FormData:
    """The posted form, after the CSRF check (raises :class:`CsrfError`)."""
    form = await request.form()
    get_runtime(request).csrf.check(request, form.get(CSRF_FIELD))
    return form


def text_field(form: FormData, name: str, max_length: int = 1000) -> str:
    """A form field as text: missing or file fields read as empty, long ones are cut, NUL
    characters are dropped (no text box yields one, and PostgreSQL text cannot hold one:
    looking up or storing it there fails)."""
    value = form.get(name)
    return value.replace("\x00", "")[:max_length] if isinstance(value, str) else ""


CsrfFormDep = Annotated[FormData, Depends(csrf_checked_form)]
PAGE_DEPENDENCIES = [Depends(honour_gpc)]
