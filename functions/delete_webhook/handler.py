"""DELETE /webhooks/{webhook_id}: remove an endpoint (nothing more is delivered to it)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.db import UnitOfWork
from shared.runtime import entrypoints
from shared.webhooks import endpoints
from shared.webhooks.model import Webhook

app = http.make_app()


@app.delete(
    "/webhooks/<webhook_id>",
    operation_id="delete_webhook",
    summary="Delete a webhook endpoint",
    description="Nothing more is delivered to it, from now on. Platform admins delete any endpoint, tenant"
    " admins their tenant's; If-Match, when given, must name its current version (412). The configuration"
    " log keeps it.",
    tags=["webhooks"],
    security=http.BEARER,
    responses={
        **http.success(200, Webhook, "The endpoint as it was before it was deleted."),
        **http.problems(
            *http.ALWAYS,
            *http.AUTHORIZED,
            *http.WEBHOOK,
            *http.SIBLING_METHODS,
            *http.WRITES,
            412,
            *http.DATABASE,
            meaning=http.WEBHOOK_PROBLEMS,
        ),
    },
)
def delete_webhook(
    webhook_id: http.WebhookId,
    if_match: http.WebhookIfMatch = None,
    x_correlation_id: http.CorrelationId = None,
) -> Response[Any]:
    who = http.principal(app)
    version = http.parse_if_match(if_match)
    correlation_id = http.correlation_id(app, x_correlation_id)

    def operation(uow: UnitOfWork) -> tuple[Webhook, dict[str, str]]:
        deleted = endpoints.delete(
            uow, who, webhook_id, if_match=version, now=http.now(app), correlation_id=correlation_id
        )
        return deleted, {}

    return http.write(app, who, operation)


handler = entrypoints.http(app, "delete_webhook")
