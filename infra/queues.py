"""Queue-fed workers: each ``shared.routes.WORKERS`` entry becomes queue + DLQ + function + mapping.

Per worker: an SQS queue (SSE-SQS, TLS enforced) whose visibility timeout is six times the
function's timeout, a DLQ after ``max_receive_count`` receives, an event source mapping that
reports partial batch failures, and, when the entry has an ``event_pattern``, an EventBridge rule
on the ticket bus that feeds the queue.
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
        self.rule: events.Rule | None = None
        if worker.event_pattern:
            pattern = {key.replace("-", "_"): value for key, value in worker.event_pattern.items()}
            self.rule = events.Rule(
                self,
                "Rule",
                description=f"Feeds {worker.function}",
                event_bus=bus,
                event_pattern=events.EventPattern(**pattern),  # type: ignore[arg-type]
                targets=[targets.SqsQueue(self.queue, dead_letter_queue=self.dlq)],
            )


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
