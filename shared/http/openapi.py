"""What a route declares on its decorator and in its signature, so that its resolver documents it:
the parameters every route reads the same way (the ticket path parameter, ``Idempotency-Key``,
``If-Match``, ``X-Correlation-Id``, the query filters and pages), the responses it answers with
(its success model and headers, and one RFC 9457 ``Problem`` for every error) and the bearer
security scheme.

The OpenAPI document is each route function's own resolver's schema, merged
(``functions/openapi``): nothing here lists routes. Parameters are validated by the resolver
exactly as documented (a malformed one is a 400, see ``shared.http.app``), so the document and
the server refuse the same requests.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast

from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, SecurityScheme
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from shared.http.problems import PROBLEM_JSON
from shared.http.writes import IF_MATCH_PATTERN
from shared.tickets.models import (
    CategoryFilter,
    Cursor,
    DedupKey,
    JsonDateTime,
    KindFilter,
    Name,
    PageLimit,
    PriorityFilter,
    SearchText,
    SlaStatusFilter,
    State,
    StateFilter,
    Tag,
    TenantId,
)

JSON = "application/json"

# ---- security ----------------------------------------------------------------------------------------

BEARER_SCHEME = "bearer"
SECURITY_SCHEMES: dict[str, SecurityScheme] = {
    BEARER_SCHEME: HTTPBearer(
        bearerFormat="JWT",
        description="A JWT from the platform's identity provider (roles, and a tenant for tenant roles).",
    )
}
# The security of every route that goes through the authorizer (all but the health checks).
BEARER: list[dict[str, list[str]]] = [{BEARER_SCHEME: []}]

# ---- parameters --------------------------------------------------------------------------------------

IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"  # shared.idempotency.validate_key's rule

TicketRef = Annotated[
    str,
    Path(
        description="The ticket: its id (a UUID) or its key, e.g. TCK-42 (case-insensitive). Anything else,"
        " or another tenant's ticket, is a 404."
    ),
]
IntegrationId = Annotated[
    str,
    Path(
        description="The integration's id (a UUID). Anything else, or another tenant's integration, is a 404."
    ),
]
RuleRef = Annotated[
    str,
    Path(description="The routing rule's id (a UUID). Anything else, or a deleted rule, is a 404."),
]
SlaPolicyRef = Annotated[
    str,
    Path(description="The SLA policy's id (letters, digits and '_.:-'). Anything else is a 404."),
]
CalendarRef = Annotated[
    str,
    Path(description="The calendar's id (letters, digits and '_.:-'). Anything else is a 404."),
]
WebhookId = Annotated[
    str,
    Path(
        description="The webhook endpoint's id (a UUID). Anything else, or another tenant's endpoint,"
        " is a 404."
    ),
]
DeliveryId = Annotated[
    str,
    Path(description="The delivery's id (a UUID), as the delivery log shows it. Anything else is a 404."),
]
ReplayJobId = Annotated[
    str,
    Path(description="The replay job's id (a UUID), as POST /webhooks/{webhook_id}/replay returned it."),
]
IdempotencyKey = Annotated[
    Annotated[str, StringConstraints(pattern=IDEMPOTENCY_KEY_PATTERN)] | SkipJsonSchema[None],
    Header(
        alias="Idempotency-Key",
        description="1-255 visible ASCII characters, unique per request. The same key with the same request"
        " returns the stored response (with Idempotent-Replayed: true); with another request it is a 422;"
        " while the first is still running, a 409. Keys are the caller's own and kept at least 24 hours.",
    ),
]
IfMatch = Annotated[
    Annotated[str, StringConstraints(pattern=IF_MATCH_PATTERN)] | SkipJsonSchema[None],
    Header(
        alias="If-Match",
        description='The ticket\'s version as its ETag ("3", or W/"3"), as a read returned it: the change'
        " is made only if the ticket is still at that version (412 otherwise, naming the current one)."
        " * or no header: no check.",
    ),
]
ConfigIfMatch = Annotated[
    Annotated[str, StringConstraints(pattern=IF_MATCH_PATTERN)] | SkipJsonSchema[None],
    Header(
        alias="If-Match",
        description='The version as its ETag ("3", or W/"3"), as a read returned it: the policy or calendar'
        " is replaced only if it is still at that version (412 otherwise, naming the current one)."
        " * or no header: no check.",
    ),
]
RuleIfMatch = Annotated[
    Annotated[str, StringConstraints(pattern=IF_MATCH_PATTERN)] | SkipJsonSchema[None],
    Header(
        alias="If-Match",
        description='The routing rule\'s version as its ETag ("3", or W/"3"), as a read returned it: the'
        " rule is replaced only if it is still at that version (412 otherwise, naming the current one)."
        " * or no header: no check.",
    ),
]
WebhookIfMatch = Annotated[
    Annotated[str, StringConstraints(pattern=IF_MATCH_PATTERN)] | SkipJsonSchema[None],
    Header(
        alias="If-Match",
        description='The endpoint\'s version as its ETag ("3", or W/"3"), as a read returned it: the change'
        " is made only if the endpoint is still at that version (412 otherwise, naming the current one)."
        " * or no header: no check.",
    ),
]
CorrelationId = Annotated[
    str | SkipJsonSchema[None],
    Header(
        alias="X-Correlation-Id",
        description="Recorded with the change (audit trail, events) when it is 1-128 letters, digits or"
        " '_.:-'; any other value is ignored and the request id is recorded instead.",
    ),
]

_ANY_OF = "Any of these (OR): repeat the parameter, or separate values with commas (a,b is the same as a&b)."
SearchQuery = Annotated[SearchText | SkipJsonSchema[None], Query()]
StatesQuery = Annotated[StateFilter | SkipJsonSchema[None], Query(description="States. " + _ANY_OF)]
PrioritiesQuery = Annotated[
    PriorityFilter | SkipJsonSchema[None], Query(description="Priorities. " + _ANY_OF)
]
KindsQuery = Annotated[
    KindFilter | SkipJsonSchema[None],
    Query(description="Kinds. " + _ANY_OF + " Both kinds means no kind filter."),
]
CategoriesQuery = Annotated[
    CategoryFilter | SkipJsonSchema[None], Query(description="Categories. " + _ANY_OF)
]
TenantQuery = Annotated[
    TenantId | SkipJsonSchema[None],
    Query(description="One tenant's tickets (platform roles; a tenant role may name only its own tenant)."),
]
AssigneeQuery = Annotated[
    Name | SkipJsonSchema[None], Query(description="Tickets assigned to this person (exact, after trimming).")
]
TagQuery = Annotated[Tag | SkipJsonSchema[None], Query(description="Tickets carrying this tag.")]
IntegrationTenantQuery = Annotated[
    TenantId | SkipJsonSchema[None],
    Query(description="One tenant's integrations (platform roles; a tenant admin may name only its own)."),
]
WebhookTenantQuery = Annotated[
    TenantId | SkipJsonSchema[None],
    Query(description="One tenant's endpoints (platform roles; a tenant admin may name only its own)."),
]
WebhookStateQuery = Annotated[
    Literal["enabled", "paused", "quarantined", "disabled"] | SkipJsonSchema[None],
    Query(description="Only the endpoints in this state."),
]
DeliveryStatusQuery = Annotated[
    Literal["pending", "succeeded", "failed"] | SkipJsonSchema[None],
    Query(description="Only deliveries in this status (failed: retries exhausted, on the webhook DLQ)."),
]
DeliveryEventTypeQuery = Annotated[
    Annotated[str, StringConstraints(pattern=r"^[a-z_]+\.[a-z_]+$", max_length=64)] | SkipJsonSchema[None],
    Query(description="Only deliveries of this event type (ticket.created, sla.breached, ...)."),
]
SinceQuery = Annotated[
    JsonDateTime | SkipJsonSchema[None],
    Query(description="Only what was made at or after this instant (RFC 3339, with its offset)."),
]
UntilQuery = Annotated[
    JsonDateTime | SkipJsonSchema[None],
    Query(description="Only what was made before this instant (RFC 3339, with its offset)."),
]
WebhookFailingQuery = Annotated[
    bool | SkipJsonSchema[None],
    Query(
        description="true: only the endpoints whose last attempt failed (failing_since is set), the"
        " first to look at when deliveries fail; false: only the others."
    ),
]
WatcherSubjectQuery = Annotated[
    Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$")]
    | SkipJsonSchema[None],
    Query(description="Someone else's watch to remove (platform roles); the caller's when left out."),
]
IntegrationStatusQuery = Annotated[
    Literal["active", "revoked"] | SkipJsonSchema[None],
    Query(description="Only active integrations (their keys are accepted), or only revoked ones."),
]
DedupKeyQuery = Annotated[
    DedupKey | SkipJsonSchema[None],
    Query(description="Tickets opened for this dedup key (fingerprint) by intake, newest first."),
]
SlaStatusQuery = Annotated[
    SlaStatusFilter | SkipJsonSchema[None],
    Query(description="SLA statuses, as the SLA timers last set them (e.g. at_risk,breached). " + _ANY_OF),
]
SortQuery = Annotated[
    Literal["newest", "sla_due"],
    Query(
        description="newest (default): newest first. sla_due: the next SLA breach first (a breached"
        " ticket's due instant is in the past, so the longest overdue come first), tickets without a"
        " running SLA clock last."
    ),
]
LimitQuery = Annotated[PageLimit, Query()]
CursorQuery = Annotated[
    Cursor | SkipJsonSchema[None],
    Query(
        description="The next_cursor of the previous page, with the same other parameters: a cursor this API"
        " did not issue, or issued for another query, is a 400."
    ),
]

# ---- responses ---------------------------------------------------------------------------------------


class ProblemItem(BaseModel):
    """One thing wrong with the request, located (``["body", "title"]``, ``["query", "limit"]``)."""

    model_config = ConfigDict(extra="allow")

    loc: list[str]
    msg: str
    type: str | SkipJsonSchema[None] = None


class Problem(BaseModel):
    """RFC 9457 problem details: the body of every error this API answers."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(
        description="The kind of problem: urn:ticketing:problem:<slug> (e.g. validation-error),"
        " or about:blank."
    )
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    instance: str | SkipJsonSchema[None] = Field(
        default=None, description="The request's path (answers given at the gateway)."
    )
    errors: list[ProblemItem] | SkipJsonSchema[None] = Field(
        default=None, description="What is wrong with the request, one item per problem found."
    )
    allowed_transitions: list[State] | SkipJsonSchema[None] = Field(
        default=None, description="The states the ticket may move to from its current state (409)."
    )
    current_state: State | SkipJsonSchema[None] = Field(default=None, description="The ticket's state (409).")
    current_version: int | SkipJsonSchema[None] = Field(
        default=None, description="The ticket's version, after a stale If-Match (412)."
    )


class Health(BaseModel):
    status: str = Field(description='"ok": the function runs.')


class Readiness(BaseModel):
    status: str = Field(description='"ready": the database answers and is migrated.')
    checks: dict[str, str] = Field(description='Each dependency checked: "ok".')


# What each problem status means in this API (the same words on every route that can answer it).
_PROBLEMS: dict[int, str] = {
    400: "Malformed request: a parameter or header that does not fit its schema, a body that is not JSON"
    " (or not UTF-8, or nested deeper than 32 levels), a cursor this API did not issue for this query.",
    401: "No bearer token, or one that is invalid or expired.",
    403: "The caller's roles may not do this (or a token with platform roles carries a tenant).",
    404: "No such ticket, or one the caller may not see (another tenant's ticket is a 404, never a 403).",
    405: "The method is not allowed on this path; Allow lists the methods that are.",
    409: "A conflict with the ticket's state: a transition the lifecycle does not allow (naming the allowed"
    " ones), a frozen ticket, a concurrent change, or a request with the same Idempotency-Key in progress.",
    412: "If-Match names another version than the ticket's current one (current_version says which).",
    413: "The request body is larger than 512 KiB.",
    415: "The request body is not application/json (UTF-8).",
    422: "The body does not fit the schema, or a rule of the ticket's current state (e.g. a reopen needs a"
    " reason), or text with a NUL character or a lone surrogate, or an Idempotency-Key reused with"
    " another request.",
    500: "Something went wrong on the service's side; it has been logged.",
    503: "A dependency (the database) is unavailable or did not answer in time; retry later.",
}
# The same statuses in the words of the routing rules' routes.
RULE_PROBLEMS: dict[int, str] = {
    404: "No such routing rule (or a deleted one).",
    409: "A position another rule holds, the most rules there may be, a concurrent change, or a request"
    " with the same Idempotency-Key in progress.",
    412: "If-Match names another version than the rule's current one (current_version says which).",
    422: "The body does not fit the schema, or text with a NUL character or a lone surrogate, or a"
    " condition the schema cannot judge: a regular expression RE2 cannot compile, nesting deeper than 10"
    " levels, more than 100 field tests or more than 16 KiB as JSON (errors locate each problem inside"
    " the condition); or an Idempotency-Key reused with another request.",
}
# The same statuses in the words of the SLA policies' and calendars' routes.
SLA_CONFIG_PROBLEMS: dict[int, str] = {
    404: "No such SLA policy or calendar.",
    409: "An id or a position another policy holds, a calendar a policy still uses (or the default 24x7),"
    " a concurrent change, or a request with the same Idempotency-Key in progress.",
    412: "If-Match names another version than the current one (current_version says which).",
    422: "The body does not fit the schema, or text with a NUL character or a lone surrogate; a target of"
    " 0 or less, a policy without any target, an unknown calendar; an unknown time zone, overlapping,"
    " empty or malformed working intervals, a date that does not exist, an unknown country or"
    " subdivision (errors locate each problem); or an Idempotency-Key reused with another request.",
}
_PROBLEM_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    405: {
        "Allow": {"description": "The methods the path has.", "required": True, "schema": {"type": "string"}}
    },
}

ETAG: dict[str, Any] = {
    "ETag": {
        "description": 'The ticket\'s version as an entity tag ("3"), for If-Match.',
        "required": True,
        "schema": {"type": "string", "pattern": r'^"[0-9]+"$'},
    }
}
RULE_ETAG: dict[str, Any] = {
    "ETag": {
        **ETAG["ETag"],
        "description": 'The routing rule\'s version as an entity tag ("3"), for If-Match.',
    }
}
WEBHOOK_ETAG: dict[str, Any] = {
    "ETag": {
        **ETAG["ETag"],
        "description": 'The webhook endpoint\'s version as an entity tag ("3"), for If-Match.',
    }
}
CONFIG_ETAG: dict[str, Any] = {
    "ETag": {
        **ETAG["ETag"],
        "description": "The policy's or calendar's version as an entity tag (\"3\"), for If-Match.",
    }
}
LOCATION: dict[str, Any] = {
    "Location": {
        "description": "Where the new resource is read.",
        "required": True,
        "schema": {"type": "string", "format": "uri-reference"},
    }
}
REPLAYED: dict[str, Any] = {
    "Idempotent-Replayed": {
        "description": "Present on the stored response replayed for a repeated Idempotency-Key.",
        "schema": {"type": "string", "enum": ["true"]},
    }
}


def success(
    status: int,
    model: type[BaseModel] | None,
    description: str,
    *,
    headers: dict[str, Any] | None = None,
    links: dict[str, Any] | None = None,
) -> dict[int, OpenAPIResponse]:
    """A success response: its JSON body's model (None: any JSON object), headers and links."""
    content: dict[str, Any] = {"model": model} if model is not None else {"schema": {"type": "object"}}
    response: dict[str, Any] = {"description": description, "content": {JSON: content}}
    if headers:
        response["headers"] = headers
    if links:
        response["links"] = links
    return {status: cast(OpenAPIResponse, response)}


def problems(*statuses: int, meaning: dict[int, str] | None = None) -> dict[int, OpenAPIResponse]:
    """Problem responses (``application/problem+json``, the ``Problem`` schema) for ``statuses``;
    ``meaning`` says what a status means on this route where the usual words are the tickets'."""
    answered: dict[int, OpenAPIResponse] = {}
    for status in sorted(set(statuses)):
        response: dict[str, Any] = {
            "description": (meaning or {}).get(status) or _PROBLEMS[status],
            "content": {PROBLEM_JSON: {"model": Problem}},
        }
        if status in _PROBLEM_HEADERS:
            response["headers"] = _PROBLEM_HEADERS[status]
        answered[status] = cast(OpenAPIResponse, response)
    return answered


# Problem statuses by what a route does, combined on each decorator.
ALWAYS = (400, 500)  # any route: the door refuses a query parameter with a NUL character (400)
AUTHORIZED = (401, 403)  # behind the authorizer
DATABASE = (503,)  # reads the database
WRITES = (409,)  # writes: a concurrent change, a duplicate
BODY = (400, 413, 415, 422)  # takes a JSON body
TICKET = (404,)  # under /tickets/{ticket_id}
INTEGRATION = (404,)  # under /integrations/{integration_id}
# What the integration routes' problems mean (the usual words are the tickets').
INTEGRATION_PROBLEMS: dict[int, str] = {
    403: "The caller's roles may not do this: integrations are read by platform admins and operators and"
    " tenant admins (their tenant's), and changed by platform admins and tenant admins (their tenant's,"
    " without a queue or a rate limit).",
    404: "No such integration, or one the caller may not see (another tenant's is a 404, never a 403).",
    405: "The method is not allowed on this path; Allow lists the methods that are.",
    409: "The integration is revoked: its key cannot be rotated (create a new integration).",
}
WEBHOOK = (404,)  # under /webhooks/{webhook_id}
WEBHOOK_PROBLEMS: dict[int, str] = {
    403: "The caller's roles may not do this: webhook endpoints are read by platform admins and operators"
    " and tenant admins (their tenant's), changed by platform admins and tenant admins (their tenant's),"
    " and quarantined by platform admins and operators.",
    404: "No such webhook endpoint, or one the caller may not see (another tenant's is a 404, never a 403).",
    405: "The method is not allowed on this path; Allow lists the methods that are.",
    409: "The endpoint's state does not allow this (pausing a quarantined or disabled endpoint), a"
    " concurrent change, or a request with the same Idempotency-Key in progress.",
    412: "If-Match names another version than the endpoint's current one (current_version says which).",
    422: "The body does not fit the schema (an unknown event type, ...), or the URL is refused: not https,"
    " credentials in it, or a host that resolves to a loopback, private, link-local, CGNAT, multicast or"
    " metadata address (errors say which); or an Idempotency-Key reused with another request.",
}
DELIVERY_PROBLEMS: dict[int, str] = {
    **WEBHOOK_PROBLEMS,
    403: "The caller's roles may not do this: deliveries are read, retried, replayed and tested by platform"
    " admins and operators, and by tenant admins (their tenant's endpoints).",
    404: "No such webhook endpoint, delivery or replay job, or one the caller may not see (another tenant's"
    " is a 404, never a 403).",
    409: "A concurrent change, or a request with the same Idempotency-Key in progress.",
    422: "The body or a parameter does not fit the schema (since after until, ...), or an Idempotency-Key"
    " reused with another request.",
}
RULE = (404,)  # under /routing-rules/{rule_id}
SLA_CONFIG = (404,)  # under /sla-policies/{policy_id} and /calendars/{calendar_id}
# A ticket_id of "." is a dot segment: the URL a client sends is normalised to a sibling path, and
# where that path has other methods the answer is 405 (POST /tickets/./comments is POST /tickets/comments).
SIBLING_METHODS = (405,)


def ticket_links(
    ticket_id: str, *, reads: tuple[str, ...] = (), changes: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Links from a response that names a ticket to the operations on that ticket (by operationId):
    ``reads`` take its id (``ticket_id``, a runtime expression such as ``$response.body#/id``),
    ``changes`` also its version, the response's ETag, as If-Match."""
    links: dict[str, Any] = {
        operation: {"operationId": operation, "parameters": {"ticket_id": ticket_id}} for operation in reads
    }
    for operation in changes:
        links[operation] = {
            "operationId": operation,
            "parameters": {"ticket_id": ticket_id, "header.If-Match": "$response.header.ETag"},
        }
    return links
