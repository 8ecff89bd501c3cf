"""Every minute: report the occurrences that a quiet minute left unreported.

Occurrences reach the audit trail and the bus as at most one "Occurrences Added" event per
ticket per minute (``shared.intake.service``); a repeat that arrives within the minute after a
report is counted on the ticket but reported by the next repeat or, when none comes, by this
sweep. Invoked by an operator with ``{}``, it runs now.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from shared import db
from shared.auth import Principal
from shared.intake.service import IntakeSettings, report_pending
from shared.observability import logger, metrics
from shared.runtime import entrypoints


class SweepRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def run(request: SweepRequest, services: entrypoints.Services, context: LambdaContext) -> dict[str, Any]:
    with db.transaction(Principal.system("intake_sweep")) as uow:
        reported = report_pending(uow, now=services.clock(), settings=IntakeSettings())
    metrics.add_metric(name="OccurrencesReported", unit=MetricUnit.Count, value=reported)
    summary = {"reported": reported}
    logger.info("intake sweep", extra=summary)
    return summary


handler = entrypoints.operator("intake_sweep", run, SweepRequest, scheduled=lambda event: SweepRequest())
