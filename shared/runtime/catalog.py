"""The one table of everything that runs: HTTP routes, scheduled functions and queue workers.

Read by the CDK stack (``infra/``), by the local gateway (``local/``) and by the OpenAPI
generator. Each entry names a folder under ``functions/``; that folder's ``handler.py``
exposes ``handler(event, context)``. Adding a route or a worker is one entry here.

This module is pure data: it imports nothing beyond the standard library, so the stack and
the gateway can read it without loading the domain.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class FunctionSettings:
    """Per-function runtime settings, applied by the stack and honoured by the local stack."""

    memory_mb: int = 512
    timeout_s: int = 10
    reserved_concurrency: int | None = None
    # Whether the function connects to PostgreSQL (it then runs in the VPC and gets the DB secret).
    uses_database: bool = True
    # Whether the function publishes ticket events to the bus (outbox flush after commit).
    publishes_events: bool = False
    # Whether the function registers the after-response Lambda extension, so that its post-commit
    # publish runs after API Gateway has the response (shared/after_response.py).
    after_response: bool = False


@dataclass(frozen=True, kw_only=True)
class Route:
    method: str
    path: str  # API Gateway resource path, e.g. /tickets/{ticket_id}
    function: str  # folder under functions/
    summary: str
    auth: bool = True  # False only for health checks: everything else goes through the authorizer
    settings: FunctionSettings = field(default_factory=FunctionSettings)


@dataclass(frozen=True, kw_only=True)
class ScheduledFunction:
    function: str
    schedule: str  # EventBridge schedule expression
    summary: str
    settings: FunctionSettings = field(default_factory=FunctionSettings)


@dataclass(frozen=True, kw_only=True)
class QueueWorker:
    """A Lambda fed by its own SQS queue (with a DLQ), reporting partial batch failures."""

    function: str
    summary: str
    batch_size: int = 10
    max_receive_count: int = 5
    # Optional EventBridge pattern: when set, a rule on the ticket bus feeds the queue.
    event_pattern: dict[str, list[str]] | None = None
    settings: FunctionSettings = field(default_factory=FunctionSettings)


_WRITE = FunctionSettings(memory_mb=512, timeout_s=15, publishes_events=True, after_response=True)
_READ = FunctionSettings(memory_mb=512, timeout_s=10)
_SEARCH = FunctionSettings(memory_mb=1024, timeout_s=15)
_LIGHT = FunctionSettings(memory_mb=256, timeout_s=5, uses_database=False)

ROUTES: tuple[Route, ...] = (
    Route(method="GET", path="/healthz", function="healthz", summary="Liveness", auth=False, settings=_LIGHT),
    Route(
        method="GET",
        path="/readyz",
        function="readyz",
        summary="Readiness (checks the database)",
        auth=False,
        settings=FunctionSettings(memory_mb=256, timeout_s=5),
    ),
    Route(
        method="GET",
        path="/openapi.json",
        function="openapi",
        summary="The OpenAPI document",
        settings=_LIGHT,
    ),
    Route(
        method="POST",
        path="/tickets",
        function="create_ticket",
        summary="Open a ticket",
        settings=FunctionSettings(
            memory_mb=512, timeout_s=15, publishes_events=True, after_response=True, reserved_concurrency=50
        ),
    ),
    Route(
        method="GET",
        path="/tickets",
        function="list_tickets",
        summary="Search and list tickets",
        settings=_SEARCH,
    ),
    Route(
        method="GET",
        path="/tickets/{ticket_id}",
        function="get_ticket",
        summary="Read one ticket by id or key",
        settings=_READ,
    ),
    Route(
        method="PATCH",
        path="/tickets/{ticket_id}",
        function="update_ticket",
        summary="Change a ticket's fields (If-Match on its version)",
        settings=_WRITE,
    ),
    Route(
        method="POST",
        path="/tickets/{ticket_id}/transitions",
        function="transition_ticket",
        summary="Move a ticket through its lifecycle",
        settings=_WRITE,
    ),
    Route(
        method="POST",
        path="/tickets/{ticket_id}/comments",
        function="add_comment",
        summary="Comment on a ticket",
        settings=_WRITE,
    ),
    Route(
        method="GET",
        path="/tickets/{ticket_id}/comments",
        function="list_comments",
        summary="A ticket's comments",
        settings=_READ,
    ),
    Route(
        method="GET",
        path="/tickets/{ticket_id}/events",
        function="list_events",
        summary="A ticket's audit trail",
        settings=_READ,
    ),
)

SCHEDULED: tuple[ScheduledFunction, ...] = (
    ScheduledFunction(
        function="outbox_relay",
        schedule="rate(1 minute)",
        summary="Publish outbox rows left behind; purge expired idempotency keys",
        settings=FunctionSettings(memory_mb=512, timeout_s=60, reserved_concurrency=1, publishes_events=True),
    ),
    ScheduledFunction(
        function="audit_verify",
        schedule="rate(1 day)",
        summary="Verify the audit trail's hash chains of tickets changed in the last 25 h; on demand, any",
        settings=FunctionSettings(memory_mb=512, timeout_s=300, reserved_concurrency=1),
    ),
)

# Queue-fed workers. Later issues (intake, SLA timers, webhooks) add one entry each.
WORKERS: tuple[QueueWorker, ...] = ()

# Functions the stack deploys that are neither routes nor scheduled (custom resources, operators).
AUTHORIZER_FUNCTION = "authorizer"
MIGRATE_FUNCTION = "migrate"


def all_function_names() -> list[str]:
    names = [r.function for r in ROUTES] + [s.function for s in SCHEDULED] + [w.function for w in WORKERS]
    return [*names, AUTHORIZER_FUNCTION, MIGRATE_FUNCTION]


def find_route(method: str, path_template: str) -> Route | None:
    for route in ROUTES:
        if route.method == method and route.path == path_template:
            return route
    return None
