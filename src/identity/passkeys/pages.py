"""The passkey pages: sign in with a passkey, and the passkeys of the account (add, rename,
remove).

Each ceremony has two requests. The browser's script (``/static/passkeys.js``, the CSP
allows no inline script) first posts the form's CSRF token to an ``options`` endpoint and
gets the WebAuthn options as JSON (errors as RFC 9457 problem documents); after the
authenticator answered, it puts the answer in the form's ``credential`` field and submits
the form as any other, so the result is an ordinary redirect or page. Challenges are bound
to this browser by the ``identity_passkey`` cookie (``SameSite=Strict``, ``HttpOnly``):
a random value, stored only as a digest beside each challenge.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from identity.accounts.pages import set_session_cookie
from identity.accounts.service import AccountDisabled, LoginFailed
from identity.context import CurrentSession
from identity.crypto import new_token
from identity.errors import DomainError, TooManyAttempts
from identity.passkeys.rules import CHALLENGE_TTL
from identity.passkeys.service import NoSuchPasskey, PasskeyRefused, ReauthenticationRequired
from identity.web.deps import (
    PAGE_DEPENDENCIES,
    CsrfFormDep,
    OriginDep,
    RuntimeDep,
    UserDep,
    signed_in,
    text_field,
)
from identity.web.errors import domain_problem
from identity.web.pages import redirect, render, safe_next

FormUser = Annotated[CurrentSession, signed_in("/account/passkeys")]

router = APIRouter(include_in_schema=False, dependencies=PAGE_DEPENDENCIES)

CREDENTIAL_FIELD_LENGTH = 64_000
NOTICES = frozenset({"added", "renamed", "removed"})


def _browser_cookie(runtime: RuntimeDep) -> str:
    return ("__Host-" if runtime.session_cookie.secure else "") + "identity_passkey"


def _options(request: Request, runtime: RuntimeDep, make: Any) -> Response:
    """The options ``make(browser)`` returns, as JSON, with this browser's cookie (kept when
    it has one, so several tabs can each run a ceremony)."""
    name = _browser_cookie(runtime)
    browser = request.cookies.get(name) or ""
    if not 20 <= len(browser) <= 100:
        browser = new_token()
    try:
        body = make(browser)
    except DomainError as exc:  # the password (wrong, throttled), too many passkeys
        return domain_problem(exc)
    response = Response(body, media_type="application/json")
    response.set_cookie(
        name,
        browser,
        max_age=int(CHALLENGE_TTL.total_seconds()) * 2,
        httponly=True,
        secure=runtime.session_cookie.secure,
        samesite="strict",
        path="/",
    )
    return response


# -- sign-in ------------------------------------------------------------------------------


@router.get("/login/passkey")
def sign_in_page(request: Request) -> Response:
    """Sign in with a passkey only: where a relying party's ``acr_values=phr`` leads."""
    return render(
        request,
        "passkeys/signin.html",
        {"next": safe_next(request.query_params.get("next")), "error": None},
    )


@router.post("/login/passkey/options")
def sign_in_options(request: Request, form: CsrfFormDep, runtime: RuntimeDep) -> Response:
    return _options(request, runtime, runtime.passkeys.begin_sign_in)


@router.post("/login/passkey")
def sign_in(
    request: Request, form: CsrfFormDep, runtime: RuntimeDep, origin: OriginDep
) -> Response:
    # Keep ``next`` exactly as a password sign-in does: the OIDC flow resumes from it.
    next_url = safe_next(text_field(form, "next", 2000))
    try:
        logged_in = runtime.passkeys.finish_sign_in(
            request.cookies.get(_browser_cookie(runtime), ""),
            text_field(form, "credential", CREDENTIAL_FIELD_LENGTH),
            origin,
            request.cookies.get(runtime.session_cookie.name),
        )
    except (PasskeyRefused, AccountDisabled) as exc:
        error = exc.reason if isinstance(exc, PasskeyRefused) else "disabled"
        context = {"next": next_url, "error": error}
        return render(request, "passkeys/signin.html", context, status=401)
    if logged_in.next_step:  # e.g. consents to review after a policy change
        next_url = f"{logged_in.next_step}?" + urlencode({"next": next_url})
    response = redirect(next_url)
    set_session_cookie(runtime, response, logged_in.cookie_value)
    return response


# -- the account's passkeys ---------------------------------------------------------------


def _manage(
    request: Request,
    runtime: RuntimeDep,
    current: CurrentSession,
    *,
    error: str | None = None,
    error_for: str | None = None,
    status: int = 200,
) -> Response:
    notice = request.query_params.get("notice")
    return render(
        request,
        "passkeys/manage.html",
        {
            "passkeys": runtime.passkeys.of_user(current.user.id),
            "needs_password": runtime.passkeys.needs_password(current),
            "adding": request.query_params.get("add") == "1",
            "notice": notice if notice in NOTICES and error is None else None,
            "error": error,
            "error_for": error_for,
        },
        status=status,
    )


@router.get("/account/passkeys")
def manage(request: Request, current: UserDep, runtime: RuntimeDep) -> Response:
    return _manage(request, runtime, current)


@router.post("/account/passkeys/options")
def registration_options(
    request: Request, form: CsrfFormDep, current: FormUser, runtime: RuntimeDep, origin: OriginDep
) -> Response:
    password = text_field(form, "password", 2048)
    return _options(
        request,
        runtime,
        lambda browser: runtime.passkeys.begin_registration(current, browser, password, origin),
    )


@router.post("/account/passkeys")
def register(
    request: Request, form: CsrfFormDep, current: FormUser, runtime: RuntimeDep, origin: OriginDep
) -> Response:
    try:
        runtime.passkeys.finish_registration(
            current,
            request.cookies.get(_browser_cookie(runtime), ""),
            text_field(form, "credential", CREDENTIAL_FIELD_LENGTH),
            text_field(form, "name", 200),
            origin,
        )
    except PasskeyRefused as exc:
        return _manage(request, runtime, current, error=exc.reason, error_for="add", status=400)
    return redirect("/account/passkeys?notice=added")


@router.post("/account/passkeys/rename")
def rename(
    request: Request, form: CsrfFormDep, current: FormUser, runtime: RuntimeDep, origin: OriginDep
) -> Response:
    try:
        runtime.passkeys.rename(
            current, text_field(form, "passkey", 64), text_field(form, "name", 200), origin
        )
    except NoSuchPasskey:
        return _manage(request, runtime, current, error="unknown", status=404)
    return redirect("/account/passkeys?notice=renamed")


@router.post("/account/passkeys/remove")
def remove(
    request: Request, form: CsrfFormDep, current: FormUser, runtime: RuntimeDep, origin: OriginDep
) -> Response:
    passkey = text_field(form, "passkey", 64)
    try:
        runtime.passkeys.remove(current, passkey, text_field(form, "password", 2048), origin)
    except NoSuchPasskey:
        return _manage(request, runtime, current, error="unknown", status=404)
    except (ReauthenticationRequired, LoginFailed):
        return _manage(request, runtime, current, error="password", error_for=passkey, status=401)
    except TooManyAttempts as exc:
        response = _manage(request, runtime, current, error="throttled", error_for=passkey)
        response.status_code = 429
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    return redirect("/account/passkeys?notice=removed")
