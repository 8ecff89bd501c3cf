"""POST /webhooks/{webhook_id}/quarantine: an operator stops deliveries to an endpoint, with a reason."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from shared import http
from shared.db import UnitOfWork
from shared.runtime import entrypoints
from shared.webhooks import endpoints
from shared.webhooks.model import QuarantineReason, Webhook

app = http.make_app()


@app.post(
    "/webhooks/<webhook_id>/quarantine",
    operation_id="quarantine_webhook",
    summary="Quarantine an endpoint, with a reason its owner sees (operators)",
    description="Platform operators and admins stop deliveries to an endpoint (a noisy or misbehaving "
    "receiver); deliveries wait, they are not dropped. The `reason` (required, 422 without) "
    "is shown to its owner; only the owner's `resume` lifts the quarantine.",
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
def quarantine_webhook(
    webhook_id: http.WebhookId,
    request: Annotated[QuarantineReason, Body(embed=False)],
    x_correlation_id: http.CorrelationId = None,
) -> Response[Any]:
    who = http.principal(app)
    correlation_id = http.correlation_id(app, x_correlation_id)

    def operation(uow: UnitOfWork) -> tuple[Webhook, dict[str, str]]:
        changed = endpoints.quarantine(
            uow, who, webhook_id, request, now=http.now(app), correlation_id=correlation_id
        )
        return changed, {"ETag": http.etag(changed.version)}

    return http.write(app, who, operation)


handler = entrypoints.http(app, "quarantine_webhook")
