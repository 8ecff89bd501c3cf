"""What each kind of declared resource means for a function: its least-privilege grant and the
environment variables that tell it where the resource is.

``shared.runtime.catalog`` says what a function touches (``FunctionSettings.resources``); this
module is the one place that turns each kind of declaration into IAM and configuration. The
stack binds every function's declarations once all resources exist (a function may send to a
queue declared by a worker built later), so nothing here depends on construction order. The
local stack gives the same variables their local values (``local/aws.py``), and the function
validates them on its first invocation (``shared.config.settings``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from aws_cdk import Names, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs

from infra.database import APP_USER, DB_NAME, DB_PORT, Database
from infra.functions import TicketingFunction
from infra.nag import acknowledge
from shared.runtime import catalog


@dataclass(frozen=True)
class DeadLetterSource:
    """A dead-letter queue and where its messages came from: a queue (redrive back to it) or a
    function's asynchronous invocations (the schedule's target; replay invokes it again)."""

    name: str
    dlq: sqs.IQueue
    queue: sqs.IQueue | None = None
    function: TicketingFunction | None = None


@dataclass(frozen=True)
class EmailSending:
    """Where e-mail is sent from (``infra.email``)."""

    from_address: str
    identity_arn: str
    configuration_set: str
    configuration_set_arn: str
    reply_domain: str | None = None


@dataclass
class ResourceContext:
    """Everything a declaration may refer to, filled in as the stack builds it."""

    database: Database
    bus: events.IEventBus
    event_source: str
    queues: dict[str, sqs.IQueue] = field(default_factory=dict)  # worker function → its queue
    buckets: dict[str, s3.IBucket] = field(default_factory=dict)
    secrets: dict[str, secretsmanager.ISecret] = field(default_factory=dict)
    email: EmailSending | None = None
    dead_letters: list[DeadLetterSource] = field(default_factory=list)
    account_tenants: dict[str, str] = field(default_factory=dict)
    intake_reopen_window_minutes: int = 10


class UnknownResource(LookupError):
    """A declaration names a queue, bucket or secret the stack does not have."""


def bind(fn: TicketingFunction, ctx: ResourceContext) -> None:
    """Grant ``fn`` exactly what its declarations ask for, and tell it where each thing is."""
    for resource in fn.settings.resources:
        _BINDERS[type(resource)](resource, fn, ctx)


def _database(resource: catalog.Resource, fn: TicketingFunction, ctx: ResourceContext) -> None:
    database = ctx.database
    _env(
        fn,
        DB_HOST=database.proxy.endpoint,
        DB_PORT=str(DB_PORT),
        DB_NAME=DB_NAME,
        DB_SSLMODE="require",
        DB_SECRET_ARN=database.app_secret.secret_arn,
    )
    database.app_secret.grant_read(fn.role)
    database.proxy.grant_connect(fn.role, APP_USER)


def _event_bus(resource: catalog.Resource, fn: TicketingFunction, ctx: ResourceContext) -> None:
    _env(fn, EVENT_BUS_NAME=ctx.bus.event_bus_name, EVENT_SOURCE=ctx.event_source)
    ctx.bus.grant_put_events_to(fn.role)


def _queue(resource: catalog.Resource, fn: TicketingFunction, ctx: ResourceContext) -> None:
    assert isinstance(resource, catalog.Queue)
    queue = _lookup(ctx.queues, resource.worker, "worker queue")
    _env(fn, **{catalog.queue_env(resource.worker): queue.queue_url})
    queue.grant_send_messages(fn.role)


def _dead_letter_queue(resource: catalog.Resource, fn: TicketingFunction, ctx: ResourceContext) -> None:
    assert isinstance(resource, catalog.DeadLetterQueue)
    found = {source.name: source.dlq for source in ctx.dead_letters}
    dlq = _lookup(found, resource.worker, "dead-letter queue")
    _env(fn, **{catalog.dead_letter_env(resource.worker): dlq.queue_url})
    dlq.grant_send_messages(fn.role)


def _bucket(resource: catalog.Resource, fn: TicketingFunction, ctx: ResourceContext) -> None:
    assert isinstance(resource, catalog.Bucket)
    bucket = _lookup(ctx.buckets, resource.name, "bucket")
    (name,) = resource.env_names()
    _env(fn, **{name: bucket.bucket_name})
    # Objects only, and only the actions the declaration names (CDK's grant_read_write would add
    # s3:Abort*/DeleteObject*/GetBucket* wildcards).
    fn.role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["s3:GetObject", *(["s3:PutObject"] if resource.write else [])],
            resources=[bucket.arn_for_objects("*")],
        )
    )
    stack = Stack.of(bucket)
    cfn_bucket = bucket.node.default_child
    assert isinstance(cfn_bucket, s3.CfnBucket)
    # The ARN as cdk-nag prints it: the bucket's own, or (a function in a nested stack) the
    # parameter that carries it there.
    arn = (
        f"{stack.resolve(stack.get_logical_id(cfn_bucket))}.Arn"
        if Stack.of(fn.role) is stack
        else f"referenceto{Names.unique_id(cfn_bucket)}Arn"
    )
    acknowledge(
        fn.role,
        f"IAM5[Resource::<{arn}>/*]",
        f"Objects of the {resource.name} bucket, whose keys the service chooses; no bucket-level actions.",
    )


def _email(resource: catalog.Resource, fn: TicketingFunction, ctx: ResourceContext) -> None:
    if ctx.email is None:
        raise UnknownResource("a function declares Email, but the stack has no SES identity")
    email = ctx.email
    _env(
        fn,
        SES_FROM_ADDRESS=email.from_address,
        SES_IDENTITY_ARN=email.identity_arn,
        SES_CONFIGURATION_SET=email.configuration_set,
        EMAIL_REPLY_DOMAIN=email.reply_domain or "",
    )
    # Raw messages only, from this identity, through this configuration set (SES authorizes both).
    fn.role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=["ses:SendRawEmail"], resources=[email.identity_arn, email.configuration_set_arn]
        )
    )


def _secret(resource: catalog.Resource, fn: TicketingFunction, ctx: ResourceContext) -> None:
    assert isinstance(resource, catalog.Secret)
    secret = _lookup(ctx.secrets, resource.name, "secret")
    (name,) = resource.env_names()
    _env(fn, **{name: secret.secret_arn})
    secret.grant_read(fn.role)


def _dead_letters(resource: catalog.Resource, fn: TicketingFunction, ctx: ResourceContext) -> None:
    described = []
    for source in ctx.dead_letters:
        source.dlq.grant_consume_messages(fn.role)
        entry = {"name": source.name, "dlq_url": source.dlq.queue_url, "dlq_arn": source.dlq.queue_arn}
        if source.queue is not None:
            source.queue.grant_send_messages(fn.role)
            entry["source_queue_url"] = source.queue.queue_url
            entry["source_queue_arn"] = source.queue.queue_arn
        if source.function is not None:
            # The unqualified function only (replay invokes it by name): grant_invoke would also
            # allow every version and alias ("<arn>:*"), which nothing here needs.
            fn.role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["lambda:InvokeFunction"], resources=[source.function.function.function_arn]
                )
            )
            entry["source_function"] = source.function.function.function_name
        described.append(entry)
    _env(fn, DEAD_LETTER_QUEUES=Stack.of(fn).to_json_string(described))


def _intake_config(resource: catalog.Resource, fn: TicketingFunction, ctx: ResourceContext) -> None:
    # Configuration only: nothing to grant.
    _env(
        fn,
        INTAKE_ACCOUNT_TENANTS=json.dumps(ctx.account_tenants, sort_keys=True),
        INTAKE_REOPEN_WINDOW_MINUTES=str(ctx.intake_reopen_window_minutes),
    )


def _webhook_config(resource: catalog.Resource, fn: TicketingFunction, ctx: ResourceContext) -> None:
    # Configuration only: in AWS a webhook URL is https, and no loopback host is allowed.
    _env(fn, WEBHOOK_REQUIRE_HTTPS="true", WEBHOOK_ALLOW_LOOPBACK="")


def _env(fn: TicketingFunction, **variables: str) -> None:
    for name, value in variables.items():
        fn.function.add_environment(name, value)


T = TypeVar("T")


def _lookup(table: dict[str, T], name: str, what: str) -> T:
    try:
        return table[name]
    except KeyError:
        raise UnknownResource(f"no {what} named {name!r}; the stack has {sorted(table)}") from None


_BINDERS: dict[
    type[catalog.Resource], Callable[[catalog.Resource, TicketingFunction, ResourceContext], None]
] = {
    catalog.Database: _database,
    catalog.EventBus: _event_bus,
    catalog.Queue: _queue,
    catalog.DeadLetterQueue: _dead_letter_queue,
    catalog.Bucket: _bucket,
    catalog.Email: _email,
    catalog.Secret: _secret,
    catalog.DeadLetterQueues: _dead_letters,
    catalog.IntakeConfig: _intake_config,
    catalog.WebhookConfig: _webhook_config,
    catalog.Internet: lambda resource, fn, ctx: None,  # where the function runs: infra/functions.py
}
