"""The ticket event bus and the schedules that run ``shared.routes.SCHEDULED`` functions."""

from __future__ import annotations

from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from constructs import Construct

from infra.functions import FunctionContext, TicketingFunction
from infra.queues import _construct_id, dead_letter_queue
from shared.runtime.catalog import ScheduledFunction

ASYNC_RETRIES = 2


class TicketBus(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, "Bus", description="Ticket events (source: ticketing)")


class Schedules(Construct):
    """Each scheduled function, its EventBridge rule and the DLQ for invocations that keep failing."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        scheduled: tuple[ScheduledFunction, ...],
        context: FunctionContext,
    ) -> None:
        super().__init__(scope, construct_id)
        self.functions: dict[str, TicketingFunction] = {}
        self.dlqs = []
        for entry in scheduled:
            scope_ = Construct(self, _construct_id(entry.function))
            dlq = dead_letter_queue(scope_, "Dlq")
            function = TicketingFunction(
                scope_,
                "Handler",
                name=entry.function,
                settings=entry.settings,
                context=context,
                description=entry.summary,
                async_dlq=dlq,
            )
            events.Rule(
                scope_,
                "Schedule",
                description=f"Runs {entry.function}: {entry.schedule}",
                schedule=events.Schedule.expression(entry.schedule),
                targets=[
                    targets.LambdaFunction(
                        function.function, dead_letter_queue=dlq, retry_attempts=ASYNC_RETRIES
                    )
                ],
            )
            self.functions[entry.function] = function
            self.dlqs.append(dlq)
