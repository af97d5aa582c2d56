"""The one place that turns errors into responses: problem+json under ``/v1``, RFC 6749 JSON on
the provider's machine endpoints, localized pages elsewhere.

Domain errors carry no HTTP status; :data:`STATUS` maps each family to one. No request may
produce a bare 500: unexpected exceptions are logged with the request id and answered with a
generic page or problem document that reveals nothing internal. The front door's own
endpoints (:mod:`identity.web.lane`) use the same functions.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, JSONResponse, Response

from identity.errors import (
    PROBLEM_JSON,
    TYPE_BASE,
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TooManyAttempts,
    Unauthenticated,
)
from identity.links import LinkError
from identity.web.csrf import CsrfError
from identity.web.deps import SignInRequired, StepRequired

log = logging.getLogger(__name__)

API_PREFIXES = ("/v1/", "/v1")
OAUTH_ENDPOINTS = ("/token", "/revoke", "/introspect", "/userinfo")

STATUS: dict[type[DomainError], int] = {
    LinkError: 400,
    InvalidInput: 422,
    NotFound: 404,
    Conflict: 409,
    PermissionDenied: 403,
    Unauthenticated: 401,
    TooManyAttempts: 429,
    DomainError: 400,
}


def status_of(error: DomainError) -> int:
    return next(STATUS[c] for c in type(error).__mro__ if c in STATUS)


def is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIXES)


def problem(
    status: int, title: str, detail: str | None = None, *, slug: str | None = None, **ext: Any
) -> dict[str, Any]:
    """The body of an RFC 9457 problem document."""
    body: dict[str, Any] = {
        "type": TYPE_BASE + slug if slug else "about:blank",
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    body.update(ext)
    return body


def problem_response(body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=body["status"], media_type=PROBLEM_JSON, headers=headers)


def error_headers(error: DomainError) -> dict[str, str] | None:
    if isinstance(error, TooManyAttempts):
        return {"Retry-After": str(error.retry_after)}
    challenge = getattr(error, "challenge", None)
    return {"WWW-Authenticate": challenge} if challenge else None


def domain_problem(error: DomainError, status: int | None = None) -> JSONResponse:
    """A domain error as an RFC 9457 problem document (``status`` overrides the family's)."""
    status = status or status_of(error)
    body = problem(status, error.title, error.detail, slug=error.slug, **error.extensions)
    return problem_response(body, error_headers(error))


def oauth_error(status: int, description: str, error: str = "invalid_request") -> JSONResponse:
    """RFC 6749 §5.2 shape for the machine endpoints of the provider."""
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


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


def validation_problem(errors: list[dict[str, Any]]) -> JSONResponse:
    """A body or parameters that do not match the schema, naming each place."""
    detail = [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in errors
    ]
    body = problem(
        422,
        "Invalid input",
        "The request does not match the schema.",
        slug="invalid-input",
        errors=detail,
    )
    return problem_response(body)


async def on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if is_api(request):
        return validation_problem(list(exc.errors()))
    return error_page(request, 400, "bad_request")


async def on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    if is_api(request):
        return domain_problem(exc)
    return error_page(request, status_of(exc), exc.slug.replace("-", "_"), error_headers(exc))


async def on_csrf_error(request: Request, exc: Exception) -> Response:
    log.info("form refused: %s", exc)
    return error_page(request, 403, "csrf")


async def on_sign_in_required(request: Request, exc: Exception) -> Response:
    from identity.web.pages import redirect, safe_next

    assert isinstance(exc, SignInRequired)
    return redirect("/login?" + urlencode({"next": safe_next(exc.next_url)}, safe="/"))


async def on_step_required(request: Request, exc: Exception) -> Response:
    from identity.web.pages import redirect, safe_next

    assert isinstance(exc, StepRequired)
    return redirect(f"{exc.path}?" + urlencode({"next": safe_next(exc.next_url)}, safe="/"))


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
    app.add_exception_handler(SignInRequired, on_sign_in_required)
    app.add_exception_handler(StepRequired, on_step_required)
    app.add_exception_handler(Exception, on_unexpected_error)
