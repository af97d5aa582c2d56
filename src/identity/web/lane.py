"""The front door: one dispatch for every request, with the machine hot paths answered before
the web framework.

Services call ``POST /token`` (client credentials), ``GET /v1/consents/{subject}/{purpose}`` and
``POST /v1/consents:decide`` far more often than people load pages. Measured against
node-oidc-provider, FastAPI's routing, dependency injection, thread-pool hop and form parsing
cost more per token than the RSA signature itself, so these endpoints are plain ASGI handlers:
:class:`FrontDoor` matches a request once, by method and path, and either calls its handler
or passes it on to FastAPI. There is one implementation of each endpoint (nothing of them is
routed by FastAPI) and their OpenAPI operations are published with the framework's own
(:func:`openapi_paths`). Errors are formatted by :mod:`identity.web.errors`, as everywhere.

It is deliberately narrow: no cookies, no pages, only form or JSON bodies, small body limits.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from identity.errors import DomainError, InvalidInput
from identity.web.errors import domain_problem, oauth_error, problem, problem_response

log = logging.getLogger(__name__)

Handler = Callable[[Scope, Receive, "re.Match[str] | None"], Awaitable[ASGIApp]]


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


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


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


@dataclass(frozen=True)
class Endpoint:
    """One machine endpoint: where it answers, what answers, how OpenAPI describes it."""

    method: str
    path: str  # exact, or an OpenAPI template when ``pattern`` is set
    handler: Handler
    operation: dict[str, Any] = field(default_factory=dict)
    pattern: re.Pattern[str] | None = None
    oauth: bool = False  # errors in RFC 6749's shape instead of problem+json


class FrontDoor:
    def __init__(self, endpoints: Sequence[Endpoint], framework: ASGIApp) -> None:
        self._exact = {(e.method, e.path): e for e in endpoints if e.pattern is None}
        self._patterns = [e for e in endpoints if e.pattern is not None]
        self._framework = framework

    def match(self, scope: Scope) -> tuple[Endpoint, re.Match[str] | None] | None:
        """The endpoint for a request (method and path only: cheap), or None."""
        method, path = scope["method"], scope["path"]
        exact = self._exact.get((method, path))
        if exact is not None:
            return exact, None
        for endpoint in self._patterns:
            if endpoint.method == method:
                found = endpoint.pattern.match(path)  # type: ignore[union-attr]
                if found is not None:
                    return endpoint, found
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self.match(scope) if scope["type"] == "http" else None
        if found is None:
            await self._framework(scope, receive, send)
            return
        endpoint, match = found
        try:
            response = await endpoint.handler(scope, receive, match)
        except DomainError as error:
            response = domain_problem(error)
        except BodyTooLarge:
            response = _too_large(endpoint)
        except Exception:
            # Outside the framework, so no error middleware catches this: never a bare crash.
            request_id = scope.get("state", {}).get("request_id")
            log.exception("%s %s failed (request %s)", endpoint.method, endpoint.path, request_id)
            response = _internal(endpoint, request_id)
        await response(scope, receive, send)


def _too_large(endpoint: Endpoint) -> ASGIApp:
    if endpoint.oauth:
        return oauth_error(413, "The request body is too large.")
    return domain_problem(InvalidInput("the request body is too large"), status=413)


def _internal(endpoint: Endpoint, request_id: str | None) -> ASGIApp:
    if endpoint.oauth:
        return oauth_error(500, "Internal error.", error="server_error")
    return problem_response(problem(500, "Internal error", f"Request id {request_id or '-'}"))


def openapi_paths(endpoints: Sequence[Endpoint]) -> dict[str, dict[str, Any]]:
    """The endpoints' operations as OpenAPI ``paths``."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = endpoint.operation
    return paths
