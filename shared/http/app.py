"""The resolver every route Lambda uses, and the one mapping of errors to problem+json.

Errors are mapped by exception type, never by message text: domain errors to their status;
the request's own validation errors to 400 (parameters, unparseable JSON) or 422 (a body that
breaks the schema); a pydantic ``ValidationError`` raised anywhere else means data the code's
own model refuses (a stored row, a bug), so it is a 500 with an alarmable log line, never the
client's 400.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from pydantic import ValidationError

from shared.http.problems import PROBLEM_JSON, problem_body
from shared.kernel.errors import DomainError
from shared.observability import logger


def problem(
    status: int, detail: str, *, slug: str | None = None, title: str | None = None, **ext: Any
) -> Response[str]:
    return Response(
        status_code=status, content_type=PROBLEM_JSON, body=problem_body(status, detail, slug, title, **ext)
    )


def validation_errors(errors: list[Any]) -> list[dict[str, Any]]:
    """Pydantic errors without the input values (they may carry personal data)."""
    return [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in errors
    ]


def _internal_error() -> Response[str]:
    return problem(
        500,
        "Something went wrong on our side; it has been logged.",
        slug="internal-error",
        title="Internal error",
    )


def make_app() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(enable_validation=True)

    @app.exception_handler(DomainError)
    def _domain(exc: DomainError) -> Response[str]:
        if exc.status >= 500:
            logger.warning("request failed", extra={"problem": exc.slug, "status": exc.status})
        return problem(exc.status, exc.detail, slug=exc.slug, title=exc.title, **exc.extensions)

    @app.exception_handler(RequestValidationError)
    def _invalid(exc: RequestValidationError) -> Response[str]:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return problem(
                400, "The request body is not valid JSON.", slug="bad-request", title="Bad request"
            )
        if any((e.get("loc") or ("",))[0] == "body" for e in errors):
            return problem(
                422,
                "The request body does not fit the schema.",
                slug="validation-error",
                title="Validation failed",
                errors=validation_errors(errors),
            )
        return problem(
            400,
            "The request's parameters are invalid.",
            slug="bad-request",
            title="Bad request",
            errors=validation_errors(errors),
        )

    @app.exception_handler(ValidationError)
    def _model_mismatch(exc: ValidationError) -> Response[str]:
        # Not the request's: a row or value the code's own model refuses. Alarmable: the API's 5xx
        # alarm fires, and this line names the model (never the values).
        logger.error(
            "data does not fit the model",
            extra={
                "model": exc.title,
                "errors": [{"loc": e["loc"], "type": e["type"]} for e in exc.errors()],
            },
        )
        return _internal_error()

    @app.not_found
    def _not_found(exc: Exception) -> Response[str]:
        return problem(404, "No such route.", slug="not-found", title="Not found")

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response[str]:
        logger.exception("unhandled error")
        return _internal_error()

    return app
