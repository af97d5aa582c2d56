"""The audit log for outsiders: the verifier key and the latest signed checkpoint (public),
and for clients with ``audit:read`` entries by index and RFC 9162 proofs (``/v1/audit``).

Leaf indexes are 0-based. An entry's ``leaf`` is base64 of the exact bytes its leaf hash
covers (``docs/audit.md``), a purged entry's ``leaf_hash`` that hash itself; proofs are base64
hashes in RFC 9162 order.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import PlainTextResponse

from identity.audit.rules import PurgedEntry, timestamp
from identity.audit.store import AuditLog
from identity.web.deps import get_runtime

if TYPE_CHECKING:  # the caller is checked by the provider's bearer verifier, through the runtime
    from identity.oidc.bearer import Caller

READ = "audit:read"
PROBLEM = {"content": {"application/problem+json": {}}, "description": "RFC 9457 problem"}
ERRORS = {401: PROBLEM, 403: PROBLEM, 404: PROBLEM, 422: PROBLEM}
TEXT = {200: {"content": {"text/plain": {}}, "description": "text"}}

router = APIRouter(tags=["audit"])


def get_log(request: Request) -> AuditLog:
    log: AuditLog = get_runtime(request).audit_log
    return log


def reader(request: Request, authorization: Annotated[str | None, Header()] = None) -> Caller:
    caller: Caller = get_runtime(request).bearer.caller(authorization)
    caller.require(READ)
    return caller


LogDep = Annotated[AuditLog, Depends(get_log)]
Reader = Depends(reader)


def _key(request: Request) -> PlainTextResponse:
    keys = get_runtime(request).audit_keys
    return PlainTextResponse("\n".join(keys.vkeys()) + "\n")


def _checkpoint(log: AuditLog) -> PlainTextResponse:
    checkpoint = log.latest_checkpoint()
    return PlainTextResponse(checkpoint.note if checkpoint else "", status_code=200)


@router.get("/audit/key", summary="The log's verifier keys (C2SP vkey), public", responses=TEXT)
def public_key(request: Request) -> PlainTextResponse:
    return _key(request)


@router.get("/audit/checkpoint", summary="The latest signed checkpoint, public", responses=TEXT)
def public_checkpoint(log: LogDep) -> PlainTextResponse:
    return _checkpoint(log)


@router.get("/v1/audit/key", dependencies=[Reader], responses={**TEXT, **ERRORS})
def key(request: Request) -> PlainTextResponse:
    """The C2SP verifier keys of the log, the one signing now first."""
    return _key(request)


@router.get("/v1/audit/checkpoint", dependencies=[Reader], responses={**TEXT, **ERRORS})
def checkpoint(log: LogDep) -> PlainTextResponse:
    """The latest checkpoint, a C2SP signed note."""
    return _checkpoint(log)


@router.get("/v1/audit/entries/{index}", dependencies=[Reader], responses=ERRORS)
def entry(index: int, log: LogDep) -> dict[str, Any]:
    """One entry by its 0-based leaf index, with the bytes its leaf hashes; once purged past
    its retention (``purged``: true), its time, action and leaf hash (``leaf_hash``) only."""
    found = log.entry(index)
    if isinstance(found, PurgedEntry):
        return {
            "index": found.index,
            "at": timestamp(found.at),
            "action": found.action,
            "purged": True,
            "leaf_hash": base64.b64encode(found.leaf).decode(),
        }
    return {
        "index": found.index,
        "at": timestamp(found.at),
        "action": found.action,
        "actor": found.actor,
        "subject": found.subject,
        "details": dict(found.details),
        "purged": False,
        "leaf": base64.b64encode(found.data()).decode(),
    }


def _hashes(hashes: list[bytes]) -> dict[str, list[str]]:
    return {"hashes": [base64.b64encode(h).decode() for h in hashes]}


@router.get("/v1/audit/proofs/inclusion", dependencies=[Reader], responses=ERRORS)
def inclusion(
    log: LogDep,
    index: Annotated[int, Query(ge=0, le=2**62)],
    size: Annotated[int, Query(ge=1, le=2**62)],
) -> dict[str, list[str]]:
    """RFC 9162 §2.1.3 inclusion proof of leaf ``index`` in the tree of ``size`` leaves."""
    return _hashes(log.inclusion(index, size))


@router.get("/v1/audit/proofs/consistency", dependencies=[Reader], responses=ERRORS)
def consistency(
    log: LogDep,
    first: Annotated[int, Query(alias="from", ge=0, le=2**62)],
    second: Annotated[int, Query(alias="to", ge=0, le=2**62)],
) -> dict[str, list[str]]:
    """RFC 9162 §2.1.4 consistency proof from the tree of ``from`` leaves to ``to``."""
    return _hashes(log.consistency(first, second))
