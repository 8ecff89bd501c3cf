"""HTTP glue for the route Lambdas: the resolver and its problem+json mapping (``app``), the
door before routing (``gate``), reads and writes (``writes``) and the OpenAPI document."""

from shared.http.app import make_app, problem
from shared.http.writes import (
    RequestContext,
    correlation_id,
    etag,
    header,
    json_response,
    now,
    page_response,
    parse_if_match,
    parse_query,
    principal,
    read,
    write,
)

__all__ = [
    "RequestContext",
    "correlation_id",
    "etag",
    "header",
    "json_response",
    "make_app",
    "now",
    "page_response",
    "parse_if_match",
    "parse_query",
    "principal",
    "problem",
    "read",
    "write",
]
