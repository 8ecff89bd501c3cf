"""The door every request passes before routing: what no handler should ever meet.

A body of another media type (415), larger than ``MAX_BODY_BYTES`` (413), not UTF-8 or not valid
JSON (400: ``NaN`` and ``Infinity`` are not JSON), nested deeper than ``MAX_JSON_DEPTH`` (400);
NUL characters or lone surrogates, which PostgreSQL cannot store in text, in the body (422, with
their location) or in a query parameter (400). A JSON body's Content-Type is normalised to
``application/json``, which is what the resolver parses.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from shared.http.problems import PROBLEM_JSON, problem_body

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


def proxy_problem(status: int, slug: str, title: str, detail: str, **ext: Any) -> dict[str, Any]:
    """``problem`` as a Lambda proxy result, for answers given before the resolver runs."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": PROBLEM_JSON},
        "multiValueHeaders": {"Content-Type": [PROBLEM_JSON]},
        "body": problem_body(status, detail, slug, title, **ext),
        "isBase64Encoded": False,
    }


def _media_type_problem(event: dict[str, Any]) -> dict[str, Any] | None:
    """415 unless the body's media type is one this method takes; else the event's Content-Type
    is normalised to ``application/json``, which is what the resolver parses."""
    headers = event.get("headers") or {}
    multi = event.get("multiValueHeaders") or {}
    if (
        headers.get("Content-Type") == JSON_MEDIA_TYPE
        and multi.get("Content-Type") == [JSON_MEDIA_TYPE]
        and sum(1 for k in (*headers, *multi) if k.lower() == "content-type") == 2
    ):
        return None  # the common case: already what the resolver parses, nothing to rewrite
    given = next((str(v) for k, v in headers.items() if k.lower() == "content-type"), "")
    accepted = _BODY_MEDIA_TYPES.get(str(event.get("httpMethod")), (JSON_MEDIA_TYPE,))
    if given:
        media_type, *params = (part.strip() for part in given.split(";"))
        charset = next((p.split("=", 1)[1] for p in params if p.lower().startswith("charset=")), "utf-8")
        if media_type.lower() not in accepted or charset.strip('"').lower() not in ("utf-8", "utf8"):
            return proxy_problem(
                415,
                "unsupported-media-type",
                "Unsupported media type",
                f"Send the request body as {' or '.join(accepted)} (UTF-8), not {given}.",
            )
    for field, value in (("headers", JSON_MEDIA_TYPE), ("multiValueHeaders", [JSON_MEDIA_TYPE])):
        kept = {k: v for k, v in (event.get(field) or {}).items() if k.lower() != "content-type"}
        event[field] = {**kept, "Content-Type": value}
    return None


def refuse_bad_input(event: dict[str, Any]) -> dict[str, Any] | None:
    """Problems found before routing, so that no handler meets them: a body of another media type
    (415), larger than ``MAX_BODY_BYTES`` (413), not UTF-8 or not valid JSON (400: ``NaN`` and
    ``Infinity`` are not JSON), nested deeper than ``MAX_JSON_DEPTH`` (400); NUL characters or lone
    surrogates, which PostgreSQL cannot store in text, in the body (422) or in a query parameter
    (400)."""
    query = {k: [v] for k, v in (event.get("queryStringParameters") or {}).items()}
    query.update(event.get("multiValueQueryStringParameters") or {})
    for name, values in query.items():
        if any(_UNSTORABLE.search(str(v)) for v in values or ()):
            return proxy_problem(
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
        return proxy_problem(400, "bad-request", "Bad request", "The request body is not valid base64.")
    size = len(data) if data is not None else len(raw.encode("utf-8", "surrogatepass"))
    if size > MAX_BODY_BYTES:
        return proxy_problem(
            413,
            "content-too-large",
            "Content too large",
            f"The request body is {size} bytes; the most this API accepts is {MAX_BODY_BYTES} bytes.",
        )
    try:
        text = data.decode("utf-8") if data is not None else raw
    except UnicodeDecodeError:
        return proxy_problem(400, "bad-request", "Bad request", "The request body is not UTF-8 text.")
    try:
        document = json.loads(text, parse_constant=_not_json)
    except RecursionError:
        document = _TOO_DEEP
    except ValueError:
        return proxy_problem(400, "bad-request", "Bad request", "The request body is not valid JSON.")
    found = _TOO_DEEP if document is _TOO_DEEP else _first_unstorable_or_depth(document, ["body"])
    if found is _TOO_DEEP:
        return proxy_problem(
            400,
            "bad-request",
            "Bad request",
            f"The request body is nested deeper than {MAX_JSON_DEPTH} levels.",
        )
    if found is not None:
        return proxy_problem(
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
