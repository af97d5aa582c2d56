"""One place that turns every error into a response: problem+json under ``/v1``, pages elsewhere.

No request may produce a bare 500: unexpected exceptions are logged with the request id and
answered with a generic page or problem document that reveals nothing internal.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, JSONResponse, Response

from identity.errors import PROBLEM_JSON, DomainError, TooManyAttempts, problem, problem_for
from identity.web.csrf import CsrfError

log = logging.getLogger(__name__)

API_PREFIXES = ("/v1/", "/v1")
OAUTH_ENDPOINTS = ("/token", "/revoke", "/introspect", "/userinfo")


def is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIXES)


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=body["status"], media_type=PROBLEM_JSON, headers=headers)


def error_page(
    request: Request, status: int, kind: str, headers: dict[str, str] | None = None
) -> Response:
    from identity.web.pages import render  # late: pages imports deps, which needs the runtime

    try:
        return render(
            request,
            "errors/error.html",
            {"status": status, "kind": kind},
            status=status,
            headers=headers,
        )
    except Exception:  # the page itself failed (database down?): plain text, still no 500
        log.exception("error page could not be rendered")
        return HTMLResponse(
            f"<!doctype html><title>{status}</title><h1>{status}</h1>",
            status_code=status,
            headers=headers,
        )


def oauth_error(status: int, description: str) -> JSONResponse:
    """RFC 6749 §5.2 shape for the machine endpoints of the provider."""
    return JSONResponse(
        {"error": "invalid_request", "error_description": description},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    if request.url.path in OAUTH_ENDPOINTS and exc.status_code != 405:
        return oauth_error(exc.status_code, str(exc.detail))
    if is_api(request):
        title = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, "Bad request")
        return problem_response(problem(exc.status_code, title, str(exc.detail)), headers)
    kind = {404: "not_found", 405: "not_found", 413: "too_large"}.get(
        exc.status_code, "bad_request"
    )
    return error_page(request, exc.status_code, kind, headers)


async def on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if is_api(request):
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        return problem_response(
            problem(
                422,
                "Invalid input",
                "The request does not match the schema.",
                slug="invalid-input",
                errors=errors,
            )
        )
    return error_page(request, 400, "bad_request")


async def on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyAttempts) else None
    challenge = getattr(exc, "challenge", None)
    if challenge:
        headers = {"WWW-Authenticate": challenge}
    if is_api(request):
        return problem_response(problem_for(exc), headers)
    return error_page(request, exc.status, exc.slug.replace("-", "_"), headers)


async def on_csrf_error(request: Request, exc: Exception) -> Response:
    log.info("form refused: %s", exc)
    return error_page(request, 403, "csrf")


async def on_unexpected_error(request: Request, exc: Exception) -> Response:
    request_id = getattr(request.state, "request_id", "-")
    log.error("unhandled error (request %s)", request_id, exc_info=exc)
    if is_api(request):
        return problem_response(problem(500, "Internal error", f"Request id {request_id}"))
    return error_page(request, 500, "internal")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(DomainError, on_domain_error)
    app.add_exception_handler(CsrfError, on_csrf_error)
    app.add_exception_handler(Exception, on_unexpected_error)
