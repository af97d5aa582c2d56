"""Domain errors and their single mapping to RFC 9457 ``application/problem+json``.

Hierarchy (services raise these; they know nothing of HTTP)::

    DomainError
    ├── InvalidInput           422  the request is well-formed but a value is not acceptable
    ├── NotFound               404
    ├── Conflict               409  the change contradicts the current state
    ├── PermissionDenied       403
    ├── Unauthenticated        401
    └── TooManyAttempts        429  carries ``retry_after`` seconds

Pages turn the same errors into localized messages; OAuth endpoints use Authlib's RFC 6749 errors
instead and never see these.
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://identity.example/problems/"


class DomainError(Exception):
    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str = "", **extensions: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extensions = extensions

    @property
    def type_uri(self) -> str:
        return TYPE_BASE + self.slug


class InvalidInput(DomainError):
    status = 422
    slug = "invalid-input"
    title = "Invalid input"


class NotFound(DomainError):
    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class PermissionDenied(DomainError):
    status = 403
    slug = "forbidden"
    title = "Forbidden"


class Unauthenticated(DomainError):
    status = 401
    slug = "unauthenticated"
    title = "Authentication required"


class TooManyAttempts(DomainError):
    status = 429
    slug = "too-many-attempts"
    title = "Too many attempts"

    def __init__(self, retry_after: int, detail: str = "") -> None:
        super().__init__(detail, retry_after=retry_after)
        self.retry_after = retry_after


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


def problem_for(error: DomainError) -> dict[str, Any]:
    return problem(error.status, error.title, error.detail, slug=error.slug, **error.extensions)
