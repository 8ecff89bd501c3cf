"""HTTP glue shared by every route Lambda: the resolver, problem+json, principal, writes.

- ``make_app()``: powertools' APIGatewayRestResolver with pydantic validation and the one
  mapping of errors to RFC 9457 problem+json (by exception type, never by message text).
- ``principal(app)``: who is calling, from requestContext.authorizer (filled by the authorizer).
- ``write(...)``: runs one change in a scoped transaction, honouring ``Idempotency-Key``, then
  publishes the change's outbox rows right after commit (after the response, where the host
  allows: see ``shared.after_response``).
- ``entrypoint(app)``: the Lambda handler, with logging context and tracing.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ValidationError

from shared import db, idempotency, outbox
from shared.auth import Principal
from shared.config.settings import get_settings
from shared.kernel import pagination
from shared.kernel.errors import BadRequest, DomainError, Unauthorized, problem_type
from shared.observability import logger, tracer
from shared.runtime import after_response

PROBLEM_JSON = "application/problem+json"
BaseModelT = TypeVar("BaseModelT", bound=BaseModel)
T = TypeVar("T")
_CORRELATION = re.compile(r"^[\w.:-]{1,128}$")


def _problem_body(status: int, detail: str, slug: str | None, title: str | None, **ext: Any) -> str:
    body = {
        "type": problem_type(slug) if slug else "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **ext,
    }
    return json.dumps(body, default=str)


def problem(
    status: int, detail: str, *, slug: str | None = None, title: str | None = None, **ext: Any
) -> Response[str]:
    return Response(
        status_code=status, content_type=PROBLEM_JSON, body=_problem_body(status, detail, slug, title, **ext)
    )


def _validation_errors(errors: list[Any]) -> list[dict[str, Any]]:
    """Pydantic errors without the input values (they may carry personal data)."""
    return [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in errors
    ]


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
        in_body = any((e.get("loc") or ("",))[0] == "body" for e in errors)
        if in_body:
            return problem(
                422,
                "The request body does not fit the schema.",
                slug="validation-error",
                title="Validation failed",
                errors=_validation_errors(errors),
            )
        return problem(
            400,
            "The request's parameters are invalid.",
            slug="bad-request",
            title="Bad request",
            errors=_validation_errors(errors),
        )

    @app.exception_handler(ValidationError)
    def _model_invalid(exc: ValidationError) -> Response[str]:
        return problem(
            400,
            "The request's parameters are invalid.",
            slug="bad-request",
            title="Bad request",
            errors=_validation_errors(list(exc.errors())),
        )

    @app.not_found
    def _not_found(exc: Exception) -> Response[str]:
        return problem(404, "No such route.", slug="not-found", title="Not found")

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response[str]:
        logger.exception("unhandled error")
        return problem(
            500,
            "Something went wrong on our side; it has been logged.",
            slug="internal-error",
            title="Internal error",
        )

    return app


def principal(app: APIGatewayRestResolver) -> Principal:
    context = app.current_event.raw_event.get("requestContext", {}).get("authorizer") or {}
    if not context.get("sub") and not context.get("principalId"):
        raise Unauthorized("No authenticated principal on this request.")
    return Principal.from_claims(context)


def correlation_id(app: APIGatewayRestResolver) -> str:
    given = app.current_event.headers.get("x-correlation-id") or ""
    if _CORRELATION.match(given):
        return given
    return str(app.current_event.request_context.request_id)


def header(app: APIGatewayRestResolver, name: str) -> str | None:
    value = app.current_event.headers.get(name)
    return value if value is None else str(value)


def query_params(app: APIGatewayRestResolver, *, list_fields: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Query parameters, each as the list of its values. Only ``list_fields`` are lists for the
    API: they may be repeated or comma-separated (``state=new,ack``). Every other value is kept
    whole, commas included (``q=orders, billing``, ``assignee=Doe, Jane``)."""
    multi = app.current_event.multi_value_query_string_parameters or {}
    single = app.current_event.query_string_parameters or {}
    params: dict[str, list[str]] = {}
    for name in set(multi) | set(single):
        values = [str(v) for v in (multi.get(name) or [single[name]])]
        if name in list_fields:
            values = [part.strip() for value in values for part in value.split(",") if part.strip()]
        params[name] = values
    return params


def parse_query(
    app: APIGatewayRestResolver, model: type[BaseModelT], *, list_fields: tuple[str, ...] = ()
) -> BaseModelT:
    """The query parameters validated by ``model``; a single-valued parameter given twice is a 400."""
    values: dict[str, Any] = {}
    for name, given in query_params(app, list_fields=list_fields).items():
        if name in list_fields:
            values[name] = given
        elif len(given) > 1 and name in model.model_fields:
            raise BadRequest(f"Give the query parameter '{name}' once.")
        else:
            values[name] = given[-1] if given else None
    return model.model_validate(values)


def json_response(
    status: int, model: BaseModel | dict[str, Any], headers: dict[str, str] | None = None
) -> Response[Any]:
    body = model.model_dump(mode="json") if isinstance(model, BaseModel) else model
    return Response(status_code=status, content_type="application/json", body=body, headers=headers or {})


def page_response(page: pagination.Page) -> Response[str]:
    """A list page, its items serialized once (``shared.pagination.page``)."""
    return Response(status_code=200, content_type="application/json", body=page.json())


def _request_body(app: APIGatewayRestResolver) -> Any:
    try:
        return app.current_event.json_body
    except (ValueError, TypeError):
        return app.current_event.decoded_body


Operation = Callable[[db.Connection], tuple[BaseModel, dict[str, str]]]


def write(
    app: APIGatewayRestResolver, who: Principal, operation: Operation, *, status: int = 200
) -> Response[Any]:
    """Run ``operation`` in one scoped transaction, idempotently when the client sent a key.

    Same key + same request → the stored response (status, body, headers); same key + another
    request → 422; a duplicate racing the first → waits for it, then the stored response (or
    409 if the first is still running after the lock timeout).
    """
    key = header(app, "idempotency-key")
    if key is not None:
        key = idempotency.validate_key(key)
    outbox.start_recording()
    with db.transaction(who) as conn:
        if key is not None:
            fingerprint = idempotency.request_fingerprint(
                app.current_event.http_method, app.current_event.path, _request_body(app)
            )
            ttl_hours = get_settings().idempotency_ttl_hours
            stored = idempotency.claim(conn, who, key, fingerprint, ttl_hours=ttl_hours)
            if stored is not None:
                outbox.take_recorded()
                return Response(
                    status_code=stored.status,
                    content_type="application/json",
                    body=stored.body,
                    headers={**stored.headers, "Idempotent-Replayed": "true"},
                )
        result, headers = operation(conn)
        # Serialized here, once, so that a replay sends these exact bytes.
        body = result.model_dump_json()
        if key is not None:
            idempotency.complete(conn, who, key, idempotency.StoredResponse(status, body, headers))
    outbox.flush_after_commit()
    return Response(status_code=status, content_type="application/json", body=body, headers=headers)


def read(who: Principal, operation: Callable[[db.Connection], T]) -> T:
    with db.transaction(who) as conn:
        return operation(conn)


# Deeper JSON than this is refused before anything parses it again (pydantic, jsonb); the
# deepest document the API defines is a ticket's free-form ``fields``.
MAX_JSON_DEPTH = 32
# The largest request body accepted (413 above it). The largest valid request (a ticket with
# every text at its limit, every character escaped as JSON allows) is about 420 KB.
MAX_BODY_BYTES = 512 * 1024
# Media types a request body may have (415 otherwise); PATCH also takes JSON Merge Patch
# (RFC 7396), which is what a PATCH body here means anyway. Compared case-insensitively; a
# charset parameter, if any, must be UTF-8 (RFC 8259).
JSON_MEDIA_TYPE = "application/json"
MERGE_PATCH_MEDIA_TYPE = "application/merge-patch+json"
_BODY_MEDIA_TYPES = {"PATCH": (JSON_MEDIA_TYPE, MERGE_PATCH_MEDIA_TYPE)}
# Characters PostgreSQL text cannot hold: NUL, and UTF-16 surrogates (a JSON "\ud800" alone).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _proxy_problem(status: int, slug: str, title: str, detail: str, **ext: Any) -> dict[str, Any]:
    """``problem`` as a Lambda proxy result, for answers given before the resolver runs."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": PROBLEM_JSON},
        "multiValueHeaders": {"Content-Type": [PROBLEM_JSON]},
        "body": _problem_body(status, detail, slug, title, **ext),
        "isBase64Encoded": False,
    }


def _media_type_problem(event: dict[str, Any]) -> dict[str, Any] | None:
    """415 unless the body's media type is one this method takes; else the event's Content-Type
    is normalised to ``application/json``, which is what the resolver parses."""
    headers = event.get("headers") or {}
    given = next((str(v) for k, v in headers.items() if k.lower() == "content-type"), "")
    accepted = _BODY_MEDIA_TYPES.get(str(event.get("httpMethod")), (JSON_MEDIA_TYPE,))
    if given:
        media_type, *params = (part.strip() for part in given.split(";"))
        charset = next((p.split("=", 1)[1] for p in params if p.lower().startswith("charset=")), "utf-8")
        if media_type.lower() not in accepted or charset.strip('"').lower() not in ("utf-8", "utf8"):
            return _proxy_problem(
                415,
                "unsupported-media-type",
                "Unsupported media type",
                f"Send the request body as {' or '.join(accepted)} (UTF-8), not {given}.",
            )
    for field, value in (("headers", JSON_MEDIA_TYPE), ("multiValueHeaders", [JSON_MEDIA_TYPE])):
        kept = {k: v for k, v in (event.get(field) or {}).items() if k.lower() != "content-type"}
        event[field] = {**kept, "Content-Type": value}
    return None


def _refuse_bad_input(event: dict[str, Any]) -> dict[str, Any] | None:
    """Problems found before routing, so that no handler meets them: a body of another media type
    (415), larger than ``MAX_BODY_BYTES`` (413), not UTF-8 or not valid JSON (400: ``NaN`` and
    ``Infinity`` are not JSON), nested deeper than ``MAX_JSON_DEPTH`` (400); NUL characters or lone
    surrogates, which PostgreSQL cannot store in text, in the body (422) or in a query parameter
    (400)."""
    query = {k: [v] for k, v in (event.get("queryStringParameters") or {}).items()}
    query.update(event.get("multiValueQueryStringParameters") or {})
    for name, values in query.items():
        if any(_UNSTORABLE.search(str(v)) for v in values or ()):
            return _proxy_problem(
                400,
                "bad-request",
                "Bad request",
                f"The query parameter '{name}' contains a NUL character or a lone surrogate.",
            )
    raw = event.get("body")
    if not raw:
        return None
    refused = _media_type_problem(event)
    if refused is not None:
        return refused
    try:
        data = base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else None
    except ValueError:
        return _proxy_problem(400, "bad-request", "Bad request", "The request body is not valid base64.")
    size = len(data) if data is not None else len(raw.encode("utf-8", "surrogatepass"))
    if size > MAX_BODY_BYTES:
        return _proxy_problem(
            413,
            "content-too-large",
            "Content too large",
            f"The request body is {size} bytes; the most this API accepts is {MAX_BODY_BYTES} bytes.",
        )
    try:
        text = data.decode("utf-8") if data is not None else raw
    except UnicodeDecodeError:
        return _proxy_problem(400, "bad-request", "Bad request", "The request body is not UTF-8 text.")
    try:
        document = json.loads(text, parse_constant=_not_json)
    except RecursionError:
        document = _TOO_DEEP
    except ValueError:
        return _proxy_problem(400, "bad-request", "Bad request", "The request body is not valid JSON.")
    found = _TOO_DEEP if document is _TOO_DEEP else _first_unstorable_or_depth(document, ["body"])
    if found is _TOO_DEEP:
        return _proxy_problem(
            400,
            "bad-request",
            "Bad request",
            f"The request body is nested deeper than {MAX_JSON_DEPTH} levels.",
        )
    if found is not None:
        return _proxy_problem(
            422,
            "validation-error",
            "Validation failed",
            "The request body does not fit the schema.",
            errors=[_unstorable_error(found)],
        )
    return None


_TOO_DEEP: Any = object()


def _unstorable_error(found: tuple[list[str], str]) -> dict[str, Any]:
    loc, char = found
    if char == "\x00":
        return {"loc": loc, "msg": "Text must not contain NUL characters", "type": "string_nul"}
    return {"loc": loc, "msg": "Text must not contain lone surrogates", "type": "string_surrogate"}


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _first_unstorable_or_depth(value: Any, path: list[str]) -> Any:
    """(location, character) of the first string (or key) with a character PostgreSQL cannot
    store, ``_TOO_DEEP``, or None."""
    if len(path) > MAX_JSON_DEPTH + 1:
        return _TOO_DEEP
    if isinstance(value, str):
        bad = _UNSTORABLE.search(value)
        return (path, bad.group()) if bad else None
    items: Any = ()
    if isinstance(value, dict):
        for key in value:
            bad = _UNSTORABLE.search(key)
            if bad:
                return ([*path, key], bad.group())
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    for key, item in items:
        found = _first_unstorable_or_depth(item, [*path, str(key)])
        if found is not None:
            return found
    return None


def entrypoint(app: APIGatewayRestResolver) -> Callable[[dict[str, Any], LambdaContext], dict[str, Any]]:
    """The Lambda handler for ``app``: logging context, correlation id, tracing, and the hand-over
    of work deferred until after the response (``shared.after_response``).

    Call it at import time: in AWS, a function whose settings say ``AFTER_RESPONSE=extension``
    registers the after-response extension here, during init, as Lambda requires, and every
    function tunes the garbage collector for short requests (``after_response.tune_gc``).
    """
    if get_settings().after_response == "extension":
        after_response.start_extension()
    if os.environ.get("AWS_LAMBDA_RUNTIME_API"):  # in Lambda, at the end of init
        after_response.tune_gc()

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
    @tracer.capture_lambda_handler
    def resolve(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        refused = _refuse_bad_input(event)
        if refused is not None:
            return refused
        return app.resolve(event, context)

    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        try:
            return resolve(event, context)
        finally:
            after_response.finish(getattr(context, "aws_request_id", ""))

    return handler
