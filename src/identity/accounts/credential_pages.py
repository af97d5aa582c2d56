"""The account's "Sign-in and security" pages: change the password, change the email address,
and confirm the new address from the mailed link.

The router is included by the account pages' router (``accounts/pages.py``), so the app
needs no line of its own; it carries the page dependencies itself. Every form is CSRF-checked
and asks for the current password; the confirmation link is never acted on by a GET (mail
scanners open links), and only the account it was made for, signed in, may use it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from identity.accounts.service import InvalidForm, LoginFailed
from identity.context import CurrentSession
from identity.errors import TooManyAttempts
from identity.links import LinkError
from identity.web.deps import (
    PAGE_DEPENDENCIES,
    CsrfFormDep,
    OriginDep,
    RuntimeDep,
    signed_in,
    text_field,
)
from identity.web.pages import redirect, render

router = APIRouter(include_in_schema=False, dependencies=PAGE_DEPENDENCIES)

# Forms name their own page, so a session that ended meanwhile signs in and comes back to it.
PasswordUser = Annotated[CurrentSession, signed_in("/account/password")]
EmailUser = Annotated[CurrentSession, signed_in("/account/email")]
ConfirmUser = Annotated[CurrentSession, signed_in()]  # back to the link itself, token included

SECURITY_NOTICES = frozenset({"password_changed", "email_change_sent", "email_changed"})
# The notices land on the account page's security section (``#security``), which says them.
DONE = "/account?security={notice}#security"
FIELD = 2048  # passwords; addresses are cut at 320


def security_context(request: Request) -> dict[str, Any]:
    """What the account page's "Sign-in and security" section needs from the request."""
    notice = request.query_params.get("security")
    return {"security_notice": notice if notice in SECURITY_NOTICES else None}


def _refused(request: Request, template: str, context: dict[str, Any], exc: Exception) -> Response:
    """The form again, saying why: the password was wrong, attempts are paused, or the new
    value breaks a rule."""
    if isinstance(exc, TooManyAttempts):
        return render(
            request,
            template,
            {**context, "error": "throttled", "retry_after": exc.retry_after},
            status=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    if isinstance(exc, InvalidForm):
        problems = [p.value for p in exc.problems]
        return render(request, template, {**context, "problems": problems}, status=400)
    return render(request, template, {**context, "error": "wrong_password"}, status=401)


# -- the password -------------------------------------------------------------------------


def _password_form(**overrides: Any) -> dict[str, Any]:
    return {"problems": [], "error": None, "sign_out_others": True, **overrides}


@router.get("/account/password")
def password_form(request: Request, current: PasswordUser) -> Response:
    return render(request, "accounts/password.html", _password_form())


@router.post("/account/password")
def change_password(
    request: Request,
    form: CsrfFormDep,
    current: PasswordUser,
    runtime: RuntimeDep,
    origin: OriginDep,
) -> Response:
    sign_out_others = text_field(form, "sign_out_others", 8) == "1"
    try:
        runtime.accounts.change_password(
            current,
            password=text_field(form, "password", FIELD),
            new_password=text_field(form, "new_password", FIELD),
            confirm=text_field(form, "confirm", FIELD),
            sign_out_others=sign_out_others,
            origin=origin,
        )
    except (InvalidForm, LoginFailed, TooManyAttempts) as exc:
        context = _password_form(sign_out_others=sign_out_others)
        return _refused(request, "accounts/password.html", context, exc)
    return redirect(DONE.format(notice="password_changed"))


# -- the email address --------------------------------------------------------------------


def _email_form(current: CurrentSession, **overrides: Any) -> dict[str, Any]:
    return {"email": "", "current_email": current.user.email, "problems": [], "error": None} | (
        overrides
    )


@router.get("/account/email")
def email_form(request: Request, current: EmailUser) -> Response:
    return render(request, "accounts/email.html", _email_form(current))


@router.post("/account/email")
def request_email_change(
    request: Request,
    form: CsrfFormDep,
    current: EmailUser,
    runtime: RuntimeDep,
    origin: OriginDep,
) -> Response:
    new_email = text_field(form, "email", 320)
    try:
        runtime.accounts.request_email_change(
            current,
            new_email=new_email,
            password=text_field(form, "password", FIELD),
            origin=origin,
        )
    except (InvalidForm, LoginFailed, TooManyAttempts) as exc:
        context = _email_form(current, email=new_email)
        return _refused(request, "accounts/email.html", context, exc)
    return redirect(DONE.format(notice="email_change_sent"))


def _link_problem(request: Request, exc: LinkError) -> Response:
    return render(request, "accounts/email_link_problem.html", {"reason": exc.reason}, status=400)


@router.get("/account/email/confirm")
def confirm_email_form(request: Request, current: ConfirmUser, runtime: RuntimeDep) -> Response:
    token = request.query_params.get("token", "")[:2000]
    try:
        new_email = runtime.accounts.check_email_change(current, token)
    except LinkError as exc:
        return _link_problem(request, exc)
    return render(request, "accounts/email_confirm.html", {"token": token, "new_email": new_email})


@router.post("/account/email/confirm")
def confirm_email(
    request: Request, form: CsrfFormDep, current: EmailUser, runtime: RuntimeDep, origin: OriginDep
) -> Response:
    try:
        runtime.accounts.confirm_email_change(current, text_field(form, "token", 2000), origin)
    except LinkError as exc:
        return _link_problem(request, exc)
    return redirect(DONE.format(notice="email_changed"))
