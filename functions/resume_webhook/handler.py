"""POST /webhooks/{webhook_id}/resume: its owner re-enables an endpoint; waiting deliveries go out."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.db import UnitOfWork
from shared.runtime import entrypoints
from shared.webhooks import deliveries
from shared.webhooks.model import Webhook

app = http.make_app()


@app.post(
    "/webhooks/<webhook_id>/resume",
    operation_id="resume_webhook",
    summary="Re-enable an endpoint (waiting deliveries go out)",
    description="Its owner (a platform admin, or its tenant's admin) re-enables a paused, quarantined or "
    "disabled endpoint; the deliveries that were waiting go out. Resuming an enabled endpoint"
    " changes nothing.",
    tags=["webhooks"],
    security=http.BEARER,
    responses={
        **http.success(200, Webhook, "The endpoint in its new state.", headers=http.WEBHOOK_ETAG),
        **http.problems(
            *http.ALWAYS,
            *http.AUTHORIZED,
            413,  # no body is read, but the door refuses one it cannot
            415,
            *http.WEBHOOK,
            *http.SIBLING_METHODS,
            *http.WRITES,
            *http.DATABASE,
            meaning=http.WEBHOOK_PROBLEMS,
        ),
    },
)
def resume_webhook(
    webhook_id: http.WebhookId,
    x_correlation_id: http.CorrelationId = None,
) -> Response[Any]:
    who = http.principal(app)
    correlation_id = http.correlation_id(app, x_correlation_id)

    def operation(uow: UnitOfWork) -> tuple[Webhook, dict[str, str]]:
        changed = deliveries.resume(uow, who, webhook_id, now=http.now(app), correlation_id=correlation_id)
        return changed, {"ETag": http.etag(changed.version)}

    return http.write(app, who, operation)


handler = entrypoints.http(app, "resume_webhook")
