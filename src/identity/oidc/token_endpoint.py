"""``POST /token`` (RFC 6749 §3.2) as a front-door endpoint: the form is read here, Authlib
does the rest. Client credentials, the most frequent grant, write nothing and wait for nothing
(the client is cached), so they are answered inline; every other grant runs in the thread
pool, inside its transaction."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope

from identity.oidc.server import Provider, ProviderRequest
from identity.web.errors import oauth_error
from identity.web.lane import Endpoint, read_body
from identity.web.offload import in_thread

MAX_FORM_BYTES = 64 * 1024
FORM = "application/x-www-form-urlencoded"

OPERATION = {
    "tags": ["OpenID Connect"],
    "summary": "Token endpoint (RFC 6749 §3.2)",
    "operationId": "token",
    "requestBody": {
        "content": {
            FORM: {"schema": {"type": "object", "additionalProperties": {"type": "string"}}}
        }
    },
    "responses": {
        "200": {"description": "Tokens (RFC 6749 §5.1)", "content": {"application/json": {}}},
        "400": {"description": "RFC 6749 §5.2 error", "content": {"application/json": {}}},
        "401": {"description": "invalid_client", "content": {"application/json": {}}},
    },
}


class TokenEndpoint:
    def __init__(self, provider: Provider) -> None:
        self._provider = provider
        self._uri = f"{provider.settings.issuer}/token"

    async def __call__(self, scope: Scope, receive: Receive, _: re.Match[str] | None) -> ASGIApp:
        headers = Headers(scope=scope)
        body = await read_body(receive, MAX_FORM_BYTES)
        content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        try:
            params = (
                parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=100)
                if content_type == FORM
                else []
            )
        except (UnicodeDecodeError, ValueError):
            return oauth_error(400, "The form body is not valid.")
        request = ProviderRequest("POST", self._uri, headers, params)
        data = request.payload.data
        if data.get("grant_type") == "client_credentials" and "client_assertion" not in data:
            return self._provider.token_response(request)
        return await in_thread(self._provider.token_response, request)

    def endpoint(self) -> Endpoint:
        return Endpoint("POST", "/token", self, OPERATION, oauth=True)
