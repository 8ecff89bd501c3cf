"""POST /webhooks/{webhook_id}/deliveries/{delivery_id}/retry: send one delivery again."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.db import UnitOfWork
from shared.runtime import entrypoints
from shared.webhooks import deliveries
from shared.webhooks.model import Delivery

app = http.make_app()


@app.post(
    "/webhooks/<webhook_id>/deliveries/<delivery_id>/retry",
    operation_id="retry_webhook_delivery",
    summary="Send one delivery again (same webhook-id)",
    description="Queues the delivery again now, whatever its status (a failed one, or one that succeeded"
    " but the receiver lost), with the same body and webhook-id: receivers deduplicate on it. Its retry"
    " schedule starts over. To an endpoint that is not enabled it waits until the endpoint is resumed.",
    tags=["webhooks"],
    security=http.BEARER,
    responses={
        **http.success(202, Delivery, "The delivery, queued."),
        **http.problems(
            *http.ALWAYS,
            *http.AUTHORIZED,
            413,  # no body is read, but the door refuses one it cannot
            415,
            *http.WEBHOOK,
            *http.SIBLING_METHODS,
            *http.WRITES,
            *http.DATABASE,
            meaning=http.DELIVERY_PROBLEMS,
        ),
    },
)
def retry_webhook_delivery(webhook_id: http.WebhookId, delivery_id: http.DeliveryId) -> Response[Any]:
    who = http.principal(app)

    def operation(uow: UnitOfWork) -> tuple[Delivery, dict[str, str]]:
        return deliveries.retry(uow, who, webhook_id, delivery_id, now=http.now(app)), {}

    return http.write(app, who, operation, status=202)


handler = entrypoints.http(app, "retry_webhook_delivery")
