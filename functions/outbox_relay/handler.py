"""Every minute: publish outbox rows left behind, report the lag and parked rows, purge expired
state (idempotency keys, published outbox rows, the workers' inbound-message log).

Invoked by an operator with ``{"unpark": true}``, it first puts parked rows back in line
(runbook: outbox parked); ``{}`` runs it now.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict

from shared import idempotency, outbox
from shared.observability import logger, metrics
from shared.runtime import entrypoints, workers


class RelayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    unpark: bool = False


def run(request: RelayRequest, services: entrypoints.Services, context: LambdaContext) -> dict[str, Any]:
    unparked = outbox.unpark() if request.unpark else 0
    result = outbox.relay(services.publishers)
    purged_keys = idempotency.purge_expired()
    purged_rows = outbox.purge()
    purged_inbound = workers.purge()
    metrics.add_metric(name="OutboxPublished", unit=MetricUnit.Count, value=result.published)
    metrics.add_metric(name="OutboxFailed", unit=MetricUnit.Count, value=result.failed)
    metrics.add_metric(name="OutboxPending", unit=MetricUnit.Count, value=result.pending)
    metrics.add_metric(name="OutboxLagSeconds", unit=MetricUnit.Seconds, value=result.lag_seconds)
    metrics.add_metric(name="OutboxParked", unit=MetricUnit.Count, value=result.parked_total)
    summary = {
        "published": result.published,
        "failed": result.failed,
        "pending": result.pending,
        "lag_seconds": round(result.lag_seconds, 3),
        "parked": result.parked,
        "parked_total": result.parked_total,
        "unparked": unparked,
        "purged_idempotency_keys": purged_keys,
        "purged_outbox_rows": purged_rows,
        "purged_inbound_messages": purged_inbound,
    }
    logger.info("outbox relay run", extra=summary)
    return summary


handler = entrypoints.operator("outbox_relay", run, RelayRequest, scheduled=lambda event: RelayRequest())
