"""Queue-fed workers: each ``shared.routes.WORKERS`` entry becomes queue + DLQ + function + mapping.

Per worker: an SQS queue (SSE-SQS, TLS enforced) whose visibility timeout is six times the
function's timeout, a DLQ after ``max_receive_count`` receives, an event source mapping that
reports partial batch failures, and one EventBridge rule per ``BusRule`` of the entry, on the
ticket bus or the account's default bus, that feeds the queue (a rule's ``sources_context`` takes
its sources from cdk.json context, e.g. ``platformEventSources``).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.functions import FunctionContext, TicketingFunction
from infra.nag import acknowledge
from shared.runtime.catalog import QueueWorker

VISIBILITY_FACTOR = 6
DLQ_RETENTION = Duration.days(14)


def dead_letter_queue(scope: Construct, construct_id: str) -> sqs.Queue:
    """An encrypted, TLS-only DLQ that keeps messages for the longest time SQS allows."""
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=DLQ_RETENTION,
    )
    acknowledge(queue, "SQS3", "This queue is itself a dead-letter queue; its depth is alarmed on.")
    return queue


class QueueWorkerConstruct(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        worker: QueueWorker,
        context: FunctionContext,
        bus: events.IEventBus,
    ) -> None:
        super().__init__(scope, construct_id)
        self.worker = worker
        default_bus = events.EventBus.from_event_bus_name(self, "DefaultBus", "default")
        self.dlq = dead_letter_queue(self, "Dlq")
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(VISIBILITY_FACTOR * worker.settings.timeout_s),
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dlq, max_receive_count=worker.max_receive_count),
        )
        self.handler = TicketingFunction(
            self,
            "Handler",
            name=worker.function,
            settings=worker.settings,
            context=context,
            description=worker.summary,
        )
        self.handler.function.add_event_source(
            sources.SqsEventSource(self.queue, batch_size=worker.batch_size, report_batch_item_failures=True)
        )
        self.rules: dict[str, events.Rule] = {}
        for declared in worker.rules:
            pattern = dict(declared.pattern)
            if declared.sources_context is not None:
                sources_ = _context_list(self, declared.sources_context)
                if not sources_:
                    continue  # no sources configured: no rule
                pattern["source"] = sources_
            self.rules[declared.id] = events.Rule(
                self,
                f"{declared.id}Rule",
                description=f"Feeds {worker.function}: {declared.id}",
                event_bus=bus if declared.bus == "ticket" else default_bus,
                event_pattern=events.EventPattern(
                    **{key.replace("-", "_"): value for key, value in pattern.items()}  # type: ignore[arg-type]
                ),
                targets=[targets.SqsQueue(self.queue, dead_letter_queue=self.dlq)],
            )


def _context_list(scope: Construct, key: str) -> list[str]:
    """A list of strings from cdk.json context (a JSON list, or a comma-separated -c value)."""
    value = scope.node.try_get_context(key)
    if value is None:
        return []
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"cdk.json context {key!r} must be a list of strings, got {value!r}")
    return list(value)


class QueueWorkers(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        workers: tuple[QueueWorker, ...],
        context: FunctionContext,
        bus: events.IEventBus,
    ) -> None:
        super().__init__(scope, construct_id)
        self.workers = [
            QueueWorkerConstruct(
                self, _construct_id(worker.function), worker=worker, context=context, bus=bus
            )
            for worker in workers
        ]


def _construct_id(function_name: str) -> str:
    return "".join(part.capitalize() for part in function_name.split("_"))
