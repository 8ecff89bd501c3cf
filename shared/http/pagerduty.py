"""``POST /v2/enqueue`` speaks PagerDuty's Events API v2, not this API's problem+json: its door,
its answers and what its route declares for the OpenAPI document.

The door (``door``, in place of ``shared.http.gate.refuse_bad_input``) reads the body the way
PagerDuty does and answers what is wrong with it in PagerDuty's shape (400 ``invalid event``):
an empty body, one over PagerDuty's 512 KB, not UTF-8, not JSON, nested deeper than 32 levels,
not an event (``shared.intake.pagerduty.validate``), or holding text PostgreSQL cannot store. Any
Content-Type is read as JSON, as monitoring tools send all sorts. What passes goes on to the
resolver as plain JSON, which validates it again with the same model and hands the handler the
event. Refusals raised later (an unknown or revoked routing key, a key over its rate limit) are
answered by ``answer``. Errors of the service itself (5xx) stay problem+json, as on every route:
PagerDuty clients retry on any 5xx whatever its body.
"""

from __future__ import annotations

import base64
import json
import math
import re
from typing import Any, cast

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from shared.http.app import make_app as _make_app
from shared.http.gate import MAX_JSON_DEPTH
from shared.http.openapi import JSON
from shared.http.writes import request_context
from shared.intake import pagerduty
from shared.intake.pagerduty import MAX_BODY_BYTES, PagerDutyAccepted, PagerDutyError
from shared.observability import logger

_SURROGATE = re.compile("[\ud800-\udfff]")


def make_app() -> APIGatewayRestResolver:
    """The route's resolver: the API's, plus PagerDuty's answers for PagerDuty's refusals."""
    app = _make_app()

    @app.exception_handler(pagerduty.Refused)
    def _refused(exc: pagerduty.Refused) -> Response[str]:
        return answer(exc)

    return app


def answer(refusal: pagerduty.Refused) -> Response[str]:
    _log_refusal(refusal.status, refusal.body())
    return Response(
        status_code=refusal.status,
        content_type=JSON,
        body=json.dumps(refusal.body()),
        headers=refusal.headers(),
    )


def accepted(dedup_key: str) -> Response[str]:
    """202, as PagerDuty answers an event it queued."""
    return Response(status_code=202, content_type=JSON, body=json.dumps(pagerduty.accepted_body(dedup_key)))


def rate_limit(app: APIGatewayRestResolver) -> int:
    """Events per minute a routing key may send, unless its integration says otherwise
    (``ENQUEUE_RATE_LIMIT_PER_MINUTE``, handed in by the entrypoint)."""
    return request_context(app).enqueue_rate_limit_per_minute


# ---- the door ----------------------------------------------------------------------------------------


def _log_refusal(status: int, body: dict[str, Any]) -> None:
    """One line per refused event, for "why does my tool get 400s": the sentences name members and
    bounds, never the values sent (nor the routing key)."""
    logger.info("event refused", extra={"status": status, "errors": body.get("errors")})


def _invalid(*errors: str) -> dict[str, Any]:
    """A 400 in PagerDuty's shape, as a Lambda proxy result (answered before the resolver runs)."""
    _log_refusal(400, pagerduty.invalid_body(errors))
    return {
        "statusCode": 400,
        "headers": {"Content-Type": JSON},
        "multiValueHeaders": {"Content-Type": [JSON]},
        "body": json.dumps(pagerduty.invalid_body(errors)),
        "isBase64Encoded": False,
    }


def door(event: dict[str, Any]) -> dict[str, Any] | None:
    """PagerDuty's 400 for a body that is not an event it would take; else None, with the body
    handed on as plain JSON text (``Content-Type: application/json``)."""
    raw = event.get("body")
    if not raw:
        return _invalid("The request body is empty: send the event as a JSON object.")
    try:
        data = base64.b64decode(raw, validate=True) if event.get("isBase64Encoded") else None
    except ValueError:
        return _invalid("The request body is not valid base64.")
    size = len(data) if data is not None else len(raw.encode("utf-8", "surrogatepass"))
    if size > MAX_BODY_BYTES:
        return _invalid(f"The event is {size} bytes; the most accepted is {MAX_BODY_BYTES} bytes (512 KB).")
    try:
        text = data.decode("utf-8") if data is not None else raw
    except UnicodeDecodeError:
        return _invalid("The request body is not UTF-8 text.")
    try:
        document = json.loads(text, parse_constant=_not_json)
    except RecursionError:
        return _invalid(f"The event is nested deeper than {MAX_JSON_DEPTH} levels.")
    except ValueError:
        return _invalid("JSON parse error")
    if _deeper_than(document, MAX_JSON_DEPTH):
        return _invalid(f"The event is nested deeper than {MAX_JSON_DEPTH} levels.")
    try:
        validated = pagerduty.validate(document)
    except pagerduty.InvalidEvent as exc:
        return _invalid(*exc.errors)
    unstorable = _first_unstorable(validated.model_dump(mode="python", by_alias=True, exclude_none=True), [])
    if unstorable is not None:
        return _invalid(unstorable)
    event["body"] = text
    event["isBase64Encoded"] = False
    for field, value in (("headers", JSON), ("multiValueHeaders", [JSON])):
        kept = {k: v for k, v in (event.get(field) or {}).items() if k.lower() != "content-type"}
        event[field] = {**kept, "Content-Type": value}
    return None


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether objects and arrays nest more than ``limit`` levels deep (iteratively)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def _first_unstorable(value: Any, path: list[str]) -> str | None:
    """What PostgreSQL could not store of the event that is kept: a lone surrogate (NUL is
    refused by the model already), or a number JSON cannot carry on (1e999 reads as infinity)."""
    where = ".".join(path)
    if isinstance(value, str):
        return f"'{where}' cannot contain lone surrogates" if _SURROGATE.search(value) else None
    if isinstance(value, float) and not math.isfinite(value):
        return f"'{where}' is not a finite number"
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and _SURROGATE.search(key):
                return f"'{where or 'event'}' has a key with a lone surrogate"
            found = _first_unstorable(item, [*path, str(key)])
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _first_unstorable(item, [*path, str(index)])
            if found is not None:
                return found
    return None


# ---- what the route declares ----------------------------------------------------------------------------

RETRY_AFTER: dict[str, Any] = {
    "Retry-After": {
        "description": "Seconds until the routing key's current minute ends; retry then.",
        "required": True,
        "schema": {"type": "string", "pattern": "^[1-9][0-9]*$"},
    }
}


def responses() -> dict[int, OpenAPIResponse]:
    """PagerDuty's answers (202, 400, 429), in PagerDuty's shape (``application/json``)."""
    return {
        202: cast(
            OpenAPIResponse,
            {
                "description": "Accepted and queued; the dedup_key is the one sent, or the one generated for"
                " a trigger sent without one.",
                "content": {JSON: {"model": PagerDutyAccepted}},
            },
        ),
        400: cast(
            OpenAPIResponse,
            {
                "description": 'An invalid event ("invalid event", one sentence per problem in errors): not'
                " JSON, over 512 KB, a member missing or malformed, or a routing key that is unknown or"
                ' revoked ("Invalid routing key"). Nothing was queued; do not retry it as it is.',
                "content": {JSON: {"model": PagerDutyError}},
            },
        ),
        429: cast(
            OpenAPIResponse,
            {
                "description": 'The routing key sent more events this minute than its limit ("throttle'
                ' event"); nothing was queued. Retry after Retry-After seconds.',
                "headers": RETRY_AFTER,
                "content": {JSON: {"model": PagerDutyError}},
            },
        ),
    }
