"""The one table of everything that runs: HTTP routes, scheduled functions, queue workers and
operator functions, each with the resources it touches.

Read by the CDK stack (``infra/``), by the local stack (``local/``), by the settings loader
(``shared.config.settings``) and by the OpenAPI generator. Each entry names a folder under
``functions/``; that folder's ``handler.py`` exposes ``handler(event, context)``. Adding a route,
a worker or an operator function is one entry here.

A function *declares* what it touches (``FunctionSettings.resources``): the database, publishing
to the ticket bus, sending to a named worker's queue, a named bucket, SES, a named secret, the
dead-letter queues. Each kind of declaration is mapped once, elsewhere, to its least-privilege
IAM grant and environment variables (``infra/resources.py``), to the local stack's wiring
(``local/aws.py``) and to the settings the function validates on its first invocation
(``shared.config.settings``). Alarms on a function's own metrics are declared here too.

This module is pure data: it imports nothing beyond the standard library, so the stack and the
gateway can read it without loading the domain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# ---- resources a function may touch ------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    """A declaration of something a function touches; ``env_names`` are what it is told by."""

    def env_names(self) -> tuple[str, ...]:
        raise NotImplementedError


@dataclass(frozen=True)
class Database(Resource):
    """PostgreSQL through RDS Proxy as ``ticketing_app`` (VPC, app secret, rds-db:connect)."""

    def env_names(self) -> tuple[str, ...]:
        return ("DB_SECRET_ARN", "DB_HOST", "DB_PORT", "DB_NAME", "DB_SSLMODE")


@dataclass(frozen=True)
class EventBus(Resource):
    """Publishing to the ticket bus (events:PutEvents on it, nothing else)."""

    def env_names(self) -> tuple[str, ...]:
        return ("EVENT_BUS_NAME", "EVENT_SOURCE")


@dataclass(frozen=True)
class Queue(Resource):
    """Sending to a worker's queue (sqs:SendMessage on that queue only)."""

    worker: str  # the QueueWorker's function name

    def env_names(self) -> tuple[str, ...]:
        return (queue_env(self.worker),)


@dataclass(frozen=True)
class Internet(Resource):
    """Reaching the internet (webhook receivers, SES's API): the function runs in the VPC's egress
    subnets, through the NAT gateway, with a security group of its own. Nothing to be told."""

    def env_names(self) -> tuple[str, ...]:
        return ()


@dataclass(frozen=True)
class DeadLetterQueue(Resource):
    """Sending to a worker's dead-letter queue (sqs:SendMessage on that DLQ only): for a worker
    that dead-letters a message itself, with its reason (the webhook dispatcher, once a delivery's
    retries are exhausted), rather than by failing it until SQS moves it."""

    worker: str

    def env_names(self) -> tuple[str, ...]:
        return (dead_letter_env(self.worker),)


@dataclass(frozen=True)
class Bucket(Resource):
    """Reading (and, with ``write``, writing) objects of a named bucket."""

    name: str
    write: bool = False

    def env_names(self) -> tuple[str, ...]:
        return (f"{_env(self.name)}_BUCKET_NAME",)


@dataclass(frozen=True)
class Email(Resource):
    """Sending e-mail with SES from the configured identity, through its configuration set (raw
    messages only), with reply addresses in the configured domain."""

    def env_names(self) -> tuple[str, ...]:
        return ("SES_FROM_ADDRESS", "SES_IDENTITY_ARN", "SES_CONFIGURATION_SET", "EMAIL_REPLY_DOMAIN")


@dataclass(frozen=True)
class Secret(Resource):
    """Reading one named secret (secretsmanager:GetSecretValue on it only)."""

    name: str

    def env_names(self) -> tuple[str, ...]:
        return (f"{_env(self.name)}_SECRET_ARN",)


@dataclass(frozen=True)
class DeadLetterQueues(Resource):
    """Every dead-letter queue of the stack, and putting their messages back where they came from."""

    def env_names(self) -> tuple[str, ...]:
        return ("DEAD_LETTER_QUEUES",)


@dataclass(frozen=True)
class IntakeConfig(Resource):
    """Intake's deployment settings (cdk.json context): the AWS account → tenant map for AWS's own
    events, and the reopen window of flap protection."""

    def env_names(self) -> tuple[str, ...]:
        return ("INTAKE_ACCOUNT_TENANTS", "INTAKE_REOPEN_WINDOW_MINUTES")


@dataclass(frozen=True)
class WebhookConfig(Resource):
    """The rules webhook URLs are vetted by: https required, and the loopback hosts that may be
    delivered to (the local stack and tests only; in AWS none, and https always); and the retry
    schedule of deliveries (seconds between attempts; a local run or a test may shorten it)."""

    def env_names(self) -> tuple[str, ...]:
        return ("WEBHOOK_REQUIRE_HTTPS", "WEBHOOK_ALLOW_LOOPBACK", "WEBHOOK_RETRY_SCHEDULE")


def queue_env(worker: str) -> str:
    """The variable that holds a worker's queue URL (e.g. ``SLA_TIMER_QUEUE_URL``)."""
    return f"{_env(worker)}_QUEUE_URL"


def dead_letter_env(worker: str) -> str:
    """The variable that holds a worker's dead-letter queue URL (e.g. ``WEBHOOK_DISPATCH_DLQ_URL``)."""
    return f"{_env(worker)}_DLQ_URL"


def _env(name: str) -> str:
    return name.upper().replace("-", "_")


# ---- alarms on a function's own metrics ----------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class MetricAlarm:
    """An alarm on a metric the function publishes (namespace ``Ticketing``, dimension ``service``).

    ``id`` is the runbook's section name and the alarm's name suffix (``<stack>-<id>``).
    """

    id: str
    metric: str
    threshold: float
    description: str
    period_minutes: int = 5
    periods: int = 1
    comparison: Literal["gte", "gt"] = "gte"
    statistic: str = "Maximum"


@dataclass(frozen=True, kw_only=True)
class ErrorsAlarm:
    """An alarm on the function's own errors (any error in five minutes)."""

    id: str
    description: str


@dataclass(frozen=True, kw_only=True)
class FunctionSettings:
    """Per-function runtime settings, applied by the stack and honoured by the local stack."""

    memory_mb: int = 512
    timeout_s: int = 10
    reserved_concurrency: int | None = None
    resources: tuple[Resource, ...] = ()
    # Registers the after-response Lambda extension, so that the post-commit publish runs after
    # API Gateway has the response (shared/runtime/after_response.py).
    after_response: bool = False

    @property
    def uses_database(self) -> bool:
        return any(isinstance(r, Database) for r in self.resources)

    def declared(self, kind: type[Resource]) -> list[Resource]:
        return [r for r in self.resources if isinstance(r, kind)]


@dataclass(frozen=True, kw_only=True)
class FunctionSpec:
    function: str  # folder under functions/
    summary: str
    settings: FunctionSettings = field(default_factory=FunctionSettings)
    # Alarms on metrics the function publishes, and on its errors.
    alarms: tuple[MetricAlarm, ...] = ()
    errors_alarm: ErrorsAlarm | None = None
    # The stack output that names the deployed function, for the runbook (e.g. OutboxRelayFunctionName).
    output: str | None = None


@dataclass(frozen=True, kw_only=True)
class Route(FunctionSpec):
    method: str
    path: str  # API Gateway resource path, e.g. /tickets/{ticket_id}
    # False only for health checks and POST /v2/enqueue (its routing key authenticates each event):
    # everything else goes through the authorizer. ``no_auth_reason`` says why (cdk-nag).
    auth: bool = True
    no_auth_reason: str = "a health check: probes call it without credentials"


@dataclass(frozen=True, kw_only=True)
class ScheduledFunction(FunctionSpec):
    schedule: str  # EventBridge schedule expression


@dataclass(frozen=True, kw_only=True)
class BusRule:
    """An EventBridge rule that feeds a worker's queue.

    ``bus`` is ``"ticket"`` (the service's own bus, where platform services publish) or
    ``"default"`` (the account's default bus, where AWS services publish). When
    ``sources_context`` names a cdk.json context key, the pattern's ``source`` is that list
    (the stack reads it; the local stack reads cdk.json), else ``pattern`` as written.
    """

    id: str
    bus: Literal["ticket", "default"]
    pattern: dict[str, list[str]] = field(default_factory=dict, hash=False)
    sources_context: str | None = None


@dataclass(frozen=True, kw_only=True)
class QueueAgeAlarm:
    """An alarm on the age of the oldest message of the worker's queue (its lag)."""

    id: str
    seconds: int
    description: str
    periods: int = 3


@dataclass(frozen=True, kw_only=True)
class QueueWorker(FunctionSpec):
    """A Lambda fed by its own SQS queue (with a DLQ), reporting partial batch failures."""

    batch_size: int = 10
    max_receive_count: int = 5
    # EventBridge rules that feed the queue (none: only the service sends to it).
    rules: tuple[BusRule, ...] = ()
    lag_alarm: QueueAgeAlarm | None = None


@dataclass(frozen=True, kw_only=True)
class OperatorFunction(FunctionSpec):
    """A function only operators invoke (``aws lambda invoke``), deployed under a fixed name:
    ``<functionNamePrefix>-<name>``, e.g. ``ticketing-replay-dlq``, so the runbook's commands
    work as written."""

    name: str


# The SLA timer queue: every function that can move a ticket's SLA clocks sends to it (a step due
# within 15 minutes is enqueued in the change's transaction), and so registers the SLA engine's
# listener on the ticket service (shared.runtime.entrypoints.init_phase).
SLA_TIMER = "sla_timer"
SLA_TIMER_QUEUE = Queue(worker=SLA_TIMER)
# The webhook queue: the dispatcher's. Every function that publishes to the ticket bus sends a copy
# of each event a webhook may carry to it (the outbox's bus publisher, after commit and from the
# relay), and the dispatcher sends itself each delivery's attempts (delayed up to 15 minutes).
WEBHOOK_DISPATCH = "webhook_dispatch"
WEBHOOK_QUEUE = Queue(worker=WEBHOOK_DISPATCH)
# The e-mail notifications: the notify worker (its queue fed by a rule on the ticket bus) and the
# SES feedback worker (its queue subscribed to the configuration set's bounce and complaint topic:
# infra/email.py, local/aws.py).
NOTIFY = "notify"
EMAIL_FEEDBACK = "email_feedback"
# The source of the service's own events on the ticket bus (infra.functions.SERVICE_NAME).
SERVICE_EVENT_SOURCE = "ticketing"
# Publishing to the ticket bus: EventBridge, and the webhook queue's copy.
BUS: tuple[Resource, ...] = (EventBus(), WEBHOOK_QUEUE)

_LIGHT = FunctionSettings(memory_mb=256, timeout_s=5)
_READ = FunctionSettings(memory_mb=512, timeout_s=10, resources=(Database(),))
# Configuration (routing rules): read and written in the database only; no events to publish.
_CONFIG = FunctionSettings(memory_mb=512, timeout_s=10, resources=(Database(),))
_SEARCH = FunctionSettings(memory_mb=1024, timeout_s=15, resources=(Database(),))
_WRITE = FunctionSettings(
    memory_mb=512, timeout_s=15, resources=(Database(), *BUS, SLA_TIMER_QUEUE), after_response=True
)
_CONFIGURE = FunctionSettings(memory_mb=512, timeout_s=10, resources=(Database(),))
# Setting a webhook URL resolves its host and vets every address (VPC egress to DNS).
_WEBHOOK_URLS = FunctionSettings(memory_mb=512, timeout_s=10, resources=(Database(), WebhookConfig()))
# Retrying, replaying, testing and resuming send the dispatcher its work (after commit).
_WEBHOOK_SEND = FunctionSettings(
    memory_mb=512, timeout_s=10, resources=(Database(), WEBHOOK_QUEUE), after_response=True
)

ROUTES: tuple[Route, ...] = (
    Route(method="GET", path="/healthz", function="healthz", summary="Liveness", auth=False, settings=_LIGHT),
    Route(
        method="GET",
        path="/readyz",
        function="readyz",
        summary="Readiness (checks the database)",
        auth=False,
        settings=FunctionSettings(memory_mb=256, timeout_s=5, resources=(Database(),)),
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
            memory_mb=512,
            timeout_s=15,
            resources=(Database(), *BUS, SLA_TIMER_QUEUE),
            after_response=True,
            reserved_concurrency=50,
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
    Route(
        method="GET",
        path="/tickets/{ticket_id}/occurrences",
        function="list_occurrences",
        summary="A ticket's occurrence log",
        settings=_READ,
    ),
    # Watchers and notification preferences (issue 12 §6): the e-mails the notify worker sends.
    Route(
        method="GET",
        path="/tickets/{ticket_id}/watchers",
        function="list_watchers",
        summary="A ticket's watchers",
        settings=_READ,
    ),
    Route(
        method="POST",
        path="/tickets/{ticket_id}/watchers",
        function="add_watcher",
        summary="Watch a ticket",
        settings=_CONFIGURE,
    ),
    Route(
        method="DELETE",
        path="/tickets/{ticket_id}/watchers",
        function="remove_watcher",
        summary="Stop watching a ticket",
        settings=_CONFIGURE,
    ),
    Route(
        method="GET",
        path="/me/notification-preferences",
        function="get_notification_preferences",
        summary="Your e-mail notification preferences",
        settings=_READ,
    ),
    Route(
        method="PUT",
        path="/me/notification-preferences",
        function="put_notification_preferences",
        summary="Replace your e-mail notification preferences",
        settings=_CONFIGURE,
    ),
    Route(
        method="GET",
        path="/intake/rejections",
        function="list_intake_rejections",
        summary="Events intake refused",
        settings=_READ,
    ),
    Route(
        method="POST",
        path="/v2/enqueue",
        function="enqueue",
        summary="Send an event (PagerDuty Events API v2)",
        auth=False,
        no_auth_reason="the PagerDuty Events API v2: the routing key in the body authenticates each event"
        " (checked against its stored hash), as monitoring tools send it",
        settings=FunctionSettings(
            memory_mb=512,
            timeout_s=10,
            resources=(Database(), Queue(worker="intake")),
            after_response=True,
            # Unauthenticated: a flood of bad keys may not take every database connection.
            reserved_concurrency=50,
        ),
    ),
    Route(
        method="POST",
        path="/integrations",
        function="create_integration",
        summary="Create an integration and its routing key",
        settings=_CONFIGURE,
    ),
    Route(
        method="GET",
        path="/integrations",
        function="list_integrations",
        summary="List integrations",
        settings=_READ,
    ),
    Route(
        method="GET",
        path="/integrations/{integration_id}",
        function="get_integration",
        summary="Read one integration",
        settings=_READ,
    ),
    Route(
        method="DELETE",
        path="/integrations/{integration_id}",
        function="revoke_integration",
        summary="Revoke an integration's routing key",
        settings=_CONFIGURE,
    ),
    Route(
        method="POST",
        path="/integrations/{integration_id}/rotate-key",
        function="rotate_integration_key",
        summary="Replace an integration's routing key",
        settings=_CONFIGURE,
    ),
    # Outbound webhook endpoints (platform admins: any; tenant admins: their tenant's; operators
    # read and quarantine). Each change is in the configuration log, in the same transaction.
    Route(
        method="POST",
        path="/webhooks",
        function="create_webhook",
        summary="Register a webhook endpoint (its signing secret shown once)",
        settings=_WEBHOOK_URLS,
    ),
    Route(
        method="GET",
        path="/webhooks",
        function="list_webhooks",
        summary="List webhook endpoints",
        settings=_CONFIGURE,
    ),
    Route(
        method="GET",
        path="/webhooks/{webhook_id}",
        function="get_webhook",
        summary="Read one webhook endpoint",
        settings=_CONFIGURE,
    ),
    Route(
        method="PATCH",
        path="/webhooks/{webhook_id}",
        function="update_webhook",
        summary="Change a webhook endpoint (If-Match on its version)",
        settings=_WEBHOOK_URLS,
    ),
    Route(
        method="DELETE",
        path="/webhooks/{webhook_id}",
        function="delete_webhook",
        summary="Delete a webhook endpoint",
        settings=_CONFIGURE,
    ),
    Route(
        method="POST",
        path="/webhooks/{webhook_id}/rotate-secret",
        function="rotate_webhook_secret",
        summary="Replace an endpoint's signing secret (the old one signs for 24 hours more)",
        settings=_CONFIGURE,
    ),
    Route(
        method="POST",
        path="/webhooks/{webhook_id}/pause",
        function="pause_webhook",
        summary="Pause deliveries to an endpoint (they wait)",
        settings=_CONFIGURE,
    ),
    Route(
        method="POST",
        path="/webhooks/{webhook_id}/resume",
        function="resume_webhook",
        summary="Re-enable an endpoint (waiting deliveries go out)",
        settings=_WEBHOOK_SEND,
    ),
    Route(
        method="POST",
        path="/webhooks/{webhook_id}/quarantine",
        function="quarantine_webhook",
        summary="Quarantine an endpoint, with a reason its owner sees (operators)",
        settings=_CONFIGURE,
    ),
    Route(
        method="POST",
        path="/webhooks/{webhook_id}/test",
        function="test_webhook",
        summary="Send an endpoint a webhook.test event",
        settings=_WEBHOOK_SEND,
    ),
    # The delivery log (30 days), retrying one delivery, replaying a range as a background job.
    Route(
        method="GET",
        path="/webhooks/{webhook_id}/deliveries",
        function="list_webhook_deliveries",
        summary="An endpoint's deliveries, with their attempts (newest first)",
        settings=_CONFIGURE,
    ),
    Route(
        method="GET",
        path="/webhooks/{webhook_id}/deliveries/{delivery_id}",
        function="get_webhook_delivery",
        summary="One delivery, with its attempts and its body",
        settings=_CONFIGURE,
    ),
    Route(
        method="POST",
        path="/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
        function="retry_webhook_delivery",
        summary="Send one delivery again (same webhook-id)",
        settings=_WEBHOOK_SEND,
    ),
    Route(
        method="POST",
        path="/webhooks/{webhook_id}/replay",
        function="replay_webhook",
        summary="Send again an endpoint's deliveries of a time range (a background job)",
        settings=_WEBHOOK_SEND,
    ),
    Route(
        method="GET",
        path="/webhooks/{webhook_id}/replays/{job_id}",
        function="get_webhook_replay",
        summary="A replay job's progress",
        settings=_CONFIGURE,
    ),
    # Routing rules (platform roles read them, platform admins write them). Rule changes publish
    # no events: the configuration log in the same transaction is their record.
    Route(
        method="GET",
        path="/routing-rules",
        function="list_routing_rules",
        summary="The routing rules, in order",
        settings=_CONFIG,
    ),
    Route(
        method="POST",
        path="/routing-rules",
        function="create_routing_rule",
        summary="Add a routing rule",
        settings=_CONFIG,
    ),
    Route(
        method="POST",
        path="/routing-rules/test",
        function="test_routing_rules",
        summary="Try the routing rules on a sample (dry run)",
        settings=_CONFIG,
    ),
    Route(
        method="GET",
        path="/routing-rules/{rule_id}",
        function="get_routing_rule",
        summary="Read one routing rule",
        settings=_CONFIG,
    ),
    Route(
        method="PUT",
        path="/routing-rules/{rule_id}",
        function="replace_routing_rule",
        summary="Replace a routing rule (If-Match on its version)",
        settings=_CONFIG,
    ),
    Route(
        method="DELETE",
        path="/routing-rules/{rule_id}",
        function="delete_routing_rule",
        summary="Delete a routing rule",
        settings=_CONFIG,
    ),
    # SLA policies and business calendars (platform roles read them, platform admins write them);
    # each change is in the configuration log, in the same transaction.
    Route(
        method="GET",
        path="/sla-policies",
        function="list_sla_policies",
        summary="The SLA policies, in order",
        settings=_CONFIG,
    ),
    Route(
        method="POST",
        path="/sla-policies",
        function="create_sla_policy",
        summary="Add an SLA policy",
        settings=_CONFIG,
    ),
    Route(
        method="GET",
        path="/sla-policies/{policy_id}",
        function="get_sla_policy",
        summary="Read one SLA policy",
        settings=_CONFIG,
    ),
    Route(
        method="PUT",
        path="/sla-policies/{policy_id}",
        function="replace_sla_policy",
        summary="Replace an SLA policy (If-Match on its version)",
        settings=_CONFIG,
    ),
    Route(
        method="DELETE",
        path="/sla-policies/{policy_id}",
        function="delete_sla_policy",
        summary="Delete an SLA policy",
        settings=_CONFIG,
    ),
    Route(
        method="GET",
        path="/calendars",
        function="list_calendars",
        summary="The business calendars",
        settings=_CONFIG,
    ),
    Route(
        method="POST",
        path="/calendars",
        function="create_calendar",
        summary="Add a business calendar",
        settings=_CONFIG,
    ),
    Route(
        method="GET",
        path="/calendars/{calendar_id}",
        function="get_calendar",
        summary="Read one calendar",
        settings=_CONFIG,
    ),
    Route(
        method="PUT",
        path="/calendars/{calendar_id}",
        function="replace_calendar",
        summary="Replace a calendar (If-Match on its version)",
        settings=_CONFIG,
    ),
    Route(
        method="DELETE",
        path="/calendars/{calendar_id}",
        function="delete_calendar",
        summary="Delete a calendar",
        settings=_CONFIG,
    ),
)

OUTBOX_LAG_SECONDS = 300

SCHEDULED: tuple[ScheduledFunction, ...] = (
    ScheduledFunction(
        function="outbox_relay",
        schedule="rate(1 minute)",
        summary="Publish outbox rows left behind; purge expired idempotency keys and old rows",
        settings=FunctionSettings(
            memory_mb=512,
            timeout_s=60,
            reserved_concurrency=1,
            # Every destination an outbox row may name: the bus and each worker's queue.
            resources=(
                Database(),
                *BUS,
                Queue(worker="intake"),
                SLA_TIMER_QUEUE,
                DeadLetterQueue(worker=WEBHOOK_DISPATCH),
            ),
        ),
        alarms=(
            MetricAlarm(
                id="OutboxLag",
                metric="OutboxLagSeconds",
                threshold=OUTBOX_LAG_SECONDS,
                period_minutes=1,
                periods=5,
                comparison="gt",
                description=f"Oldest unpublished outbox row older than {OUTBOX_LAG_SECONDS} s for 5 minutes"
                " (runbook: outbox lag).",
            ),
            MetricAlarm(
                id="OutboxParked",
                metric="OutboxParked",
                threshold=1,
                description="Outbox rows EventBridge refused again and again (or could never take) are parked"
                " and not published (runbook: outbox parked).",
            ),
        ),
        errors_alarm=ErrorsAlarm(
            id="OutboxRelayErrors", description="The outbox relay raised errors (runbook: outbox lag)."
        ),
        output="OutboxRelayFunctionName",
    ),
    ScheduledFunction(
        function="audit_verify",
        schedule="rate(1 day)",
        summary="Verify the audit trail's hash chains of tickets changed in the last 25 h; on demand, any",
        settings=FunctionSettings(
            memory_mb=512, timeout_s=300, reserved_concurrency=1, resources=(Database(),)
        ),
        alarms=(
            MetricAlarm(
                id="AuditChainBroken",
                metric="AuditChainsBroken",
                threshold=1,
                description="The audit verification found a broken hash chain: audit rows were changed or"
                " removed outside the service (runbook: audit chain broken).",
            ),
        ),
        errors_alarm=ErrorsAlarm(
            id="AuditVerifyErrors",
            description="The audit verification raised errors (runbook: audit chain broken).",
        ),
        output="AuditVerifyFunctionName",
    ),
    ScheduledFunction(
        function="intake_sweep",
        schedule="rate(1 minute)",
        summary="Report occurrences a quiet minute left unreported (one Occurrences Added event per ticket)",
        settings=FunctionSettings(
            memory_mb=256, timeout_s=60, reserved_concurrency=1, resources=(Database(), *BUS)
        ),
        errors_alarm=ErrorsAlarm(
            id="IntakeSweepErrors", description="The intake sweeper raised errors (runbook: intake lag)."
        ),
    ),
    ScheduledFunction(
        function="sla_sweep",
        schedule="rate(1 minute)",
        summary="Enqueue SLA timer steps due within 15 minutes; measure the steps overdue",
        settings=FunctionSettings(
            memory_mb=256,
            timeout_s=60,
            reserved_concurrency=1,
            resources=(Database(), SLA_TIMER_QUEUE),
        ),
        alarms=(
            MetricAlarm(
                id="SlaTimerOverdue",
                metric="SlaStepsOverdue",
                threshold=1,
                period_minutes=1,
                periods=2,
                description="SLA steps more than 2 minutes past due and unfired: breaches and escalations are"
                " late (runbook: SLA Timer Failure).",
            ),
        ),
        errors_alarm=ErrorsAlarm(
            id="SlaSweepErrors", description="The SLA sweeper raised errors (runbook: SLA Timer Failure)."
        ),
        output="SlaSweepFunctionName",
    ),
    ScheduledFunction(
        function="webhook_sweep",
        schedule="rate(1 minute)",
        summary="Enqueue webhook retries due within 15 minutes; disable endpoints failing for 5 days;"
        " forget deliveries after 30 days",
        settings=FunctionSettings(
            memory_mb=256,
            timeout_s=60,
            reserved_concurrency=1,
            resources=(Database(), *BUS),
        ),
        alarms=(
            MetricAlarm(
                id="WebhookRetriesOverdue",
                metric="WebhookDeliveriesOverdue",
                threshold=1,
                period_minutes=1,
                periods=5,
                description="Webhook attempts more than 2 minutes past due for 5 minutes: the dispatcher is"
                " not keeping up, or its messages are lost (runbook: Webhook Failures).",
            ),
        ),
        errors_alarm=ErrorsAlarm(
            id="WebhookSweepErrors",
            description="The webhook sweeper raised errors (runbook: Webhook Failures).",
        ),
        output="WebhookSweepFunctionName",
    ),
)

# AWS's own events that intake takes from the account's default bus (shared/intake/sources.py).
AWS_INTAKE_PATTERN: dict[str, list[str]] = {
    "source": ["aws.cloudwatch", "aws.securityhub", "aws.guardduty", "aws.health"],
    "detail-type": [
        "CloudWatch Alarm State Change",
        "Security Hub Findings - Imported",
        "GuardDuty Finding",
        "AWS Health Event",
    ],
}
INTAKE_LAG_SECONDS = 300
# The runbook's name for failed webhook attempts (an EMF metric of the dispatcher), and how many
# failed attempts in five minutes page.
WEBHOOK_FAIL_METRIC = "ticket_webhook_out_fail_total"
WEBHOOK_FAILURES_PER_5_MIN = 20
# Tickets opened for one fingerprint within an hour at which deduplication is not doing its job.
DEDUP_TICKETS_PER_HOUR = 5

# Queue-fed workers. Later issues (SLA timers, webhooks) add one entry each.
WORKERS: tuple[QueueWorker, ...] = (
    QueueWorker(
        function="intake",
        summary="Turn platform events, AWS's own events and /v2/enqueue calls into deduplicated incidents",
        settings=FunctionSettings(
            memory_mb=512, timeout_s=60, resources=(Database(), *BUS, IntakeConfig(), SLA_TIMER_QUEUE)
        ),
        batch_size=10,
        max_receive_count=5,
        rules=(
            BusRule(id="PlatformEvents", bus="ticket", sources_context="platformEventSources"),
            BusRule(id="AwsEvents", bus="default", pattern=AWS_INTAKE_PATTERN),
        ),
        lag_alarm=QueueAgeAlarm(
            id="IntakeLag",
            seconds=INTAKE_LAG_SECONDS,
            description=f"The oldest message on the intake queue is older than {INTAKE_LAG_SECONDS} s for"
            " 15 minutes: machine events are not becoming tickets (runbook: intake lag).",
        ),
        alarms=(
            MetricAlarm(
                id="IntakeRejections",
                metric="IntakeRejected",
                threshold=1,
                statistic="Sum",
                description="Intake refused events that do not fit their schema; they are recorded, not"
                " retried (runbook: intake rejections).",
            ),
            MetricAlarm(
                id="DedupDisabled",
                metric="FingerprintTicketsPerHour",
                threshold=DEDUP_TICKETS_PER_HOUR,
                description=f"{DEDUP_TICKETS_PER_HOUR} or more tickets opened for one fingerprint within an"
                " hour: deduplication is not holding (runbook: dedup disabled).",
            ),
        ),
        errors_alarm=ErrorsAlarm(
            id="IntakeErrors",
            description="The intake worker raised errors: records are retried and may reach its DLQ"
            " (runbook: intake lag).",
        ),
        output="IntakeFunctionName",
    ),
    QueueWorker(
        function=SLA_TIMER,
        summary="Fire SLA steps (at risk, breach, escalations) once each, when they come due",
        settings=FunctionSettings(memory_mb=512, timeout_s=60, resources=(Database(), *BUS, SLA_TIMER_QUEUE)),
        batch_size=10,
        max_receive_count=5,
        lag_alarm=QueueAgeAlarm(
            id="SlaTimerLag",
            # A message waits out its delay before it is visible; the age counts from sending, so
            # the threshold sits above SQS's longest delay (15 minutes).
            seconds=1200,
            description="The oldest SLA timer message is older than 20 minutes for 15 minutes: steps are"
            " firing late (runbook: SLA Timer Failure).",
        ),
        errors_alarm=ErrorsAlarm(
            id="SlaTimerErrors",
            description="The SLA timer worker raised errors: messages are retried and may reach its DLQ"
            " (runbook: SLA Timer Failure).",
        ),
        output="SlaTimerFunctionName",
    ),
    QueueWorker(
        function=WEBHOOK_DISPATCH,
        summary="Fan ticket events out to webhook endpoints; sign and POST each delivery, retry it on"
        " the published schedule, dead-letter it when the schedule is exhausted",
        settings=FunctionSettings(
            # A batch's records run side by side (one slow endpoint holds one thread, not the
            # batch); an attempt takes at most 15 s.
            memory_mb=512,
            timeout_s=90,
            resources=(
                Database(),
                *BUS,
                DeadLetterQueue(worker=WEBHOOK_DISPATCH),
                WebhookConfig(),
                Internet(),
            ),
        ),
        batch_size=10,
        max_receive_count=5,
        lag_alarm=QueueAgeAlarm(
            id="WebhookQueueLag",
            # Retries wait on the queue up to 15 minutes (their delay): the age counts from sending.
            seconds=1200,
            description="The oldest message on the webhook queue is older than 20 minutes for 15"
            " minutes: deliveries are late (runbook: Webhook Failures).",
        ),
        alarms=(
            MetricAlarm(
                id="WebhookFailures",
                metric=WEBHOOK_FAIL_METRIC,
                threshold=WEBHOOK_FAILURES_PER_5_MIN,
                statistic="Sum",
                description=f"{WEBHOOK_FAILURES_PER_5_MIN} or more webhook attempts failed in 5 minutes"
                " (ticket_webhook_out_fail_total; runbook: Webhook Failures).",
            ),
        ),
        errors_alarm=ErrorsAlarm(
            id="WebhookDispatchErrors",
            description="The webhook dispatcher raised errors: messages are retried and may reach its DLQ"
            " (runbook: Webhook Failures).",
        ),
        output="WebhookDispatchFunctionName",
    ),
    QueueWorker(
        function=NOTIFY,
        summary="E-mail the requester, assignee and watchers of a ticket about its events (SES)",
        settings=FunctionSettings(memory_mb=512, timeout_s=60, resources=(Database(), Email(), Internet())),
        batch_size=10,
        max_receive_count=5,
        rules=(
            BusRule(
                id="TicketEvents",
                bus="ticket",
                pattern={
                    "source": [SERVICE_EVENT_SOURCE],
                    "detail-type": [
                        "Ticket Created",
                        "Ticket Comment Added",
                        "Ticket State Changed",
                        "SLA At Risk",
                        "SLA Breached",
                        "Webhook Endpoint Disabled",
                    ],
                },
            ),
        ),
        lag_alarm=QueueAgeAlarm(
            id="NotifyLag",
            seconds=600,
            description="The oldest ticket event waiting for e-mail is older than 10 minutes for 15 minutes:"
            " notifications are late (runbook: E-mail Failures).",
        ),
        alarms=(
            MetricAlarm(
                id="EmailsFailed",
                metric="EmailsFailed",
                threshold=1,
                statistic="Sum",
                description="SES refused notification e-mails (runbook: E-mail Failures).",
            ),
        ),
        errors_alarm=ErrorsAlarm(
            id="NotifyErrors",
            description="The notify worker raised errors: events are retried and may reach its DLQ"
            " (runbook: E-mail Failures).",
        ),
        output="NotifyFunctionName",
    ),
    QueueWorker(
        function=EMAIL_FEEDBACK,
        summary="Suppress the addresses SES reports as bouncing or complaining",
        settings=FunctionSettings(memory_mb=256, timeout_s=30, resources=(Database(),)),
        batch_size=10,
        max_receive_count=5,
        errors_alarm=ErrorsAlarm(
            id="EmailFeedbackErrors",
            description="The SES feedback worker raised errors (runbook: E-mail Failures).",
        ),
        output="EmailFeedbackFunctionName",
    ),
)

# Functions only operators invoke, under fixed names (runbook.md).
OPERATORS: tuple[OperatorFunction, ...] = (
    OperatorFunction(
        function="replay_dlq",
        name="replay-dlq",
        summary="Move the messages of every dead-letter queue back to their source queue or function",
        settings=FunctionSettings(
            memory_mb=256, timeout_s=300, reserved_concurrency=1, resources=(DeadLetterQueues(),)
        ),
        errors_alarm=ErrorsAlarm(
            id="ReplayDlqErrors", description="The dead-letter replay raised errors (runbook: dead letters)."
        ),
        output="ReplayDlqFunctionName",
    ),
    OperatorFunction(
        function="backfill_sla_timers",
        name="backfill-sla-timers",
        summary="Fire now the SLA steps of a past window (default: the last 2 hours) that never fired",
        settings=FunctionSettings(
            memory_mb=512,
            timeout_s=300,
            reserved_concurrency=1,
            resources=(Database(), *BUS, SLA_TIMER_QUEUE),
        ),
        errors_alarm=ErrorsAlarm(
            id="SlaBackfillErrors",
            description="The SLA timer backfill raised errors (runbook: SLA Timer Failure).",
        ),
        output="BackfillSlaTimersFunctionName",
    ),
    OperatorFunction(
        function="sla_repair",
        name="sla-repair",
        summary="Recompute SLA clocks from tickets' audit trails (after a policy or calendar was corrected)",
        settings=FunctionSettings(
            memory_mb=512,
            timeout_s=300,
            reserved_concurrency=1,
            resources=(Database(), *BUS, SLA_TIMER_QUEUE),
        ),
        errors_alarm=ErrorsAlarm(
            id="SlaRepairErrors", description="The SLA repair raised errors (runbook: SLA repair)."
        ),
        output="SlaRepairFunctionName",
    ),
    OperatorFunction(
        function="sent_emails",
        name="sent-emails",
        summary="The notification e-mails sent (ids, recipients, statuses, SES Message-IDs; never content)",
        settings=FunctionSettings(
            memory_mb=256, timeout_s=30, reserved_concurrency=1, resources=(Database(),)
        ),
        output="SentEmailsFunctionName",
    ),
)

# Functions the stack deploys besides these tables (the authorizer, the migration custom resource).
AUTHORIZER_FUNCTION = "authorizer"
MIGRATE_FUNCTION = "migrate"


def all_specs() -> list[FunctionSpec]:
    return [*ROUTES, *SCHEDULED, *WORKERS, *OPERATORS]


def all_function_names() -> list[str]:
    names = list(dict.fromkeys(spec.function for spec in all_specs()))
    return [*names, AUTHORIZER_FUNCTION, MIGRATE_FUNCTION]


def find(function: str) -> FunctionSpec | None:
    """The first entry for a function folder (a route function serves one route)."""
    return next((spec for spec in all_specs() if spec.function == function), None)


def find_route(method: str, path_template: str) -> Route | None:
    for route in ROUTES:
        if route.method == method and route.path == path_template:
            return route
    return None
