"""The second factor's pages: the code step of signing in, the security page (enrol an
authenticator app, recovery codes, remove it), and the code asked again of a signed-in browser.

No JavaScript: the QR code is an SVG image in a ``data:`` URI (the CSP allows ``img-src
data:``), the secret is printed for typing by hand, and recovery codes are typed into the
same field as a code (the "recovery code" link only changes the keyboard a phone shows).
"""

from __future__ import annotations

from contextlib import suppress
from typing import Annotated, Any
from urllib.parse import urlencode

import segno
from fastapi import APIRouter, Request
from starlette.responses import Response

from identity.accounts.pages import set_pending_cookie, set_sign_in_cookies
from identity.context import CurrentSession
from identity.errors import TooManyAttempts
from identity.mfa.rules import grouped
from identity.mfa.service import (
    AlreadyEnrolled,
    CodeRefused,
    FactorStatus,
    NoFactor,
    SignInExpired,
)
from identity.web.deps import (
    PAGE_DEPENDENCIES,
    CsrfFormDep,
    OriginDep,
    RuntimeDep,
    UserDep,
    signed_in,
    text_field,
)
from identity.web.pages import redirect, render, safe_next

SecurityUser = Annotated[CurrentSession, signed_in("/account/security")]
VerifyUser = Annotated[CurrentSession, signed_in("/account/security/verify")]

router = APIRouter(include_in_schema=False, dependencies=PAGE_DEPENDENCIES)

CODE_FIELD_LENGTH = 64


def _next(request: Request, form: Any = None) -> str:
    raw = text_field(form, "next", 2000) if form is not None else request.query_params.get("next")
    return safe_next(raw)


def _with_next(path: str, next_url: str) -> str:
    return f"{path}?" + urlencode({"next": next_url})


def _refused(
    request: Request, template: str, context: dict[str, Any], exc: Exception, status: int = 401
) -> Response:
    """The form again, saying why the code was not taken (and how long to wait)."""
    if isinstance(exc, TooManyAttempts):
        return render(
            request,
            template,
            {**context, "error": "throttled", "retry_after": exc.retry_after},
            status=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    reason = exc.reason if isinstance(exc, CodeRefused) else "expired"
    return render(request, template, {**context, "error": reason}, status=status)


def _code_page(request: Request, action: str, next_url: str, purpose: str) -> dict[str, Any]:
    return {
        "action": action,
        "next": next_url,
        "purpose": purpose,
        "recovery": request.query_params.get("with") == "recovery",
        "error": None,
    }


# -- the code step of signing in ----------------------------------------------------------


@router.get("/login/code")
def sign_in_code_form(request: Request, runtime: RuntimeDep) -> Response:
    next_url = _next(request)
    if runtime.mfa.pending_user(request.cookies.get(runtime.session_cookie.pending)) is None:
        return redirect(_with_next("/login", next_url))
    return render(request, "mfa/code.html", _code_page(request, "/login/code", next_url, "sign_in"))


@router.post("/login/code")
def sign_in_code(
    request: Request, form: CsrfFormDep, runtime: RuntimeDep, origin: OriginDep
) -> Response:
    next_url = _next(request, form)
    context = _code_page(request, "/login/code", next_url, "sign_in")
    try:
        logged_in = runtime.mfa.complete_sign_in(
            request.cookies.get(runtime.session_cookie.pending),
            text_field(form, "code", CODE_FIELD_LENGTH),
            origin,
            request.cookies.get(runtime.session_cookie.name),
        )
    except SignInExpired as exc:
        response = _refused(request, "mfa/code.html", context, exc, status=400)
        set_pending_cookie(runtime, response, None)
        return response
    except (CodeRefused, TooManyAttempts) as exc:
        return _refused(request, "mfa/code.html", context, exc)
    if logged_in.next_step:  # e.g. consents to review after a policy change
        next_url = _with_next(logged_in.next_step, next_url)
    response = redirect(next_url)
    set_sign_in_cookies(runtime, response, logged_in)
    set_pending_cookie(runtime, response, None)
    return response


# -- the code asked again of a signed-in browser ------------------------------------------


@router.get("/account/security/verify")
def verify_form(request: Request, current: UserDep, runtime: RuntimeDep) -> Response:
    next_url = _next(request)
    if not runtime.mfa.status(current.user).enrolled:
        return redirect(_with_next("/account/security", next_url))
    context = _code_page(request, "/account/security/verify", next_url, "verify")
    return render(request, "mfa/code.html", context)


@router.post("/account/security/verify")
def verify(
    request: Request, form: CsrfFormDep, current: VerifyUser, runtime: RuntimeDep, origin: OriginDep
) -> Response:
    next_url = _next(request, form)
    try:
        runtime.mfa.verify_session(current, text_field(form, "code", CODE_FIELD_LENGTH), origin)
    except NoFactor:
        return redirect(_with_next("/account/security", next_url))
    except (CodeRefused, TooManyAttempts) as exc:
        context = _code_page(request, "/account/security/verify", next_url, "verify")
        return _refused(request, "mfa/code.html", context, exc)
    return redirect(next_url)


# -- the security page: enrol, recovery codes, remove -------------------------------------


def _qr_image(uri: str) -> str:
    """The ``otpauth://`` URI as an SVG QR code in a ``data:`` URI (segno)."""
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=4, dark="#1c2230")


def _security_context(status: FactorStatus, next_url: str, notice: str | None) -> dict[str, Any]:
    setup = status.setup
    return {
        "status": status,
        "next": next_url,
        "notice": notice,
        "error": None,
        "error_form": None,
        "qr": _qr_image(setup.uri) if setup else None,
        "secret": grouped(setup.secret) if setup else None,
    }


@router.get("/account/security")
def security(request: Request, current: UserDep, runtime: RuntimeDep) -> Response:
    notice = request.query_params.get("notice")
    context = _security_context(
        runtime.mfa.status(current.user), _next(request), notice if notice == "removed" else None
    )
    return render(request, "mfa/security.html", context)


def _security_refused(
    request: Request,
    runtime: RuntimeDep,
    current: CurrentSession,
    next_url: str,
    form: str,
    exc: Exception,
) -> Response:
    context = _security_context(runtime.mfa.status(current.user), next_url, None)
    return _refused(request, "mfa/security.html", {**context, "error_form": form}, exc, 400)


@router.post("/account/security/totp")
def start_enrolment(
    form: CsrfFormDep, current: SecurityUser, runtime: RuntimeDep, origin: OriginDep
) -> Response:
    with suppress(AlreadyEnrolled):  # on already: the page shows it
        runtime.mfa.start_enrolment(current, origin)
    return redirect(_with_next("/account/security", safe_next(text_field(form, "next", 2000))))


@router.post("/account/security/totp/confirm")
def confirm_enrolment(
    request: Request,
    form: CsrfFormDep,
    current: SecurityUser,
    runtime: RuntimeDep,
    origin: OriginDep,
) -> Response:
    next_url = _next(request, form)
    try:
        codes = runtime.mfa.confirm_enrolment(
            current, text_field(form, "code", CODE_FIELD_LENGTH), origin
        )
    except NoFactor:  # nothing to confirm (confirmed in another tab, or never started)
        return redirect(_with_next("/account/security", next_url))
    except (CodeRefused, TooManyAttempts) as exc:
        return _security_refused(request, runtime, current, next_url, "confirm", exc)
    return render(
        request, "mfa/recovery_codes.html", {"codes": codes, "next": next_url, "reason": "enrolled"}
    )


@router.post("/account/security/recovery-codes")
def renew_recovery_codes(
    request: Request,
    form: CsrfFormDep,
    current: SecurityUser,
    runtime: RuntimeDep,
    origin: OriginDep,
) -> Response:
    next_url = _next(request, form)
    try:
        codes = runtime.mfa.renew_recovery_codes(
            current, text_field(form, "code", CODE_FIELD_LENGTH), origin
        )
    except NoFactor:
        return redirect(_with_next("/account/security", next_url))
    except (CodeRefused, TooManyAttempts) as exc:
        return _security_refused(request, runtime, current, next_url, "renew", exc)
    return render(
        request, "mfa/recovery_codes.html", {"codes": codes, "next": next_url, "reason": "renewed"}
    )


@router.post("/account/security/remove")
def remove(
    request: Request,
    form: CsrfFormDep,
    current: SecurityUser,
    runtime: RuntimeDep,
    origin: OriginDep,
) -> Response:
    next_url = _next(request, form)
    try:
        runtime.mfa.remove(
            current,
            code=text_field(form, "code", CODE_FIELD_LENGTH),
            password=text_field(form, "password", 2048),
            origin=origin,
        )
    except NoFactor:
        return redirect(_with_next("/account/security", next_url))
    except (CodeRefused, TooManyAttempts) as exc:
        return _security_refused(request, runtime, current, next_url, "remove", exc)
    return redirect("/account/security?notice=removed")
