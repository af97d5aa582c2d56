"""HTML pages for accounts. Each handler reads the form, calls one service method, renders."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from identity.accounts import credential_pages
from identity.accounts.countries import country_choices
from identity.accounts.devices import DEVICE_COOKIE_MAX_AGE
from identity.accounts.pending import PENDING_MAX_AGE
from identity.accounts.rules import (
    SUPPORTED_LOCALES,
    Problem,
    Profile,
    link_path,
    login_form_problems,
    normalize_email,
)
from identity.accounts.service import (
    AccountDisabled,
    EmailNotVerified,
    InvalidForm,
    LoggedIn,
    LoginFailed,
    SecondFactorRequired,
)
from identity.context import CurrentSession
from identity.errors import TooManyAttempts
from identity.links import LinkError
from identity.web.deps import (
    PAGE_DEPENDENCIES,
    CsrfFormDep,
    CurrentDep,
    OriginDep,
    RuntimeDep,
    UserDep,
    request_locale,
    signed_in,
    text_field,
)
from identity.web.pages import redirect, render, safe_next

FormUser = Annotated[CurrentSession, signed_in("/account")]

router = APIRouter(include_in_schema=False, dependencies=PAGE_DEPENDENCIES)

PROFILE_FIELDS = (
    "name",
    "locale",
    "phone_number",
    "street_address",
    "locality",
    "postal_code",
    "country",
)

NOTICES = frozenset(
    {"verified", "password_reset", "signed_out", "check_email", "sessions_ended", "profile_saved"}
)


def _notice(request: Request) -> str | None:
    value = request.query_params.get("notice")
    return value if value in NOTICES else None


def set_session_cookie(
    runtime: RuntimeDep, response: Response, value: str, max_age: int | None = None
) -> None:
    cookie = runtime.session_cookie
    response.set_cookie(
        cookie.name,
        value,
        max_age=max_age,
        httponly=True,
        secure=cookie.secure,
        samesite="lax",
        path="/",
    )


def set_sign_in_cookies(runtime: RuntimeDep, response: Response, logged_in: LoggedIn) -> None:
    """A completed sign-in's cookies: the session's (kept after the browser closes only with
    "keep me signed in"), and a device cookie for a browser that had none (new-device alerts)."""
    row = logged_in.session
    lifetime = int((row.expires_at - row.created_at).total_seconds()) if row.remember else None
    set_session_cookie(runtime, response, logged_in.cookie_value, lifetime)
    if logged_in.device_cookie:
        cookie = runtime.session_cookie
        response.set_cookie(
            cookie.device,
            logged_in.device_cookie,
            max_age=int(DEVICE_COOKIE_MAX_AGE.total_seconds()),
            httponly=True,
            secure=cookie.secure,
            samesite="lax",
            path="/",
        )


def set_pending_cookie(runtime: RuntimeDep, response: Response, value: str | None) -> None:
    """The sign-in waiting for its code (``value``), or its end (None). Strict: only our own
    code page, reached from our own sign-in form, ever needs it."""
    cookie = runtime.session_cookie
    if value is None:
        response.delete_cookie(
            cookie.pending, path="/", secure=cookie.secure, httponly=True, samesite="strict"
        )
        return
    response.set_cookie(
        cookie.pending,
        value,
        max_age=int(PENDING_MAX_AGE.total_seconds()),
        httponly=True,
        secure=cookie.secure,
        samesite="strict",
        path="/",
    )


@router.get("/")
def home(current: CurrentDep) -> Response:
    return redirect("/account" if current else "/login")


# -- sign-up ------------------------------------------------------------------------------
#
# Every page of the way in carries ``next`` (checked by ``safe_next`` each time it arrives,
# from a form, a query or a mailed link), so a shopper who came from a channel ends there:
# sign-up -> mailed link -> verify -> sign-in -> next; forgot -> mailed link -> reset ->
# sign-in -> next.


def _journey(runtime: RuntimeDep, next_url: str) -> dict[str, Any]:
    """``next`` and, when it continues an authorization, the registered client it is for
    (its name and home page, from the client registry: never from the request)."""
    return {"next": next_url, "continue_to": runtime.oidc.client_continued_by(next_url)}


def _next(request: Request, form: Any = None) -> str:
    raw = text_field(form, "next", 2000) if form is not None else request.query_params.get("next")
    return safe_next(raw)


@router.get("/signup")
def signup_form(request: Request, runtime: RuntimeDep) -> Response:
    form = {"email": "", "name": "", "locale": request_locale(request)}
    context = {"form": form, "problems": [], **_journey(runtime, _next(request))}
    return render(request, "accounts/signup.html", context)


@router.post("/signup")
def signup(request: Request, form: CsrfFormDep, runtime: RuntimeDep, origin: OriginDep) -> Response:
    values = {
        "email": text_field(form, "email", 320),
        "name": text_field(form, "name", 200),
        "locale": text_field(form, "locale", 8) or request_locale(request),
    }
    next_url = _next(request, form)
    context = {"form": values, "problems": [], **_journey(runtime, next_url)}
    try:
        runtime.accounts.signup(
            password=text_field(form, "password", 2048),
            origin=origin,
            next_url=next_url,
            **values,
        )
    except TooManyAttempts as exc:
        return _mail_limited(request, "accounts/signup.html", context, exc)
    except InvalidForm as exc:
        context["problems"] = [p.value for p in exc.problems]
        return render(request, "accounts/signup.html", context, status=400)
    return redirect(link_path("/signup/sent", next_url))


@router.get("/signup/sent")
def signup_sent(request: Request) -> Response:
    context = {"reason": "signup", "next": _next(request)}
    return render(request, "accounts/check_email.html", context)


@router.get("/verify")
def verify(request: Request, runtime: RuntimeDep, origin: OriginDep) -> Response:
    next_url = _next(request)
    try:
        user = runtime.accounts.verify_email(request.query_params.get("token", "")[:2000], origin)
    except LinkError as exc:
        context = {"reason": exc.reason, "link": "verify", "next": next_url}
        return render(request, "accounts/link_problem.html", context, status=400)
    # Not signed in here: the link may be opened on another device, or by a mail scanner.
    # The sign-in form comes with the address filled in and leads on to ``next``.
    return redirect(link_path("/login", next_url, notice="verified", login_hint=user.email))


@router.post("/verify/resend")
def resend_verification(
    request: Request, form: CsrfFormDep, runtime: RuntimeDep, origin: OriginDep
) -> Response:
    email = text_field(form, "email", 320)
    next_url = _next(request, form)
    try:
        runtime.accounts.resend_verification(email=email, origin=origin, next_url=next_url)
    except TooManyAttempts as exc:
        context = {"email": email, "error": None, "notice": None, "problems": []}
        context |= _journey(runtime, next_url)
        return _mail_limited(request, "accounts/login.html", context, exc)
    return redirect(link_path("/login", next_url, notice="check_email"))


def _mail_limited(
    request: Request, template: str, context: dict[str, Any], exc: TooManyAttempts
) -> Response:
    """The form again, saying how long to wait before another message can be sent."""
    minutes = max(1, -(-exc.retry_after // 60))
    return render(
        request,
        template,
        {**context, "mail_limited_minutes": minutes},
        status=429,
        headers={"Retry-After": str(exc.retry_after)},
    )


# -- login and logout ---------------------------------------------------------------------


@router.get("/login")
def login_form(request: Request, runtime: RuntimeDep) -> Response:
    context = {
        "email": request.query_params.get("login_hint", "")[:320],
        "error": None,
        "notice": _notice(request),
        "problems": [],
        **_journey(runtime, _next(request)),
    }
    return render(request, "accounts/login.html", context)


def _login_refused(request: Request, context: dict[str, Any], error: str, status: int) -> Response:
    return render(request, "accounts/login.html", {**context, "error": error}, status=status)


@router.post("/login")
def login(request: Request, form: CsrfFormDep, runtime: RuntimeDep, origin: OriginDep) -> Response:
    email = text_field(form, "email", 320)
    password = text_field(form, "password", 2048)
    next_url = _next(request, form)
    remember = text_field(form, "remember", 8) == "1"  # "keep me signed in"
    context = {
        "email": email,
        "notice": None,
        "problems": [],
        "remember": remember,
        **_journey(runtime, next_url),
    }
    if problems := login_form_problems(email, password):
        context["problems"] = [p.value for p in problems]
        return _login_refused(request, context, "", 400)
    try:
        logged_in = runtime.accounts.login(
            email=email,
            password=password,
            origin=origin,
            previous_cookie=request.cookies.get(runtime.session_cookie.name),
            remember=remember,
        )
    except LoginFailed:
        return _login_refused(request, context, "invalid", 401)
    except EmailNotVerified:
        return _login_refused(request, context, "unverified", 403)
    except AccountDisabled:
        return _login_refused(request, context, "disabled", 403)
    except TooManyAttempts as exc:
        return render(
            request,
            "accounts/login.html",
            {**context, "error": "throttled", "retry_after": exc.retry_after},
            status=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    except SecondFactorRequired as exc:  # no session yet: the code comes first
        response = redirect("/login/code?" + urlencode({"next": next_url}))
        set_pending_cookie(runtime, response, exc.pending)
        return response
    if logged_in.next_step:  # e.g. consents to review after a policy change
        next_url = f"{logged_in.next_step}?" + urlencode({"next": next_url})
    response = redirect(next_url)
    set_sign_in_cookies(runtime, response, logged_in)
    return response


# -- password reset -----------------------------------------------------------------------


@router.get("/forgot")
def forgot_form(request: Request, runtime: RuntimeDep) -> Response:
    email = request.query_params.get("email", "")[:320]
    context = {"email": email, "problems": [], **_journey(runtime, _next(request))}
    return render(request, "accounts/forgot.html", context)


@router.post("/forgot")
def forgot(request: Request, form: CsrfFormDep, runtime: RuntimeDep, origin: OriginDep) -> Response:
    email = text_field(form, "email", 320)
    next_url = _next(request, form)
    context = {"email": email, "problems": [], **_journey(runtime, next_url)}
    if normalize_email(email) is None:  # the format only: says nothing about accounts
        context["problems"] = [Problem.email_invalid.value]
        return render(request, "accounts/forgot.html", context, status=400)
    try:
        runtime.accounts.request_reset(email=email, origin=origin, next_url=next_url)
    except TooManyAttempts as exc:
        return _mail_limited(request, "accounts/forgot.html", context, exc)
    return redirect(link_path("/forgot/sent", next_url))


@router.get("/forgot/sent")
def forgot_sent(request: Request) -> Response:
    context = {"reason": "reset", "next": _next(request)}
    return render(request, "accounts/check_email.html", context)


def _link_problem(request: Request, exc: LinkError, next_url: str) -> Response:
    context = {"reason": exc.reason, "link": "reset", "next": next_url}
    return render(request, "accounts/link_problem.html", context, status=400)


@router.get("/reset")
def reset_form(request: Request, runtime: RuntimeDep) -> Response:
    token = request.query_params.get("token", "")[:2000]
    next_url = _next(request)
    try:
        runtime.accounts.check_reset_link(token)
    except LinkError as exc:
        return _link_problem(request, exc, next_url)
    context = {"token": token, "problems": [], "next": next_url}
    return render(request, "accounts/reset.html", context)


@router.post("/reset")
def reset(request: Request, form: CsrfFormDep, runtime: RuntimeDep, origin: OriginDep) -> Response:
    token = text_field(form, "token", 2000)
    next_url = _next(request, form)
    try:
        user = runtime.accounts.reset_password(
            token=token,
            password=text_field(form, "password", 2048),
            confirm=text_field(form, "confirm", 2048),
            origin=origin,
            current_cookie=request.cookies.get(runtime.session_cookie.name),
        )
    except LinkError as exc:
        return _link_problem(request, exc, next_url)
    except InvalidForm as exc:
        problems = [p.value for p in exc.problems]
        context = {"token": token, "problems": problems, "next": next_url}
        return render(request, "accounts/reset.html", context, status=400)
    return redirect(link_path("/login", next_url, notice="password_reset", login_hint=user.email))


# -- account ------------------------------------------------------------------------------


def _profile_of(user: Any) -> Profile:
    address = user.address or {}
    return Profile(
        name=user.name,
        locale=user.locale,
        phone_number=user.phone_number or "",
        street_address=address.get("street_address", ""),
        locality=address.get("locality", ""),
        postal_code=address.get("postal_code", ""),
        country=address.get("country", ""),
    )


def _account_page(
    request: Request,
    runtime: RuntimeDep,
    current: CurrentSession,
    *,
    profile: Profile | None = None,
    problems: list[str] | None = None,
    status: int = 200,
) -> Response:
    view = runtime.accounts.account(current.user.id)
    return render(
        request,
        "accounts/account.html",
        {
            "user": view.user,
            "sessions": view.sessions,
            "this_sid": current.session.sid,
            "locales": SUPPORTED_LOCALES,
            "countries": country_choices(request_locale(request)),
            "notice": None if problems else _notice(request),
            "problems": problems or [],
            "profile": profile or _profile_of(view.user),
            "erasure": runtime.dsr.pending_erasure(current.user.id),
            **credential_pages.security_context(request),
        },
        status=status,
    )


@router.get("/account")
def account(request: Request, current: UserDep, runtime: RuntimeDep) -> Response:
    return _account_page(request, runtime, current)


@router.post("/account/profile")
def update_profile(
    request: Request, form: CsrfFormDep, current: FormUser, runtime: RuntimeDep, origin: OriginDep
) -> Response:
    profile = Profile(**{name: text_field(form, name, 200) for name in PROFILE_FIELDS})
    try:
        runtime.accounts.update_profile(current, profile, origin)
    except InvalidForm as exc:
        problems = [p.value for p in exc.problems]
        return _account_page(
            request, runtime, current, profile=profile, problems=problems, status=400
        )
    return redirect("/account?notice=profile_saved")


@router.post("/account/sessions/end")
def end_session(
    form: CsrfFormDep, current: FormUser, runtime: RuntimeDep, origin: OriginDep
) -> Response:
    runtime.accounts.end_session(current, text_field(form, "sid", 64), origin)
    return redirect("/account?notice=sessions_ended")


@router.post("/account/sessions/end-others")
def end_other_sessions(
    form: CsrfFormDep, current: FormUser, runtime: RuntimeDep, origin: OriginDep
) -> Response:
    runtime.accounts.end_other_sessions(current, origin)
    return redirect("/account?notice=sessions_ended")


# Change of password and of address: their own module, served with the account pages.
router.include_router(credential_pages.router)
