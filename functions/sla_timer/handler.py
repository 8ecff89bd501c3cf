"""The SLA timer worker: each message names a clock and the generation it was sent for; the clock
row is read again under its ticket's lock and its due steps fire once each (``shared.sla.engine``).
A message for an older generation (the clock was paused, met or retargeted since) finds nothing to
do; one that SQS delivered early goes back for the rest of its delay. Any failure fails that
record only: SQS redelivers it, then moves it to the timer DLQ (``ticketing-replay-dlq``)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import BaseModel, ConfigDict, Field

from shared import db
from shared.auth import Principal
from shared.observability import metrics
from shared.runtime import entrypoints, workers
from shared.sla.engine import TIMER_WORKER, fire_due

SPEC = entrypoints.spec_of(TIMER_WORKER)
PRINCIPAL = Principal.system(TIMER_WORKER)


class TimerMessage(BaseModel):
    """What the engine and the sweeper send (the outbox adds the event id)."""

    model_config = ConfigDict(extra="ignore")

    clock_id: UUID
    generation: int = Field(ge=1)
    step: str | None = None
    due_at: datetime | None = None


def handle(uow: db.UnitOfWork, message: TimerMessage, record: SQSRecord) -> None:
    now = entrypoints.services(SPEC).clock()
    fired = fire_due(uow, PRINCIPAL, message.clock_id, generation=message.generation, now=now)
    metrics.add_metric(name=f"SlaTimer{fired.outcome.capitalize()}", unit=MetricUnit.Count, value=1)
    if fired.outcome == "fired":
        metrics.add_metric(name="SlaStepsFired", unit=MetricUnit.Count, value=len(fired.steps))
        metrics.add_metric(name="SlaFiringLateness", unit=MetricUnit.Seconds, value=fired.late_s)


# The clock's generation and the firing record make each step fire once: the inbound log would
# only add a round trip per record.
handler = workers.worker(TIMER_WORKER, handle, TimerMessage, inbound_log=False)
