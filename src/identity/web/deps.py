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


def _here(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def signed_in(next_url: str | None = None) -> Any:
    """A dependency: the signed-in session, or a sign-in that comes back to ``next_url``
    (default: the page asked for; forms name the page that holds them)."""

    def required(request: Request) -> CurrentSession:
        current = current_session(request)
        if current is None:
            raise SignInRequired(next_url or _here(request))
        return current

    return Depends(required)


class NotAnOfficer(PermissionDenied):
    slug = "not-an-officer"
    title = "This page is for privacy officers"


class StepRequired(Exception):
    """A page needs a step first (enrol a second factor, enter a code); the error handler
    sends the browser to ``path`` and, after it, back to ``next_url``."""

    def __init__(self, path: str, next_url: str) -> None:
        super().__init__(path)
        self.path = path
        self.next_url = next_url


# Where the officer gate sends a browser, by the verdict of ``identity.mfa.rules.officer_gate``.
GATE_STEPS = {"enrol": "/account/security", "code": "/account/security/verify"}
# Where it sends an officer who followed a link from another site (see :func:`_officer`).
ARRIVED_FROM_ELSEWHERE = "/admin/continue"


def _from_elsewhere(request: Request) -> bool:
    """A navigation another site (or another origin of this site) started, by the browser's
    ``Sec-Fetch-Site``; a typed URL or a bookmark says ``none``, a browser too old to say
    anything is let through."""
    return request.headers.get("sec-fetch-site") in ("cross-site", "same-site")


def _officer(
    request: Request, next_url: str | None, *, recent: bool, from_elsewhere: bool = False
) -> CurrentSession:
    current = current_session(request)
    if current is None:
        raise SignInRequired(next_url or _here(request))
    runtime = get_runtime(request)
    if not runtime.accounts.has_role(current.user.id, OFFICER):
        raise NotAnOfficer()
    step = GATE_STEPS.get(runtime.mfa.gate(current, recent=recent))
    if step is not None:
        raise StepRequired(step, next_url or _here(request))
    # Console pages record who looked at what: a link on another site must not make an
    # officer's browser search or open a customer in the officer's name. The officer is asked
    # first, on a page that writes nothing (forms are covered by the CSRF check).
    if request.method == "GET" and not from_elsewhere and _from_elsewhere(request):
        raise StepRequired(ARRIVED_FROM_ELSEWHERE, _here(request))
    return current


def officer_required(next_url: str | None = None) -> Any:
    """A dependency: the signed-in session of a privacy officer (role ``officer``) that
    proved its second factor. Anyone else signed in gets a 403 page; nobody signed in is sent
    to sign in first; an officer without a factor is sent to set one up, and one whose
    session has not proved it to the code page, each coming back to ``next_url`` (default:
    the page asked for; forms name the page that holds them)."""

    def required(request: Request) -> CurrentSession:
        return _officer(request, next_url, recent=False)

    return Depends(required)


def officer_arriving(request: Request) -> CurrentSession:
    """:func:`officer_required` for the page that asks an officer who followed a link from
    elsewhere whether to go on: it records nothing, so it may be reached that way."""
    return _officer(request, None, recent=False, from_elsewhere=True)


def officer_recently_authenticated(next_url: str | None = None) -> Any:
    """:func:`officer_required`, and the factor proven within
    ``IDENTITY_OFFICER_REAUTH_AFTER`` (exports, erasures): otherwise the code page first."""

    def required(request: Request) -> CurrentSession:
        return _officer(request, next_url, recent=True)

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
        device=request.cookies.get(get_runtime(request).session_cookie.device, "")[:200],
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
