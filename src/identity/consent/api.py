"""The consent API (``/v1``) besides the decision and recording endpoints (front-door endpoints,
in :mod:`identity.consent.decision_api` and :mod:`identity.consent.record_api`): purposes, the
overview, the change feed, ``/v1/me``, webhooks.

Paths are stable; services depend on them. Errors are RFC 9457 problem documents. Reads need
``consent:read``, recording on a customer's behalf ``consent:write``; ``/v1/me/...`` takes the
customer's own access token with the ``preferences`` scope, which only first-party channels
may be given. ``Sec-GPC: 1`` is the customer's own browser signal: it is honoured on
``/v1/me`` (after the token is checked) and ignored on a service's calls, which are reads.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from fastapi.responses import Response

from identity.consent.access import ConsentAccess, SubjectView
from identity.consent.decisions import READ
from identity.consent.ledger import RecordView
from identity.consent.policy import Purpose
from identity.consent.schemas import (
    ChangesOut,
    DecisionOut,
    DeliveryOut,
    LocalizedText,
    MyChoiceIn,
    PurposeOut,
    RecordOut,
    SubjectOut,
    WebhookIn,
    WebhookOut,
)
from identity.consent.webhooks import Subscription, Webhooks
from identity.oidc.bearer import Caller
from identity.web.deps import get_runtime, request_origin

router = APIRouter(prefix="/v1", tags=["consent"])

PROBLEM = {"content": {"application/problem+json": {}}, "description": "RFC 9457 problem"}
ERRORS = {401: PROBLEM, 403: PROBLEM, 404: PROBLEM, 422: PROBLEM}


def get_access(request: Request) -> ConsentAccess:
    access: ConsentAccess = get_runtime(request).consent_access
    return access


def get_webhooks(request: Request) -> Webhooks:
    webhooks: Webhooks = get_runtime(request).webhooks
    return webhooks


def get_caller(request: Request, authorization: Annotated[str | None, Header()] = None) -> Caller:
    return get_runtime(request).bearer.caller(authorization)


AccessDep = Annotated[ConsentAccess, Depends(get_access)]
CallerDep = Annotated[Caller, Depends(get_caller)]
WebhooksDep = Annotated[Webhooks, Depends(get_webhooks)]


def purpose_out(p: Purpose) -> PurposeOut:
    return PurposeOut(
        id=p.id,
        version=p.version,
        legal_basis=p.legal_basis.value,
        category=p.category,
        channel=p.channel,
        default=p.default,
        double_opt_in=p.double_opt_in,
        expires_after_days=p.expires_after_days,
        switchable=p.switchable,
        title=LocalizedText(en=p.title.en, es=p.title.es),
        description=LocalizedText(en=p.description.en, es=p.description.es),
    )


def record_out(name: str, r: RecordView) -> RecordOut:
    return RecordOut(
        id=r.id,
        subject=name,
        purpose=r.purpose,
        purpose_version=r.purpose_version,
        decision=r.decision,
        pending=r.pending,
        source=r.source,
        collected_at=r.collected_at,
        recorded_at=r.recorded_at,
        expires_at=r.expires_at,
        language=r.language,
        text_hash=r.text_hash,
        cursor=r.cursor,
    )


def subject_out(view: SubjectView) -> SubjectOut:
    return SubjectOut(
        subject=view.name,
        decisions=[DecisionOut(**answer) for _, answer in view.answers],
        history=[record_out(view.name, r) for r in view.history],
    )


@router.get("/purposes", summary="Every purpose with its version, legal basis and texts")
def list_purposes(access: AccessDep) -> list[PurposeOut]:
    return [purpose_out(p) for p in access.decisions.catalog]


# Declared before /consents/{subject} so "changes" is not taken for a subject id.
@router.get(
    "/consents/changes", summary="Change feed: records in order, resumable", responses=ERRORS
)
def changes(
    access: AccessDep,
    caller: CallerDep,
    after: Annotated[int, Query(ge=0, le=2**62, description="cursor from the previous page")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ChangesOut:
    items, cursor = access.changes(caller, after, limit)
    return ChangesOut(items=[record_out(name, r) for name, r in items], next_cursor=cursor)


@router.get("/consents/{subject}", summary="A customer's answers and history", responses=ERRORS)
def subject_overview(subject: str, access: AccessDep, caller: CallerDep) -> SubjectOut:
    return subject_out(access.overview(caller, subject))


@router.post(
    "/consents/{subject}:gpc",
    summary="Relay an anonymous visitor's Global Privacy Control signal (consent:write)",
    responses=ERRORS,
)
def relay_visitor_gpc(subject: str, access: AccessDep, caller: CallerDep) -> SubjectOut:
    """The channel saw ``Sec-GPC: 1`` on its visitor's request: the visitor's opt-out of
    sale/share, recorded once per purpose (source ``gpc``). Only for the caller's own
    anonymous ids; a customer's signal comes with their own token on ``/v1/me``."""
    access.gpc_for_visitor(caller, subject)
    return subject_out(access.overview(caller, subject))


@router.get(
    "/consents/{subject}/receipts/{record_id}",
    summary="An anonymous visitor's consent receipt (JWS), for the channel to hand them",
    responses={200: {"content": {"application/jwt": {}}}, **ERRORS},
    response_class=Response,
)
def visitor_receipt(
    request: Request,
    subject: str,
    record_id: Annotated[int, Path(ge=1, le=2**62)],
    access: AccessDep,
    caller: CallerDep,
) -> Response:
    """The signed receipt of one of the visitor's records (verifiable at ``/receipts/jwks``).
    Only for the caller's own anonymous ids: a customer downloads theirs in the preference
    center, and a receipt names its subject as stored, never pairwise."""
    visitor = access.visitor(caller, subject, READ)
    token = get_runtime(request).receipts.token_of_subject(visitor.key, record_id)
    return Response(token, media_type="application/jwt")


@router.get("/me/consents", summary="The signed-in customer's own answers", responses=ERRORS)
def my_consents(request: Request, access: AccessDep, caller: CallerDep) -> SubjectOut:
    access.me(caller)  # authorize before the signal may write anything
    if request.headers.get("sec-gpc", "").strip() == "1":
        access.gpc_for_me(caller, request_origin(request))
    return subject_out(access.my_overview(caller))


@router.put(
    "/me/consents/{purpose}",
    summary="The customer changes one answer",
    responses={**ERRORS, 409: PROBLEM},
)
def set_my_consent(
    request: Request, purpose: str, body: MyChoiceIn, access: AccessDep, caller: CallerDep
) -> DecisionOut:
    answer: dict[str, Any] = access.set_mine(caller, purpose, body.allowed, request_origin(request))
    return DecisionOut(**answer)


# -- webhooks ------------------------------------------------------------------------------


def webhook_out(subscription: Subscription, secret: str | None = None) -> WebhookOut:
    return WebhookOut(
        id=subscription.id,
        url=subscription.url,
        purposes=subscription.purposes,
        created_at=subscription.created_at,
        secret=secret,
    )


@router.post("/webhooks", status_code=201, summary="Subscribe to consent changes", responses=ERRORS)
def subscribe(body: WebhookIn, webhooks: WebhooksDep, caller: CallerDep) -> WebhookOut:
    created = webhooks.subscribe(caller, body.url, body.purposes)
    return webhook_out(created.subscription, created.secret)


@router.get("/webhooks", summary="This client's subscriptions", responses=ERRORS)
def subscriptions(webhooks: WebhooksDep, caller: CallerDep) -> list[WebhookOut]:
    return [webhook_out(s) for s in webhooks.subscriptions(caller)]


@router.delete("/webhooks/{subscription_id}", status_code=204, responses=ERRORS)
def unsubscribe(subscription_id: str, webhooks: WebhooksDep, caller: CallerDep) -> Response:
    webhooks.unsubscribe(caller, subscription_id)
    return Response(status_code=204)


@router.get("/webhooks/{subscription_id}/deliveries", summary="Recent deliveries", responses=ERRORS)
def deliveries(subscription_id: str, webhooks: WebhooksDep, caller: CallerDep) -> list[DeliveryOut]:
    return [
        DeliveryOut(
            id=d.event_id,
            created_at=d.created_at,
            attempts=d.attempts,
            status="delivered" if d.delivered_at else "failed" if d.failed_at else "pending",
            delivered_at=d.delivered_at,
            next_attempt_at=None if d.delivered_at or d.failed_at else d.next_attempt_at,
            last_error=d.last_error,
        )
        for d in webhooks.deliveries(caller, subscription_id)
    ]
