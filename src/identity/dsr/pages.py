"""The customer's data page: download everything held about them, ask for their account to be
erased (after a grace period), or cancel that. Linked from the account page."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from identity.accounts.service import LoginFailed
from identity.audit.refs import Actor
from identity.context import CurrentSession
from identity.db import utcnow
from identity.errors import TooManyAttempts
from identity.web.deps import (
    PAGE_DEPENDENCIES,
    CsrfFormDep,
    OriginDep,
    RuntimeDep,
    UserDep,
    signed_in,
    text_field,
)
from identity.web.pages import redirect, render

router = APIRouter(include_in_schema=False, dependencies=PAGE_DEPENDENCIES)

DataUser = Annotated[CurrentSession, signed_in("/account/data")]
NOTICES = frozenset({"erasure_requested", "erasure_cancelled"})


def _page(
    request: Request,
    runtime: RuntimeDep,
    current: CurrentSession,
    *,
    error: tuple[str, str] | None = None,  # (which form, what went wrong)
    status: int = 200,
    retry_after: int = 0,
) -> Response:
    notice = request.query_params.get("notice")
    return render(
        request,
        "dsr/data.html",
        {
            "needs_password": runtime.dsr.needs_password(current),
            "erasure": runtime.dsr.pending_erasure(current.user.id),
            "grace_days": runtime.settings.erasure_grace.days,
            "notice": notice if notice in NOTICES and error is None else None,
            "error_form": error[0] if error else None,
            "error": error[1] if error else None,
            "retry_after": retry_after,
        },
        status=status,
        headers={"Retry-After": str(retry_after)} if retry_after else None,
    )


def _refused(
    request: Request, runtime: RuntimeDep, current: CurrentSession, form: str, exc: Exception
) -> Response:
    if isinstance(exc, TooManyAttempts):
        return _page(
            request,
            runtime,
            current,
            error=(form, "throttled"),
            status=429,
            retry_after=exc.retry_after,
        )
    return _page(request, runtime, current, error=(form, "password"), status=401)


@router.get("/account/data")
def data_page(request: Request, current: UserDep, runtime: RuntimeDep) -> Response:
    return _page(request, runtime, current)


@router.post("/account/data")
def download(
    request: Request, form: CsrfFormDep, current: DataUser, runtime: RuntimeDep, origin: OriginDep
) -> Response:
    """The export as a file (GDPR Art. 15 and 20), after the password for an older sign-in."""
    try:
        document: dict[str, Any] = runtime.dsr.download(
            current, text_field(form, "password", 2048), origin
        )
    except (LoginFailed, TooManyAttempts) as exc:
        return _refused(request, runtime, current, "download", exc)
    return Response(
        json.dumps(document, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="my-data-{utcnow():%Y-%m-%d}.json"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/account/erase")
def request_erasure(
    request: Request, form: CsrfFormDep, current: DataUser, runtime: RuntimeDep, origin: OriginDep
) -> Response:
    try:
        runtime.dsr.request_erasure(current, text_field(form, "password", 2048), origin)
    except (LoginFailed, TooManyAttempts) as exc:
        return _refused(request, runtime, current, "erase", exc)
    return redirect("/account/data?notice=erasure_requested")


@router.post("/account/erase/cancel")
def cancel_erasure(form: CsrfFormDep, current: DataUser, runtime: RuntimeDep) -> Response:
    runtime.dsr.cancel_erasure(current.user.id, actor=Actor.user(current.user.id))
    return redirect("/account/data?notice=erasure_cancelled")
