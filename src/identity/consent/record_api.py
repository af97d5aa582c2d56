"""``PUT /v1/consents/{subject}/{purpose}`` as a front-door endpoint (see
:mod:`identity.web.lane`): a decision a service collected (an in-store POS, a call centre, a
channel's cookie banner for an anonymous visitor), recorded through the one ledger.

A banner choice is one write per visitor, so on a busy day this is as frequent as sign-ins:
the request is read here, with no framework in between, and the ledger's transaction runs on
the thread pool. Authorization comes first: the token and its ``consent:write`` scope are
checked before the body is even read.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope

from identity.consent.access import WRITE, ConsentAccess
from identity.consent.decision_api import DECISION, ERRORS, PROBLEM, json_content
from identity.consent.decisions import dumps
from identity.consent.ledger import RecordView
from identity.consent.schemas import RecordIn
from identity.db import rfc3339
from identity.oidc.bearer import BearerVerifier
from identity.web.errors import validation_problem
from identity.web.lane import Endpoint, JsonAnswer, header, read_body
from identity.web.offload import in_thread

MAX_RECORD_BYTES = 64 * 1024

OPERATION = {
    "tags": ["consent"],
    "summary": "Record a decision collected elsewhere (needs consent:write)",
    "operationId": "record_decision",
    "security": [{"bearer": []}],
    "parameters": [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
        for n in ("subject", "purpose")
    ],
    "requestBody": {"required": True, **json_content("RecordIn")},
    "responses": {
        "200": {"description": "The record and its answer", **json_content("RecordedOut")},
        "409": PROBLEM,
        **ERRORS,
    },
}


def record_json(name: str, record: RecordView) -> dict[str, Any]:
    """A record as the API shows it (``RecordOut``), under the caller's name for the subject."""
    return {
        "id": record.id,
        "subject": name,
        "purpose": record.purpose,
        "purpose_version": record.purpose_version,
        "decision": record.decision,
        "pending": record.pending,
        "source": record.source,
        "collected_at": rfc3339(record.collected_at),
        "recorded_at": rfc3339(record.recorded_at),
        "expires_at": rfc3339(record.expires_at) if record.expires_at else None,
        "language": record.language,
        "text_hash": record.text_hash,
        "cursor": record.cursor,
    }


class RecordEndpoint:
    def __init__(self, access: ConsentAccess, bearer: BearerVerifier) -> None:
        self._access = access
        self._bearer = bearer

    async def put(self, scope: Scope, receive: Receive, match: re.Match[str] | None) -> ASGIApp:
        assert match is not None
        caller = self._bearer.caller(header(scope, b"authorization"))
        caller.require(WRITE)
        body = await read_body(receive, MAX_RECORD_BYTES)
        try:
            given = RecordIn.model_validate_json(body)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False)
            return validation_problem([{**e, "loc": ("body", *e["loc"])} for e in errors])
        name, purpose = match.group(1), match.group(2)
        recorded, answer = await in_thread(
            self._access.record,
            caller,
            name,
            purpose,
            decision=given.decision,
            collected_at=given.collected_at,
            language=given.language,
            text_hash=given.text_hash,
            evidence=given.evidence,
        )
        return JsonAnswer(dumps({"record": record_json(name, recorded.record), "decision": answer}))

    def endpoint(self) -> Endpoint:
        return Endpoint(
            "PUT", "/v1/consents/{subject}/{purpose}", self.put, OPERATION, pattern=DECISION
        )
