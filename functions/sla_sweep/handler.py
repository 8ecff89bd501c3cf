"""Every minute: put on the timer queue the SLA clocks whose next step comes within 15 minutes and
has no message on its way, send again the steps overdue by more than 2 minutes, and publish how
many are overdue (``SlaStepsOverdue``, alarmed: runbook "SLA Timer Failure"). Invoked by an
operator with ``{}``, it runs now."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from shared import db
from shared.auth import Principal
from shared.observability import logger, metrics
from shared.runtime import entrypoints
from shared.sla import timers


class SweepRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def run(request: SweepRequest, services: entrypoints.Services, context: LambdaContext) -> dict[str, Any]:
    with db.transaction(Principal.system("sla_sweep")) as uow:
        result = timers.sweep(uow, now=services.clock())
    metrics.add_metric(name="SlaTimersEnqueued", unit=MetricUnit.Count, value=result.enqueued)
    metrics.add_metric(name="SlaStepsOverdue", unit=MetricUnit.Count, value=result.overdue)
    metrics.add_metric(name="SlaOldestOverdueSeconds", unit=MetricUnit.Seconds, value=result.oldest_overdue_s)
    summary = {
        "enqueued": result.enqueued,
        "overdue": result.overdue,
        "oldest_overdue_s": round(result.oldest_overdue_s, 3),
    }
    (logger.error if result.overdue else logger.info)("sla sweep", extra=summary)
    return summary


handler = entrypoints.operator("sla_sweep", run, SweepRequest, scheduled=lambda event: SweepRequest())
