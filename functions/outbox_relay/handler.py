"""Every minute: publish outbox rows left behind, report the lag and parked rows, purge expired state.

Invoked by an operator with ``{"unpark": true}``, it first puts parked rows back in line."""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from shared import idempotency, outbox
from shared.observability import logger, metrics, tracer


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # An operator puts parked rows back in line with {"unpark": true} (runbook: outbox parked).
    unparked = outbox.unpark() if isinstance(event, dict) and event.get("unpark") is True else 0
    result = outbox.relay()
    purged_keys = idempotency.purge_expired()
    purged_rows = outbox.purge()
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
    }
    logger.info("outbox relay run", extra=summary)
    return summary
