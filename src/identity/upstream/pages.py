"""Pages of the external sign-in: start, callback, confirmation, proof, mailed link, unlink.

Every handler reads the request, calls one use case of :class:`~identity.upstream.confirm.
Upstream`, and renders its result in :func:`_signed_in_or_waiting` or the one problem page.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from identity.accounts.pages import set_pending_cookie, set_session_cookie
from identity.context import CurrentSession
from identity.errors import NotFound, TooManyAttempts
from identity.upstream.service import CodeRequired, Result, SignedIn, UpstreamFailed, Waiting
from identity.web.deps import (
    PAGE_DEPENDENCIES,
    CsrfFormDep,
    CurrentDep,
    OriginDep,
    RuntimeDep,
    request_locale,
    signed_in,
    text_field,
)
from identity.web.pages import redirect, render, safe_next

router = APIRouter(include_in_schema=False, dependencies=PAGE_DEPENDENCIES)
FormUser = Annotated[CurrentSession, signed_in("/account")]
LinkUser = Annotated[CurrentSession, signed_in("/login/upstream/link")]
FLOW, PENDING = "identity_upstream", "identity_upstream_pending"
# What a problem page may say, by reason code; anything else reads as "try again".
STATUS = {"already_linked": 409, "last_way_in": 409, "account_disabled": 403, "unverified": 403}


def _cookie(runtime: RuntimeDep, name: str) -> str:
    # __Host-: only this exact origin over https may set it (no sibling subdomain).
    return f"__Host-{name}" if runtime.settings.https else name


def _set(runtime: RuntimeDep, response: Response, name: str, value: str, max_age: float) -> None:
    # Lax: the upstream's redirect back, and a link opened from a mail, are top-level
    # navigations from another site, and must bring it along.
    response.set_cookie(
        _cookie(runtime, name), value, max_age=int(max_age), httponly=True,
        secure=runtime.settings.https, samesite="lax", path="/",
    )  # fmt: skip


def _clear(runtime: RuntimeDep, response: Response, name: str) -> None:
    response.delete_cookie(
        _cookie(runtime, name), path="/", secure=runtime.settings.https, httponly=True,
        samesite="lax",
    )  # fmt: skip


def _problem(request: Request, runtime: RuntimeDep, reason: str) -> Response:
    response = render(
        request, "upstream/problem.html", {"reason": reason}, status=STATUS.get(reason, 400)
    )
    _clear(runtime, response, FLOW)
    return response


def _signed_in_or_waiting(runtime: RuntimeDep, result: Result) -> Response:
    """The one place a use case's result becomes a response."""
    if isinstance(result, Waiting):
        response = redirect(f"/login/upstream/{result.page}")
        _set(
            runtime,
            response,
            PENDING,
            result.pending,
            runtime.upstream.tokens.pending_ttl.total_seconds(),
        )
        return response
    next_url = safe_next(result.next_url)
    if isinstance(result, CodeRequired):
        response = redirect("/login/code?" + urlencode({"next": next_url}))
        set_pending_cookie(runtime, response, result.pending_sign_in)
    else:
        assert isinstance(result, SignedIn)
        step = result.logged_in.next_step
        response = redirect(f"{step}?" + urlencode({"next": next_url}) if step else next_url)
        set_session_cookie(runtime, response, result.logged_in.cookie_value)
    _clear(runtime, response, PENDING)
    return response


@router.post("/login/upstream/{key}/start")
def start(request: Request, key: str, form: CsrfFormDep, runtime: RuntimeDep) -> Response:
    next_url = safe_next(text_field(form, "next", 2000))
    try:
        url, flow = runtime.upstream.begin(key[:40], next_url, request_locale(request))
    except UpstreamFailed as exc:
        return _problem(request, runtime, exc.reason)
    response = redirect(url)
    _set(runtime, response, FLOW, flow, runtime.upstream.tokens.flow_ttl.total_seconds())
    return response


@router.get("/login/upstream/{key}/callback")
def callback(
    request: Request, key: str, runtime: RuntimeDep, current: CurrentDep, origin: OriginDep
) -> Response:
    params = {k: v[:4000] for k, v in request.query_params.items()}
    try:
        result = runtime.upstream.finish(
            key[:40],
            params,
            request.cookies.get(_cookie(runtime, FLOW)),
            current=current,
            origin=origin,
            previous_cookie=request.cookies.get(runtime.session_cookie.name),
        )
    except UpstreamFailed as exc:
        return _problem(request, runtime, exc.reason)
    response = _signed_in_or_waiting(runtime, result)
    _clear(runtime, response, FLOW)
    return response


def _pending_cookie(request: Request, runtime: RuntimeDep) -> str | None:
    return request.cookies.get(_cookie(runtime, PENDING))


@router.get("/login/upstream/link")
def link_form(request: Request, runtime: RuntimeDep, current: CurrentDep) -> Response:
    """Signed in: confirm the link. Not signed in: the account must be proven first."""
    if current is None:
        return redirect("/login/upstream/prove")
    pending = runtime.upstream.pending(_pending_cookie(request, runtime))
    if pending is None:
        return _problem(request, runtime, "expired")
    provider = runtime.upstream.registry.get(pending.identity.provider)
    return render(
        request,
        "upstream/link.html",
        {"identity": pending.identity, "provider": provider.display_name if provider else "?"},
    )


@router.post("/login/upstream/link")
def link(request: Request, form: CsrfFormDep, runtime: RuntimeDep, current: LinkUser) -> Response:
    try:
        next_url = runtime.upstream.link_signed_in(current, _pending_cookie(request, runtime))
    except UpstreamFailed as exc:
        return _problem(request, runtime, exc.reason)
    response = redirect(safe_next(next_url))
    _clear(runtime, response, PENDING)
    return response


@router.get("/login/upstream/prove")
def prove_form(request: Request, runtime: RuntimeDep, current: CurrentDep) -> Response:
    if current is not None:
        return redirect("/login/upstream/link")
    try:
        pending = runtime.upstream.proof_needed(_pending_cookie(request, runtime))
    except UpstreamFailed as exc:
        return _problem(request, runtime, exc.reason)
    provider = runtime.upstream.registry.get(pending.identity.provider)
    login = "/login?" + urlencode(
        {"next": "/login/upstream/link", "login_hint": pending.identity.email or ""}
    )
    return render(
        request,
        "upstream/prove.html",
        {
            "identity": pending.identity,
            "provider": provider.display_name if provider else "?",
            "login_url": login,
        },
    )


@router.post("/login/upstream/mail/send")
def send_mail(
    request: Request, form: CsrfFormDep, runtime: RuntimeDep, origin: OriginDep
) -> Response:
    try:
        runtime.upstream.mail_proof(_pending_cookie(request, runtime), origin)
    except UpstreamFailed as exc:
        return _problem(request, runtime, exc.reason)
    except TooManyAttempts as exc:
        return render(
            request, "upstream/problem.html", {"reason": "mail_limited"}, status=429,
            headers={"Retry-After": str(exc.retry_after)},
        )  # fmt: skip
    return render(request, "upstream/sent.html")


@router.get("/login/upstream/mail")
def mailed_form(request: Request, runtime: RuntimeDep) -> Response:
    """A mailed link never acts on GET (mail scanners open links): a button does."""
    token = request.query_params.get("token", "")[:4000]
    try:
        link = runtime.upstream.mailed(token)
    except UpstreamFailed as exc:
        return _problem(request, runtime, exc.reason)
    provider = runtime.upstream.registry.get(link.provider)
    return render(
        request,
        "upstream/mailed.html",
        {"token": token, "provider": provider.display_name if provider else "?"},
    )


@router.post("/login/upstream/mail")
def confirm_mail(
    request: Request, form: CsrfFormDep, runtime: RuntimeDep, origin: OriginDep
) -> Response:
    try:
        result = runtime.upstream.confirm_mailed(
            text_field(form, "token", 4000),
            _pending_cookie(request, runtime),
            origin,
            request.cookies.get(runtime.session_cookie.name),
        )
    except UpstreamFailed as exc:
        return _problem(request, runtime, exc.reason)
    return _signed_in_or_waiting(runtime, result)


@router.post("/account/upstream/unlink")
def unlink(request: Request, form: CsrfFormDep, current: FormUser, runtime: RuntimeDep) -> Response:
    link_id = text_field(form, "link", 9)  # an int4: never overflows
    try:
        runtime.upstream.unlink(current, int(link_id) if link_id.isdigit() else -1)
    except UpstreamFailed as exc:
        return _problem(request, runtime, exc.reason)
    except NotFound:
        return _problem(request, runtime, "not_linked")
    return redirect("/account#upstream")
