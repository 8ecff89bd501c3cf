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
from aws_lambda_powertools.event_handler.middlewares import openapi_validation as _validation
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from pydantic import ValidationError

from shared.http.openapi import SECURITY_SCHEMES
from shared.http.problems import PROBLEM_JSON, problem_body
from shared.kernel.errors import DomainError
from shared.observability import logger

# powertools' request validation asks, on every request, whether each declared query and header
# parameter is a scalar (``is_scalar_field``: a walk over its type annotation, about a tenth of a
# millisecond for a write route's two headers). The answer is a property of the route's parameter
# field, fixed when the route is registered: it is remembered per field here (the field is held,
# so its id cannot be reused). Measured with bench/create_ticket.py; docs/decisions.md.
_scalar_fields: dict[int, tuple[Any, bool]] = {}
_is_scalar_field = _validation.is_scalar_field


def _remembered_is_scalar_field(field: Any) -> bool:
    known = _scalar_fields.get(id(field))
    if known is None:
        known = _scalar_fields[id(field)] = (field, _is_scalar_field(field))
    return known[1]


_validation.is_scalar_field = _remembered_is_scalar_field


def problem(
    status: int, detail: str, *, slug: str | None = None, title: str | None = None, **ext: Any
) -> Response[str]:
    return Response(
        status_code=status, content_type=PROBLEM_JSON, body=problem_body(status, detail, slug, title, **ext)
    )


_PARAMETERS = ("path", "query", "header", "cookie")


def validation_errors(errors: list[Any]) -> list[dict[str, Any]]:
    """Pydantic errors without the input values (they may carry personal data).

    A parameter is declared ``X | None`` (absent is None), so pydantic reports a bad value once per
    member of that union: "should match pattern" under a ``constrained-str`` tag, and "should be
    None" under ``none``. None is never on the wire, so that error is dropped, and the tags are left
    out of the location, which names the parameter (and the item of a list: ``query, state, 0``).
    """
    described = []
    for e in errors:
        loc = tuple(e.get("loc") or ())
        if loc[:1] and loc[0] in _PARAMETERS:
            if e.get("type") == "none_required":
                continue
            loc = (*loc[:2], *(p for p in loc[2:] if isinstance(p, int)))
        described.append({"loc": [str(p) for p in loc], "msg": e.get("msg", ""), "type": e.get("type", "")})
    return described


def _internal_error() -> Response[str]:
    return problem(
        500,
        "Something went wrong on our side; it has been logged.",
        slug="internal-error",
        title="Internal error",
    )


def _given_twice(errors: list[Any]) -> tuple[str, str] | None:
    """(where, name) of a single-valued query parameter or header that came more than once: the
    resolver hands it its list of values, which its schema refuses. Picking one would be a guess."""
    for e in errors:
        loc, given = tuple(e.get("loc") or ()), e.get("input")
        if (
            len(loc) >= 2
            and loc[0] in ("query", "header")
            and e.get("type") != "none_required"  # the None member of an optional parameter's union
            and not any(isinstance(p, int) for p in loc[2:])  # not one item of a list parameter
            and isinstance(given, list)
            and len(given) > 1
        ):
            return ("query parameter" if loc[0] == "query" else "header", str(loc[1]))
    return None


def make_app() -> APIGatewayRestResolver:
    """The resolver of one route function. Its OpenAPI schema (``app.get_openapi_schema()``) is
    that route's part of the API's document, which ``functions/openapi`` merges."""
    app = APIGatewayRestResolver(enable_validation=True)
    app.configure_openapi(security_schemes=SECURITY_SCHEMES)

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
        repeated = _given_twice(errors)
        return problem(
            400,
            f"Give the {repeated[0]} '{repeated[1]}' once."
            if repeated
            else "The request's parameters are invalid.",
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
