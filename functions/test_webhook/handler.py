"""POST /webhooks/{webhook_id}/test: send an endpoint a webhook.test event."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.db import UnitOfWork
from shared.runtime import entrypoints
from shared.webhooks import deliveries
from shared.webhooks.model import Delivery

app = http.make_app()


@app.post(
    "/webhooks/<webhook_id>/test",
    operation_id="test_webhook",
    summary="Send an endpoint a webhook.test event",
    description="Queues a `webhook.test` delivery to the endpoint, signed and retried like any other,"
    " and answers 202 with it: follow it in the delivery log (`GET .../deliveries/{delivery_id}`). To an"
    " endpoint that is not enabled it waits, as every delivery does, until the endpoint is resumed."
    " Platform admins and operators, and the tenant's admins.",
    tags=["webhooks"],
    security=http.BEARER,
    responses={
        **http.success(202, Delivery, "The test delivery, queued.", headers=http.LOCATION),
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
def test_webhook(webhook_id: http.WebhookId) -> Response[Any]:
    who = http.principal(app)

    def operation(uow: UnitOfWork) -> tuple[Delivery, dict[str, str]]:
        sent = deliveries.send_test(uow, who, webhook_id, now=http.now(app))
        return sent, {"Location": f"/webhooks/{sent.webhook_id}/deliveries/{sent.id}"}

    return http.write(app, who, operation, status=202)


handler = entrypoints.http(app, "test_webhook")
