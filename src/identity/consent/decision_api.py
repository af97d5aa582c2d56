"""The decision endpoints as front-door endpoints (see :mod:`identity.web.lane`): what every
downstream service asks before it acts, answered by the read model with no framework in
between. Reads only: nothing a request carries (``Sec-GPC`` included) changes anything here."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError
from starlette.types import ASGIApp, Receive, Scope

from identity.consent.decisions import Decisions
from identity.consent.schemas import BatchIn
from identity.oidc.bearer import BearerVerifier
from identity.web.errors import validation_problem
from identity.web.lane import Endpoint, JsonAnswer, header, read_body

DECISION = re.compile(r"^/v1/consents/([^/:]{1,64})/([a-z][a-z0-9_]{0,63})$")
MAX_BATCH_BYTES = 512 * 1024
PROBLEM = {"description": "RFC 9457 problem", "content": {"application/problem+json": {}}}
ERRORS = {"401": PROBLEM, "403": PROBLEM, "404": PROBLEM, "422": PROBLEM}


def json_content(schema: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


ONE = {
    "tags": ["consent"],
    "summary": "May we do this now?",
    "operationId": "decision",
    "security": [{"bearer": []}],
    "parameters": [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
        for n in ("subject", "purpose")
    ],
    "responses": {"200": {"description": "The answer", **json_content("DecisionOut")}, **ERRORS},
}
MANY = {
    "tags": ["consent"],
    "summary": "Many decisions at once",
    "operationId": "decide_batch",
    "security": [{"bearer": []}],
    "requestBody": {"required": True, **json_content("BatchIn")},
    "responses": {"200": {"description": "Every answer", **json_content("BatchOut")}, **ERRORS},
}


class DecisionEndpoints:
    def __init__(self, decisions: Decisions, bearer: BearerVerifier) -> None:
        self._decisions = decisions
        self._bearer = bearer

    async def one(self, scope: Scope, receive: Receive, match: re.Match[str] | None) -> ASGIApp:
        assert match is not None
        caller = self._bearer.caller(header(scope, b"authorization"))
        return JsonAnswer(await self._decisions.one(caller, match.group(1), match.group(2)))

    async def many(self, scope: Scope, receive: Receive, _: re.Match[str] | None) -> ASGIApp:
        caller = self._bearer.caller(header(scope, b"authorization"))
        body = await read_body(receive, MAX_BATCH_BYTES)
        try:
            batch = BatchIn.model_validate_json(body)
        except ValidationError as exc:
            return validation_problem(list(exc.errors(include_url=False, include_input=False)))
        return JsonAnswer(await self._decisions.many(caller, batch.subjects, batch.purposes))

    def endpoints(self) -> list[Endpoint]:
        return [
            Endpoint("POST", "/v1/consents:decide", self.many, MANY),
            Endpoint("GET", "/v1/consents/{subject}/{purpose}", self.one, ONE, pattern=DECISION),
        ]
