"""POST /webhooks/{webhook_id}/pause: its owner pauses deliveries (they wait, not dropped)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from shared import http
from shared.db import UnitOfWork
from shared.runtime import entrypoints
from shared.webhooks import endpoints
from shared.webhooks.model import StateReason, Webhook

app = http.make_app()


@app.post(
    "/webhooks/<webhook_id>/pause",
    operation_id="pause_webhook",
    summary="Pause deliveries to an endpoint (they wait)",
    description="Its owner (a platform admin, or its tenant's admin) pauses the endpoint: deliveries "
    "wait, they are not dropped, and go out after `resume`. An optional `reason` is kept. "
    "Pausing a paused endpoint changes nothing; a quarantined or disabled one is a 409 "
    "(resume it).",
    tags=["webhooks"],
    security=http.BEARER,
    responses={
        **http.success(200, Webhook, "The endpoint in its new state.", headers=http.WEBHOOK_ETAG),
        **http.problems(
            *http.ALWAYS,
            *http.AUTHORIZED,
            *http.BODY,
            *http.WEBHOOK,
            *http.SIBLING_METHODS,
            *http.WRITES,
            *http.DATABASE,
            meaning=http.WEBHOOK_PROBLEMS,
        ),
    },
)
def pause_webhook(
    webhook_id: http.WebhookId,
    request: Annotated[StateReason, Body(embed=False)],
    x_correlation_id: http.CorrelationId = None,
) -> Response[Any]:
    who = http.principal(app)
    correlation_id = http.correlation_id(app, x_correlation_id)

    def operation(uow: UnitOfWork) -> tuple[Webhook, dict[str, str]]:
        changed = endpoints.pause(
            uow, who, webhook_id, request, now=http.now(app), correlation_id=correlation_id
        )
        return changed, {"ETag": http.etag(changed.version)}

    return http.write(app, who, operation)


handler = entrypoints.http(app, "pause_webhook")
