"""What a route handler does with a request: who is calling, and one scoped transaction for a
read or a write (honouring ``Idempotency-Key``); ETags and ``If-Match``. The request's parameters
are declared on the route (``shared.http.openapi``) and validated by the resolver before the
handler runs.

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
from pydantic import BaseModel

from shared import db, idempotency
from shared.auth import Principal
from shared.kernel import pagination
from shared.kernel.clock import Clock, utcnow
from shared.kernel.errors import BadRequest, Unauthorized

T = TypeVar("T")
_CORRELATION = re.compile(r"^[\w.:-]{1,128}$")
# An entity tag as If-Match carries it: "3", W/"3", or * (RFC 9110 grammar, our versions).
IF_MATCH_PATTERN = r'^(\*|(W/)?"[0-9]{1,10}")$'
_IF_MATCH = re.compile(IF_MATCH_PATTERN)


@dataclass(frozen=True)
class RequestContext:
    """What the entrypoint hands a route for this invocation (from the function's settings)."""

    idempotency_ttl_hours: int = 24
    clock: Clock = utcnow
    # Events per minute a routing key of POST /v2/enqueue may send, unless its integration says.
    enqueue_rate_limit_per_minute: int = 120


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


def correlation_id(app: APIGatewayRestResolver, given: str | None) -> str:
    """The ``X-Correlation-Id`` the client gave when it is a plain id, else this request's id."""
    if given is not None and _CORRELATION.match(given):
        return given
    return str(app.current_event.request_context.request_id)


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
    app: APIGatewayRestResolver,
    who: Principal,
    operation: Operation,
    *,
    status: int = 200,
    idempotency_key: str | None = None,
) -> Response[Any]:
    """Run ``operation`` in one scoped transaction, idempotently when the client sent a key.

    Same key + same request → the stored response (status, body, headers); same key + another
    request → 422; a duplicate racing the first → waits for it, then the stored response (or
    409 if the first is still running after the lock timeout).
    """
    key = idempotency_key
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
    """The version an If-Match header names: ``"3"`` or ``W/"3"``; ``*`` or absent → None. The
    route declares the header with ``IF_MATCH_PATTERN``, so the resolver refuses anything else
    (400) before this runs; here it is refused the same way for any other caller."""
    if value is None or value == "*":
        return None
    if not _IF_MATCH.match(value):
        raise BadRequest(f'If-Match must carry the ticket\'s version as its ETag, e.g. "3"; got {value!r}.')
    return int(value.removeprefix("W/").strip('"'))


def etag(version: int) -> str:
    return f'"{version}"'
