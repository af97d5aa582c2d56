"""The preference center and the pages mails link to (double opt-in, one-click unsubscribe),
the re-consent interstitial, and the Global Privacy Control declaration."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from identity.audit.refs import Actor
from identity.consent.policy import LegalBasis, Purpose
from identity.consent.service import subject_key
from identity.context import CurrentSession, Origin
from identity.errors import NotFound
from identity.links import LinkError
from identity.web.deps import (
    PAGE_DEPENDENCIES,
    CsrfFormDep,
    OriginDep,
    RuntimeDep,
    UserDep,
    signed_in,
    text_field,
)
from identity.web.offload import in_thread
from identity.web.pages import redirect, render, safe_next

router = APIRouter(include_in_schema=False, dependencies=PAGE_DEPENDENCIES)

GPC_DECLARED = date(2026, 11, 23)
NOTICES = frozenset({"saved", "saved_pending", "withdrawn_all", "nothing_changed", "undone"})


@router.get("/.well-known/gpc.json")
def gpc_json() -> JSONResponse:
    """We honour Global Privacy Control (``Sec-GPC: 1``) as an opt-out of sale/sharing."""
    return JSONResponse(
        {"gpc": True, "lastUpdate": GPC_DECLARED.isoformat()},
        headers={"Cache-Control": "public, max-age=86400"},
    )


def _privacy_page(
    request: Request,
    runtime: RuntimeDep,
    current: CurrentSession,
    *,
    status: int = 200,
    problem: str | None = None,
) -> Response:
    subject = subject_key(current.user.id)
    answers = runtime.decisions.answers_for(subject)
    notice = request.query_params.get("notice")
    links = _links(runtime, current)
    return render(
        request,
        "consent/privacy.html",
        {
            "answers": answers,
            "history": runtime.consent.history(subject, limit=50),
            "titles": {p.id: p for p, _ in answers},
            "notice": notice if notice in NOTICES else None,
            "problem": problem,
            "gpc": request.headers.get("sec-gpc", "").strip() == "1",
            "has_phone": bool(current.user.phone_number),
            "links": links,
            "merged": {
                r.id: MergedFrom(link.channel, r.collected_at)
                for link in links
                for r in link.merged
            },
            "LegalBasis": LegalBasis,
        },
        status=status,
    )


PrivacyFormUser = Annotated[CurrentSession, signed_in("/account/privacy")]


@dataclass(frozen=True)
class LinkView:
    key: str
    channel: str
    linked_at: datetime
    merged: list[Any]


@dataclass(frozen=True)
class MergedFrom:
    channel: str
    at: datetime


def _links(runtime: Any, current: CurrentSession) -> list[LinkView]:
    """The anonymous ids linked to this account, with the channel's name and what merged."""
    views = []
    for link in runtime.linking.links_of(current.user.id):
        client = runtime.clients.get(link.client_id)
        channel = client.name if client else link.client_id
        views.append(LinkView(link.key, channel, link.linked_at, link.merged))
    return views


@router.post("/account/privacy/links/undo")
def undo_link(form: CsrfFormDep, runtime: RuntimeDep, current: PrivacyFormUser) -> Response:
    """Undo what signing in with a visitor's choices did (a shared device, a mistake)."""
    user_id = current.user.id
    runtime.linking.undo(text_field(form, "key", 64), user_id=user_id, actor=Actor.user(user_id))
    return redirect("/account/privacy?notice=undone")


@router.get("/account/privacy")
def privacy(request: Request, runtime: RuntimeDep, current: UserDep) -> Response:
    return _privacy_page(request, runtime, current)


@router.post("/account/privacy")
def save_privacy(
    request: Request,
    form: CsrfFormDep,
    runtime: RuntimeDep,
    current: PrivacyFormUser,
    origin: OriginDep,
) -> Response:
    choices = {}
    for purpose in runtime.consent.catalog:
        value = text_field(form, f"purpose.{purpose.id}", 10)
        if purpose.switchable and value in ("on", "off"):
            choices[purpose.id] = value == "on"
    return _saved(request, runtime, current, choices, origin)


def _saved(
    request: Request,
    runtime: RuntimeDep,
    current: CurrentSession,
    choices: dict[str, bool],
    origin: Origin,
) -> Response:
    """Apply choices the way every form of the page does, and say what happened."""
    subject = subject_key(current.user.id)
    result = runtime.consent.set_choices(subject, choices, origin=origin)
    if result.need_phone:  # every other choice was kept; say what is missing
        return _privacy_page(request, runtime, current, status=400, problem="phone_needed")
    if not result.recorded:
        return redirect("/account/privacy?notice=nothing_changed")
    pending = any(r.status == "pending" for r in result.recorded)
    return redirect(f"/account/privacy?notice={'saved_pending' if pending else 'saved'}")


@router.post("/account/privacy/all")
def choose_all(
    request: Request,
    form: CsrfFormDep,
    runtime: RuntimeDep,
    current: PrivacyFormUser,
    origin: OriginDep,
) -> Response:
    """ "Allow all" / "Refuse all" at the top of the page: every purpose that rests on consent,
    through the same write as single choices (double opt-in, the phone rule). Statistics rest
    on legitimate interest: they are an objection, made below or by "withdraw all"."""
    answer = text_field(form, "all", 10)
    if answer not in ("allow", "refuse"):  # a crafted form: change nothing
        return redirect("/account/privacy?notice=nothing_changed")
    choices = {p.id: answer == "allow" for p in consent_purposes(runtime.consent.catalog)}
    return _saved(request, runtime, current, choices, origin)


@router.get("/account/privacy/withdraw-all")
def withdraw_all_page(request: Request, runtime: RuntimeDep, current: UserDep) -> Response:
    """Before withdrawing everything, say exactly what it does: which purposes go off, that it
    objects to statistics, and what stays (order emails)."""
    catalog = list(runtime.consent.catalog)
    return render(
        request,
        "consent/withdraw_all.html",
        {
            "turned_off": consent_purposes(catalog),
            "objected": [
                p
                for p in catalog
                if p.switchable and p.legal_basis is LegalBasis.legitimate_interest
            ],
            "kept": [p for p in catalog if not p.switchable],
        },
    )


@router.post("/account/privacy/withdraw-all")
def withdraw_all(
    form: CsrfFormDep, runtime: RuntimeDep, current: PrivacyFormUser, origin: OriginDep
) -> Response:
    runtime.consent.withdraw_all(subject_key(current.user.id), origin=origin)
    return redirect("/account/privacy?notice=withdrawn_all")


def consent_purposes(catalog: Iterable[Purpose]) -> list[Purpose]:
    """The purposes a customer may switch that rest on their consent."""
    return [p for p in catalog if p.switchable and p.legal_basis is LegalBasis.consent]


def _record_id(raw: str) -> int:
    """A record id from the path. Anything else gets the 404 of a record that is not the
    customer's: a receipt page never tells whether some other record exists."""
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise NotFound("no such record")
    return int(raw)


# Declared before the page: "{record_id}" alone would also match "12.jwt".
@router.get("/account/privacy/receipts/{record_id}.jwt")
def receipt_jwt(record_id: str, runtime: RuntimeDep, current: PrivacyFormUser) -> Response:
    """The record as a signed consent receipt (JWS), for the customer to keep."""
    record = _record_id(record_id)
    token = runtime.receipts.token_of_subject(subject_key(current.user.id), record)
    return Response(
        token,
        media_type="application/jwt",
        headers={"Content-Disposition": f'attachment; filename="consent-receipt-{record}.jwt"'},
    )


@router.get("/account/privacy/receipts/{record_id}")
def receipt_page(
    request: Request, record_id: str, runtime: RuntimeDep, current: UserDep
) -> Response:
    """The receipt to read (and print): what the signed receipt states, the text shown, the
    JWS itself and how to verify it. Only the record's owner sees it."""
    receipt = runtime.receipts.of_subject(subject_key(current.user.id), _record_id(record_id))
    return render(
        request,
        "consent/receipt.html",
        {"receipt": receipt, "download_url": f"/account/privacy/receipts/{receipt.record_id}.jwt"},
    )


@router.get("/privacy/purposes")
def purposes_page(request: Request, runtime: RuntimeDep) -> Response:
    """The public policy page: every purpose and every version of its text, with anchors
    (``#<purpose>``, ``#<purpose>-v<version>``) that receipts' ``policyUrl`` points at."""
    return render(
        request,
        "consent/purposes.html",
        {"purposes": list(runtime.consent.catalog), "LegalBasis": LegalBasis},
    )


@router.get("/receipts/jwks")
def receipt_jwks(runtime: RuntimeDep) -> JSONResponse:
    """Every key that ever signed a consent receipt (or will): a receipt verifies against
    this set for as long as it is kept. Listed in discovery as ``consent_receipts_jwks_uri``."""
    return JSONResponse(
        runtime.receipt_keys.jwks(), headers={"Cache-Control": "public, max-age=300"}
    )


# -- double opt-in ----------------------------------------------------------------------------


@router.get("/privacy/confirm")
def confirm_page(request: Request, runtime: RuntimeDep) -> Response:
    # A button, not an automatic confirmation: mail scanners open links, people press buttons.
    token = request.query_params.get("token", "")[:2000]
    purpose = runtime.consent.peek_confirmation(token)
    return render(
        request,
        "consent/confirm.html",
        {"token": token, "done": None, "reason": None, "purpose": purpose},
    )


@router.post("/privacy/confirm")
def confirm(
    request: Request, form: CsrfFormDep, runtime: RuntimeDep, origin: OriginDep
) -> Response:
    try:
        recorded = runtime.consent.confirm(text_field(form, "token", 2000), origin)
    except LinkError as exc:
        return render(
            request,
            "consent/confirm.html",
            {"token": "", "done": None, "reason": exc.reason, "purpose": None},
            status=400,
        )
    return render(
        request,
        "consent/confirm.html",
        {"token": "", "done": recorded.purpose, "reason": None, "purpose": None},
    )


# -- one-click unsubscribe (RFC 8058) ------------------------------------------------------------


def _unsubscribe_page(
    request: Request,
    *,
    purpose: Purpose | None = None,
    token: str = "",
    reason: str | None = None,
    done: bool = False,
) -> Response:
    return render(
        request,
        "consent/unsubscribe.html",
        {"purpose": purpose, "token": token, "reason": reason, "done": done},
        status=400 if reason else 200,
    )


@router.get("/unsubscribe/{token}")
def unsubscribe_page(request: Request, token: str, runtime: RuntimeDep) -> Response:
    try:
        _, purpose = runtime.consent.read_unsubscribe(token)
    except LinkError as exc:
        return _unsubscribe_page(request, reason=exc.reason)
    return _unsubscribe_page(request, purpose=purpose, token=token)


@router.post("/unsubscribe/{token}")
async def unsubscribe(
    request: Request, token: str, runtime: RuntimeDep, origin: OriginDep
) -> Response:
    """RFC 8058 §3.1: a POST with ``List-Unsubscribe=One-Click``, no cookie, no login, no CSRF
    token: the signed URL itself is the authority. Idempotent."""
    form = await request.form()
    if form.get("List-Unsubscribe") != "One-Click":
        return _unsubscribe_page(request, reason="invalid")
    try:
        _, purpose = runtime.consent.read_unsubscribe(token)
        await in_thread(runtime.consent.unsubscribe, token, origin)
    except LinkError as exc:
        return _unsubscribe_page(request, reason=exc.reason)
    return _unsubscribe_page(request, purpose=purpose, done=True)


# -- re-consent after a major version change ---------------------------------------------------


@router.get("/privacy/review")
def review(request: Request, runtime: RuntimeDep, current: UserDep) -> Response:
    next_url = safe_next(request.query_params.get("next"))
    purposes = runtime.decisions.to_reconfirm(subject_key(current.user.id))
    if not purposes:
        return redirect(next_url)
    return render(request, "consent/review.html", {"purposes": purposes, "next": next_url})


@router.post("/privacy/review")
def save_review(
    form: CsrfFormDep, runtime: RuntimeDep, current: UserDep, origin: OriginDep
) -> Response:
    next_url = safe_next(text_field(form, "next", 2000))
    keep = text_field(form, "choice", 10) == "keep"
    subject = subject_key(current.user.id)
    purposes = [p.id for p in runtime.decisions.to_reconfirm(subject)]
    runtime.consent.reconfirm(subject, purposes, keep=keep, origin=origin)
    return redirect(next_url)
