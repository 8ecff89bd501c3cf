"""Domain errors: the one place that says what can go wrong and what HTTP status it means.

They are mapped to RFC 9457 problem+json in one place (``shared.api``), by type, never by
matching message text.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class BadRequest(DomainError):
    status, slug, title = 400, "bad-request", "Bad request"


class Unauthorized(DomainError):
    status, slug, title = 401, "unauthorized", "Unauthorized"


class Forbidden(DomainError):
    status, slug, title = 403, "forbidden", "Forbidden"


class NotFound(DomainError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(DomainError):
    status, slug, title = 409, "conflict", "Conflict"


class AlreadyExists(Conflict):
    slug, title = "already-exists", "Already exists"


class InvalidTransition(Conflict):
    slug, title = "invalid-transition", "Transition not allowed"


class IdempotencyInProgress(Conflict):
    slug, title = "idempotency-in-progress", "A request with this Idempotency-Key is in progress"


class PreconditionFailed(DomainError):
    status, slug, title = 412, "precondition-failed", "Precondition failed"


class ValidationFailed(DomainError):
    status, slug, title = 422, "validation-error", "Validation failed"


class IdempotencyKeyReused(ValidationFailed):
    slug, title = "idempotency-key-reused", "Idempotency-Key reused with a different request"


class ServiceUnavailable(DomainError):
    status, slug, title = 503, "unavailable", "Service unavailable"


PROBLEM_TYPE_BASE = "urn:ticketing:problem:"


def problem_type(slug: str) -> str:
    return PROBLEM_TYPE_BASE + slug
