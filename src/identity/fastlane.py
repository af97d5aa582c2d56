"""The fast lane: the machine-to-machine hot paths, answered before the web framework.

Services call ``POST /token`` (client credentials) and ``GET /v1/consents/{subject}/{purpose}``
far more often than people load pages. Measured against node-oidc-provider, FastAPI's routing,
dependency injection, thread-pool hop and form parsing cost more than the RSA signature itself
(≈0.33 ms of ≈0.65 ms per token). This ASGI layer recognises those requests by method and path
and hands them straight to the same services the FastAPI routes use; everything else (and any
request it is not sure about) goes on to FastAPI, whose routes for these paths stay in place for
the OpenAPI description and as the fallback.

It is deliberately narrow: no cookies, no pages, only form or no bodies, a small body limit.
"""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from identity.consent.schemas import BatchIn
from identity.errors import PROBLEM_JSON, DomainError, InvalidInput, problem_for
from identity.oidc.server import ProviderRequest

if TYPE_CHECKING:
    from identity.runtime import Runtime

log = logging.getLogger(__name__)

MAX_FORM_BYTES = 64 * 1024
DECISION = re.compile(r"^/v1/consents/([^/:]{1,64})/([a-z][a-z0-9_]{0,63})$")
FORM = "application/x-www-form-urlencoded"


class BodyTooLarge(Exception):
    pass


async def read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def oauth_error(status: int, description: str) -> Response:
    return JSONResponse(
        {"error": "invalid_request", "error_description": description},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


def problem_response(error: DomainError, status: int | None = None) -> Response:
    headers = {"WWW-Authenticate": error.challenge} if hasattr(error, "challenge") else None
    body = problem_for(error)
    if status is not None:
        body["status"] = status
    return Response(
        json.dumps(body).encode(),
        status_code=status or error.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


class JsonAnswer:
    """A 200 JSON answer sent as two plain ASGI messages: Starlette's ``Response`` builds and
    encodes its header list per instance, which shows on the most frequent request there is."""

    __slots__ = ("body",)

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(self.body)),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


BATCH = "/v1/consents:decide"
MAX_BATCH_BYTES = 512 * 1024


def is_fast(scope: Scope) -> bool:
    """Whether the fast lane handles this request (cheap: method and path only)."""
    method, path = scope["method"], scope["path"]
    if method == "POST":
        return path in ("/token", BATCH)
    return method == "GET" and path.startswith("/v1/consents/") and DECISION.match(path) is not None


class FastLane:
    def __init__(self, app: ASGIApp, *, runtime: Runtime) -> None:
        self.app = app
        self._runtime = runtime
        self._issuer = runtime.settings.issuer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._handle(scope, receive, send)
        except Exception:
            # Outside the framework, so no error middleware catches this: never a bare crash.
            log.exception("fast lane failed (request %s)", scope.get("state", {}).get("request_id"))
            await oauth_error(500, "Internal error.")(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method, path = scope["method"], scope["path"]
            if method == "POST" and path == "/token":
                response = await self._token(scope, receive)
                await response(scope, receive, send)
                return
            if method == "POST" and path == BATCH:
                response = await self._batch(scope, receive)
                await response(scope, receive, send)
                return
            if method == "GET" and path.startswith("/v1/consents/"):
                match = DECISION.match(path)
                if match:
                    response = await self._decision(scope, match.group(1), match.group(2))
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def _token(self, scope: Scope, receive: Receive) -> Response:
        headers = Headers(scope=scope)
        try:
            body = await read_body(receive, MAX_FORM_BYTES)
        except BodyTooLarge:
            return oauth_error(413, "The request body is too large.")
        content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        try:
            params = (
                parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=100)
                if content_type == FORM
                else []
            )
        except (UnicodeDecodeError, ValueError):
            return oauth_error(400, "The form body is not valid.")
        request = ProviderRequest("POST", f"{self._issuer}/token", headers, params)
        provider = self._runtime.oidc.provider
        data = request.payload.data
        if data.get("grant_type") == "client_credentials" and "client_assertion" not in data:
            # Nothing to write and, with the client cached, nothing to wait for: inline.
            return provider.token_response(request)
        return await run_in_threadpool(provider.token_response, request)

    async def _batch(self, scope: Scope, receive: Receive) -> ASGIApp:
        try:
            body = await read_body(receive, MAX_BATCH_BYTES)
        except BodyTooLarge:
            return problem_response(InvalidInput("the request body is too large"), status=413)
        try:
            batch = BatchIn.model_validate_json(body)
        except ValidationError as exc:
            errors = [
                {"loc": [str(p) for p in e["loc"]], "msg": e["msg"]}
                for e in exc.errors(include_url=False, include_input=False)
            ]
            return problem_response(
                InvalidInput("the body does not match the schema", errors=errors)
            )
        try:
            answer = await self._runtime.decisions.answer_many(
                _header(scope, b"authorization"),
                batch.subjects,
                batch.purposes,
                self._runtime.settings.consent_batch_max,
            )
        except DomainError as error:
            return problem_response(error)
        return JsonAnswer(answer)

    async def _decision(self, scope: Scope, subject: str, purpose: str) -> ASGIApp:
        try:
            body = await self._runtime.decisions.answer(
                _header(scope, b"authorization"), subject, purpose
            )
        except DomainError as error:
            return problem_response(error)
        return JsonAnswer(body)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None
