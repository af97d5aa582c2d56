"""Anonymous ids and links, for channels and services (``/v1``).

``POST /v1/anonymous`` (client credentials, ``anonymous:issue``): a new id for a visitor, or a
renewed one. ``POST /v1/links`` (a customer's own token from a first-party channel, with
``preferences``): link the id the app kept to the customer who just signed in.
``GET /v1/links/{anonymous id}`` (``identity:resolve``): the account behind it, when the
customer's consent for the client's registered purpose allows.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel, ConfigDict, Field

from identity.audit.refs import Actor
from identity.db import utcnow
from identity.errors import Conflict, InvalidInput
from identity.linking.resolve import Resolution
from identity.linking.service import Linking
from identity.subjects.anonymous import AnonymousIds, InvalidAnonymousId
from identity.web.deps import get_runtime

ISSUE, RESOLVE, PREFERENCES = "anonymous:issue", "identity:resolve", "preferences"
PROBLEM = {"content": {"application/problem+json": {}}, "description": "RFC 9457 problem"}
ERRORS = {401: PROBLEM, 403: PROBLEM, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM}

router = APIRouter(prefix="/v1", tags=["linking"])


class AnonymousIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    renew: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="an id this client holds: the same visitor, a later expiry"
    )


class AnonymousOut(BaseModel):
    anonymous_id: str = Field(description="keep it in your own first-party storage")
    subject: str = Field(description="how the change feed and webhooks name this visitor")
    expires_at: datetime


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    anonymous_id: Annotated[str, Field(min_length=1, max_length=64)]


class LinkOut(BaseModel):
    outcome: str = Field(description="linked (first time) or merged_again")
    merged: list[str] = Field(description="purposes whose answer the merge changed")


class ResolvedOut(BaseModel):
    subject: str = Field(description="the account, as this client knows it")


class LinkRefused(Conflict):
    slug = "link-refused"
    title = "This anonymous id cannot be linked to this account"


def caller_of(request: Request, authorization: Annotated[str | None, Header()] = None) -> Any:
    return get_runtime(request).bearer.caller(authorization)


CallerDep = Annotated[Any, Depends(caller_of)]


@router.post("/anonymous", summary="An anonymous id for a visitor (or a renewal)", responses=ERRORS)
def issue(request: Request, body: AnonymousIn, caller: CallerDep) -> AnonymousOut:
    caller.require(ISSUE)
    ids: AnonymousIds = get_runtime(request).anonymous_ids
    client_id = caller.client.client_id
    try:
        made = (
            ids.renew(body.renew, client_id, utcnow())
            if body.renew
            else ids.issue(client_id, utcnow())
        )
    except InvalidAnonymousId as exc:
        raise InvalidInput(
            "that anonymous id cannot be renewed: it is not one of this client's valid ids",
            reason=exc.reason,
        ) from exc
    return AnonymousOut(anonymous_id=made.token, subject=made.key, expires_at=made.expires_at)


@router.post("/links", summary="Link the visitor's anonymous id to this customer", responses=ERRORS)
def link(request: Request, body: LinkIn, caller: CallerDep) -> LinkOut:
    runtime = get_runtime(request)
    if caller.on_behalf_of is None:
        raise InvalidInput("this call needs the customer's own access token")
    caller.require(PREFERENCES)
    user_key = runtime.decisions.key(caller.client, caller.on_behalf_of)
    linking: Linking = runtime.linking
    user_id = uuid.UUID(user_key)
    done = linking.link(
        body.anonymous_id,
        client_id=caller.client.client_id,
        user_id=user_id,
        actor=Actor.user(user_id),
    )
    if done.outcome == "refused":
        if done.reason in ("malformed", "forged", "expired"):
            raise InvalidInput(
                "that is not a valid anonymous id of this client", reason=done.reason
            )
        raise LinkRefused(f"the anonymous id cannot be linked ({done.reason})", reason=done.reason)
    return LinkOut(outcome=done.outcome, merged=list(done.merged))


@router.get("/links/{anonymous_id}", summary="The account behind an anonymous id", responses=ERRORS)
def resolve(request: Request, anonymous_id: str, caller: CallerDep) -> ResolvedOut:
    caller.require(RESOLVE)
    resolution: Resolution = get_runtime(request).resolution
    sub = resolution.resolve(caller.client, caller.client.resolve_purpose, anonymous_id)
    return ResolvedOut(subject=sub)
