"""The OpenAPI 3.1 document: every route function's own resolver's schema, merged.

Each route Lambda has a resolver that documents its one route from its decorator and signature
(summary, operationId, tags, security, parameters, body, responses: ``shared.http.openapi``).
``generate`` imports ``functions.<name>.handler`` for every route of the catalog
(``shared.runtime.catalog.ROUTES``), asks each resolver for its schema and merges them with
powertools' ``OpenAPIMerge``; nothing else lists what a route reads or answers. A short finishing
pass (``_finish``) says in the document what the resolvers cannot.

In AWS the openapi function's asset holds only its own folder, so the document is generated at
synth time (``python -m functions.openapi.document OUT``, run by ``infra/assets.py``) and shipped
as ``openapi.json`` beside this module; ``document()`` serves that file when it is there and
generates the document otherwise (the local stack, tests).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from functools import cache
from pathlib import Path
from typing import Any

from shared.runtime.catalog import ROUTES

# Where the synthesised document is shipped in the openapi function's asset.
DOCUMENT_FILE = Path(__file__).resolve().with_name("openapi.json")

TITLE = "Ticketing API"
VERSION = "1.0.0"
DESCRIPTION = (
    "Incidents and service requests for every tenant of the data platform, in one auditable workflow."
    " Errors are RFC 9457 problem details (application/problem+json), except on POST /v2/enqueue, which"
    " answers as PagerDuty's Events API v2 does. Text is UTF-8 and may not hold NUL characters or lone"
    " surrogates; request bodies are at most 512 KiB of JSON nested at most 32 levels."
)
TAGS = {
    "tickets": "Open, find, read, change and move tickets through their lifecycle.",
    "comments": "Public and internal comments on a ticket.",
    "history": "A ticket's audit trail.",
    "integrations": "Routing keys for POST /v2/enqueue, and the defaults of the tickets their events open.",
    "intake": "Machine events in: PagerDuty's Events API v2, authenticated by an integration's routing key.",
    "routing": "Routing rules: what a new ticket's queue, assignee, priority, visibility, tags and SLA"
    " policy become (platform roles).",
    "health": "Liveness and readiness, without a token.",
    "documentation": "This document.",
}
# The bodies powertools documents for its own validation errors; this API answers them with a
# Problem (shared.http.app), so routes declare their 422 themselves.
_POWERTOOLS_VALIDATION_SCHEMAS = ("HTTPValidationError", "ResponseValidationError", "ValidationError")


def route_functions() -> list[str]:
    """The functions that serve routes, each once, in catalog order."""
    return list(dict.fromkeys(route.function for route in ROUTES))


def route_schema(function: str) -> dict[str, Any]:
    """One route function's resolver's own OpenAPI schema, as JSON."""
    module = importlib.import_module(f"functions.{function}.handler")
    schema: dict[str, Any] = module.app.get_openapi_schema().model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    return one_name_per_schema(schema)


_COMPONENT = "#/components/schemas/"
_MODES = ("-Input", "-Output")


def _renamed_refs(value: Any, renames: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            k: (renames.get(v, v) if k == "$ref" and isinstance(v, str) else _renamed_refs(v, renames))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_renamed_refs(item, renames) for item in value]
    return value


def one_name_per_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with pydantic's ``X-Input`` / ``X-Output`` pairs named ``X`` again where the two
    are the same.

    A recursive model (a routing rule's condition) used in a request and in a response is
    generated once per mode, and pydantic cannot tell that the two recursive schemas are equal, so
    it names them apart; a route that only answers one names it ``X``. Collapsed, every route
    documents it under one name, and the merge sees one schema. Nothing changes unless every pair
    is the same once their references are renamed.
    """
    schemas = schema.get("components", {}).get("schemas", {})
    split = {n.removesuffix(_MODES[0]) for n in schemas if n.endswith(_MODES[0])} & {
        n.removesuffix(_MODES[1]) for n in schemas if n.endswith(_MODES[1])
    }
    if not split:
        return schema
    renames = {f"{_COMPONENT}{base}{mode}": f"{_COMPONENT}{base}" for base in split for mode in _MODES}
    renamed: dict[str, Any] = _renamed_refs(schema, renames)
    components = renamed["components"]["schemas"]
    for base in sorted(split):
        as_input, as_output = (components.pop(f"{base}{mode}") for mode in _MODES)
        if as_input != as_output or components.get(base, as_input) != as_input:
            return schema
        components[base] = as_input
    renamed["components"]["schemas"] = dict(sorted(components.items()))
    return renamed


def generate() -> dict[str, Any]:
    """The whole API's document, merged from every route function's resolver."""
    # Imported here: in AWS the function serves the synthesised file and never generates.
    from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
    from aws_lambda_powertools.event_handler.openapi.models import Tag

    from shared.http.openapi import SECURITY_SCHEMES

    merge = OpenAPIMerge(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        tags=[Tag(name=name, description=description) for name, description in TAGS.items()],
        security_schemes=dict(SECURITY_SCHEMES),
        on_conflict="error",
    )
    components: dict[str, tuple[str, Any]] = {}
    for function in route_functions():
        schema = route_schema(function)
        for name, component in schema.get("components", {}).get("schemas", {}).items():
            seen = components.setdefault(name, (function, component))
            if seen[1] != component:  # the merge keeps the last one: they must be the same
                raise ValueError(f"{function} and {seen[0]} document the schema {name} differently")
        merge.add_schema(schema)
    merged: dict[str, Any] = json.loads(merge.get_openapi_json_schema())
    return _finish(merged)


def _finish(doc: dict[str, Any]) -> dict[str, Any]:
    """What the resolvers' schemas cannot say by themselves:

    - header parameters under their usual spelling (``If-Match``): powertools lower-cases header
      names to look them up; the declared spelling is the parameter schema's title;
    - list query parameters (arrays) are repeated (``state=new&state=ack``): style form, explode;
    - no 422 ``HTTPValidationError`` (powertools' own error body) where a route declared no 422 of
      its own: this API answers validation errors with a Problem, and routes without a body have
      no 422 to answer;
    - a 204 without content (powertools gives every response the function's return type);
    - responses in the order of their status codes.
    """
    for path_item in doc.get("paths", {}).values():
        for operation in path_item.values():
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                title = schema.get("title")
                if (
                    parameter["in"] == "header"
                    and isinstance(title, str)
                    and title.lower() == parameter["name"]
                ):
                    parameter["name"] = title
                if parameter["in"] == "query" and schema.get("type") == "array":
                    parameter.update(style="form", explode=True)
            responses = operation.get("responses", {})
            if "HTTPValidationError" in json.dumps(responses.get("422", {})):
                del responses["422"]
            if "204" in responses:  # No Content: powertools documents the return annotation anyway
                responses["204"].pop("content", None)
            operation["responses"] = dict(sorted(responses.items()))
    schemas = doc.get("components", {}).get("schemas", {})
    for name in _POWERTOOLS_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    if any(f'"#/components/schemas/{name}"' in json.dumps(doc) for name in _POWERTOOLS_VALIDATION_SCHEMAS):
        raise ValueError("a route still refers to powertools' own validation error schema")
    return doc


@cache
def document() -> dict[str, Any]:
    """The document: as synthesised into the function's asset, or generated here and now."""
    if DOCUMENT_FILE.is_file():
        shipped: dict[str, Any] = json.loads(DOCUMENT_FILE.read_text(encoding="utf-8"))
        return shipped
    return generate()


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="functions.openapi.document", description="Write the API's OpenAPI document (JSON)."
    )
    parser.add_argument("out", type=Path, help="the file to write (- for stdout)")
    args = parser.parse_args(argv)
    text = render(generate())
    if str(args.out) == "-":
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
