"""Every minute: put on the webhook queue the attempts due within 15 minutes that have no message
on the way (retries further out than SQS's 15-minute delay wait here, as SLA timers do), send
again those overdue whose message was lost, disable endpoints whose every attempt failed for 5
days, forget deliveries older than 30 days; publish how many attempts are overdue
(``WebhookDeliveriesOverdue``, alarmed: runbook "Webhook Failures"). Invoked with ``{}``, it runs now."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from shared import db
from shared.auth import Principal
from shared.observability import logger, metrics
from shared.runtime import entrypoints
from shared.webhooks import deliveries


class SweepRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def run(request: SweepRequest, services: entrypoints.Services, context: LambdaContext) -> dict[str, Any]:
    with db.transaction(Principal.system("webhook_sweep")) as uow:
        result = deliveries.sweep(uow, now=services.clock())
    metrics.add_metric(name="WebhookRetriesEnqueued", unit=MetricUnit.Count, value=result.enqueued)
    metrics.add_metric(name="WebhookDeliveriesOverdue", unit=MetricUnit.Count, value=result.overdue)
    metrics.add_metric(name="WebhookEndpointsDisabled", unit=MetricUnit.Count, value=result.disabled)
    summary = {
        "enqueued": result.enqueued,
        "overdue": result.overdue,
        "oldest_overdue_s": round(result.oldest_overdue_s, 3),
        "disabled": result.disabled,
        "purged": result.purged,
    }
    (logger.error if result.overdue else logger.info)("webhook sweep", extra=summary)
    return summary


handler = entrypoints.operator("webhook_sweep", run, SweepRequest, scheduled=lambda event: SweepRequest())
