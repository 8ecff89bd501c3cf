"""GET /webhooks/{webhook_id}/deliveries/{delivery_id}: one delivery, its attempts and its body."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.runtime import entrypoints
from shared.webhooks import deliveries
from shared.webhooks.model import DeliveryWithBody

app = http.make_app()


@app.get(
    "/webhooks/<webhook_id>/deliveries/<delivery_id>",
    operation_id="get_webhook_delivery",
    summary="One delivery, with its attempts and its body",
    description="The delivery as the log shows it, and the body every attempt sends (byte for byte the"
    " same on retries and replays, under the same webhook-id).",
    tags=["webhooks"],
    security=http.BEARER,
    responses={
        **http.success(200, DeliveryWithBody, "The delivery."),
        **http.problems(
            *http.ALWAYS,
            *http.AUTHORIZED,
            *http.WEBHOOK,
            *http.SIBLING_METHODS,
            *http.DATABASE,
            meaning=http.DELIVERY_PROBLEMS,
        ),
    },
)
def get_webhook_delivery(webhook_id: http.WebhookId, delivery_id: http.DeliveryId) -> Response[Any]:
    who = http.principal(app)
    found = http.read(who, lambda uow: deliveries.get(uow, who, webhook_id, delivery_id))
    return http.json_response(200, found)


handler = entrypoints.http(app, "get_webhook_delivery")
