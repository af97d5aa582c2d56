"""Domain errors: what went wrong, in the domain's words. They know nothing of HTTP.

Hierarchy (services raise these)::

    DomainError
    ├── InvalidInput           a value is not acceptable (``extensions`` may name fields)
    │   └── LinkError          a mailed link is invalid, expired or used (identity.links)
    ├── NotFound
    ├── Conflict               the change contradicts the current state
    ├── PermissionDenied
    ├── Unauthenticated
    └── TooManyAttempts        carries ``retry_after`` seconds

:mod:`identity.web.errors` is the one place that turns them into responses: RFC 9457
``application/problem+json`` under ``/v1``, localized pages elsewhere. OAuth endpoints use
Authlib's RFC 6749 errors instead and never see these.
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://identity.example/problems/"


class DomainError(Exception):
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
    slug = "invalid-input"
    title = "Invalid input"


class NotFound(DomainError):
    slug = "not-found"
    title = "Not found"


class Conflict(DomainError):
    slug = "conflict"
    title = "Conflict"


class PermissionDenied(DomainError):
    slug = "forbidden"
    title = "Forbidden"


class Unauthenticated(DomainError):
    slug = "unauthenticated"
    title = "Authentication required"


class TooManyAttempts(DomainError):
    slug = "too-many-attempts"
    title = "Too many attempts"

    def __init__(self, retry_after: int, detail: str = "") -> None:
        super().__init__(detail, retry_after=retry_after)
        self.retry_after = retry_after
