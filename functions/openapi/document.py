"""The OpenAPI 3.1 document, generated from the route table and the pydantic models.

Each Lambda serves one route, so no single resolver knows the whole API; the document is
composed here instead, from ``shared.routes.ROUTES`` (paths, methods, summaries, auth) and the
models each route reads and answers with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.runtime.catalog import ROUTES, Route
from shared.tickets.models import (
    Comment,
    CommentCreate,
    CommentPage,
    EventPage,
    PageQuery,
    Ticket,
    TicketCreate,
    TicketPage,
    TicketPatch,
    TicketQuery,
    TransitionRequest,
)


@dataclass(frozen=True)
class _Spec:
    responses: dict[int, type[BaseModel] | None]
    request: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    headers: tuple[str, ...] = ()
    path_param: bool = False
    list_params: tuple[str, ...] = field(default=())


_SPECS: dict[str, _Spec] = {
    "healthz": _Spec(responses={200: None}),
    "readyz": _Spec(responses={200: None}, errors=(503,)),
    "openapi": _Spec(responses={200: None}),
    "create_ticket": _Spec(
        request=TicketCreate,
        responses={201: Ticket},
        errors=(400, 403, 409, 422),
        headers=("Idempotency-Key",),
    ),
    "list_tickets": _Spec(
        query=TicketQuery,
        responses={200: TicketPage},
        errors=(400, 403),
        list_params=("state", "priority", "kind", "category"),
    ),
    "get_ticket": _Spec(responses={200: Ticket}, errors=(404,), path_param=True),
    "update_ticket": _Spec(
        request=TicketPatch,
        responses={200: Ticket},
        errors=(400, 403, 404, 409, 412, 422),
        headers=("If-Match",),
        path_param=True,
    ),
    "transition_ticket": _Spec(
        request=TransitionRequest,
        responses={200: Ticket},
        errors=(400, 403, 404, 409, 412, 422),
        headers=("Idempotency-Key", "If-Match"),
        path_param=True,
    ),
    "add_comment": _Spec(
        request=CommentCreate,
        responses={201: Comment},
        errors=(400, 403, 404, 409, 422),
        headers=("Idempotency-Key",),
        path_param=True,
    ),
    "list_comments": _Spec(query=PageQuery, responses={200: CommentPage}, errors=(400, 404), path_param=True),
    "list_events": _Spec(query=PageQuery, responses={200: EventPage}, errors=(400, 404), path_param=True),
}

_HEADER_DOCS = {
    "Idempotency-Key": "Same key + same body returns the stored response; same key + another body is a 422. "
    "Scoped to the caller, kept at least 24 hours.",
    "If-Match": 'The ticket\'s version as its ETag (e.g. "3"); a mismatch is a 412.',
}

_PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
        "allowed_transitions": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["type", "title", "status", "detail"],
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _parameters(route: Route, spec: _Spec, defs: dict[str, Any]) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    if spec.path_param:
        params.append(
            {
                "name": "ticket_id",
                "in": "path",
                "required": True,
                "description": "The ticket's id (UUID) or key (TCK-42)",
                "schema": {"type": "string"},
            }
        )
    if spec.query is not None:
        schema = spec.query.model_json_schema(ref_template="#/components/schemas/{model}")
        defs.update(schema.pop("$defs", {}))
        for name, prop in schema.get("properties", {}).items():
            param: dict[str, Any] = {"name": name, "in": "query", "required": False, "schema": prop}
            if name in spec.list_params:
                param |= {
                    "style": "form",
                    "explode": True,
                    "description": "Repeat or comma-separate to match any",
                }
            params.append(param)
    for name in spec.headers:
        params.append(
            {
                "name": name,
                "in": "header",
                "required": False,
                "description": _HEADER_DOCS[name],
                "schema": {"type": "string"},
            }
        )
    return params


def _operation(route: Route, spec: _Spec, defs: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": route.function,
        "summary": route.summary,
        "parameters": _parameters(route, spec, defs),
        "responses": {},
    }
    if route.auth:
        operation["security"] = [{"bearer": []}]
    else:
        operation["security"] = []
    if spec.request is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(spec.request)}},
        }
    for status, model in spec.responses.items():
        content = {"application/json": {"schema": _ref(model) if model else {"type": "object"}}}
        operation["responses"][str(status)] = {
            "description": "OK" if status < 300 else "",
            "content": content,
        }
    errors = (*spec.errors, *((401, 403) if route.auth else ()), 500)
    for status in sorted(set(errors)):
        operation["responses"][str(status)] = {
            "description": "Problem",
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    return operation


@cache
def document() -> dict[str, Any]:
    models = {m for s in _SPECS.values() for m in (s.request, *s.responses.values()) if m is not None}
    _, schemas = models_json_schema(
        [
            (m, "validation" if m in {s.request for s in _SPECS.values()} else "serialization")
            for m in sorted(models, key=lambda m: m.__name__)
        ],
        ref_template="#/components/schemas/{model}",
    )
    defs: dict[str, Any] = dict(schemas.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        spec = _SPECS.get(route.function)
        if spec is None:
            continue
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, spec, defs)
    defs["Problem"] = _PROBLEM
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Ticketing API",
            "version": "1.0.0",
            "description": "Incidents and service requests for every tenant of the data platform.",
        },
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
