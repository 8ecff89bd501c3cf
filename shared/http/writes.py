"""What a route handler does with a request: who is calling, its parameters, and one scoped
transaction for a read or a write (honouring ``Idempotency-Key``); ETags and ``If-Match``.

The events a write records are published by the entrypoint's finish step once the transaction
has committed (``shared.runtime.entrypoints``), after the response where the host allows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from pydantic import BaseModel, ValidationError

from shared import db, idempotency
from shared.auth import Principal
from shared.http.app import validation_errors
from shared.kernel import pagination
from shared.kernel.clock import Clock, utcnow
from shared.kernel.errors import BadRequest, PreconditionFailed, Unauthorized

BaseModelT = TypeVar("BaseModelT", bound=BaseModel)
T = TypeVar("T")
_CORRELATION = re.compile(r"^[\w.:-]{1,128}$")
# An entity tag as If-Match carries it: "3", W/"3", or * (RFC 9110 grammar, our versions).
IF_MATCH_PATTERN = r'^(\*|(W/)?"[0-9]{1,10}")$'


@dataclass(frozen=True)
class RequestContext:
    """What the entrypoint hands a route for this invocation (from the function's settings)."""

    idempotency_ttl_hours: int = 24
    clock: Clock = utcnow


def request_context(app: APIGatewayRestResolver) -> RequestContext:
    found = app.context.get("request_context")
    return found if isinstance(found, RequestContext) else RequestContext()


def now(app: APIGatewayRestResolver) -> datetime:
    """This request's "now", from the clock the entrypoint handed in."""
    return request_context(app).clock()


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
    """The query parameters validated by ``model`` (400 when they do not fit); a single-valued
    parameter given twice is a 400 too."""
    values: dict[str, Any] = {}
    for name, given in query_params(app, list_fields=list_fields).items():
        if name in list_fields:
            values[name] = given
        elif len(given) > 1 and name in model.model_fields:
            raise BadRequest(f"Give the query parameter '{name}' once.")
        else:
            values[name] = given[-1] if given else None
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        errors = [{**e, "loc": ("query", *e["loc"])} for e in exc.errors()]
        raise BadRequest("The request's parameters are invalid.", errors=validation_errors(errors)) from None


def json_response(
    status: int, model: BaseModel | dict[str, Any], headers: dict[str, str] | None = None
) -> Response[Any]:
    body = model.model_dump_json() if isinstance(model, BaseModel) else model
    return Response(status_code=status, content_type="application/json", body=body, headers=headers or {})


def page_response(page: pagination.Page) -> Response[str]:
    """A list page, its items serialized once (``shared.kernel.pagination.page``)."""
    return Response(status_code=200, content_type="application/json", body=page.json())


def _request_body(app: APIGatewayRestResolver) -> Any:
    try:
        return app.current_event.json_body
    except (ValueError, TypeError):
        return app.current_event.decoded_body


Operation = Callable[[db.UnitOfWork], tuple[BaseModel, dict[str, str]]]


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
    with db.transaction(who) as uow:
        if key is not None:
            fingerprint = idempotency.request_fingerprint(
                app.current_event.http_method, app.current_event.path, _request_body(app)
            )
            ttl_hours = request_context(app).idempotency_ttl_hours
            stored = idempotency.claim(uow, who, key, fingerprint, ttl_hours=ttl_hours)
            if stored is not None:
                return Response(
                    status_code=stored.status,
                    content_type="application/json",
                    body=stored.body,
                    headers={**stored.headers, "Idempotent-Replayed": "true"},
                )
        result, headers = operation(uow)
        # Serialized here, once, so that a replay sends these exact bytes.
        body = result.model_dump_json()
        if key is not None:
            idempotency.complete(uow, who, key, idempotency.StoredResponse(status, body, headers))
    return Response(status_code=status, content_type="application/json", body=body, headers=headers)


def read(who: Principal, operation: Callable[[db.UnitOfWork], T]) -> T:
    with db.transaction(who) as uow:
        return operation(uow)


def parse_if_match(value: str | None) -> int | None:
    """The version an If-Match header names: ``"3"``, ``W/"3"`` or ``3``; ``*`` or absent → None."""
    if value is None or value.strip() == "*":
        return None
    raw = value.strip().removeprefix("W/").strip('"')
    if not raw.isdigit() or len(raw) > 10:
        raise PreconditionFailed(
            f'If-Match must carry the ticket\'s version as its ETag, e.g. "3"; got {value!r}.'
        )
    return int(raw)


def etag(version: int) -> str:
    return f'"{version}"'
