"""PATCH /webhooks/{webhook_id}: change an endpoint's URL, event types or description."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from shared import http
from shared.db import UnitOfWork
from shared.runtime import entrypoints
from shared.webhooks import endpoints
from shared.webhooks.model import Webhook, WebhookUpdate

app = http.make_app()
SPEC = entrypoints.spec_of("update_webhook")


@app.patch(
    "/webhooks/<webhook_id>",
    operation_id="update_webhook",
    summary="Change a webhook endpoint (If-Match on its version)",
    description="Only the members given change; a new URL is vetted as on create (422). Platform admins"
    " change any endpoint, tenant admins their tenant's. A stale If-Match is a 412. The change (before"
    " and after) is recorded in the configuration log.",
    tags=["webhooks"],
    security=http.BEARER,
    responses={
        **http.success(
            200, Webhook, "The endpoint as changed; its ETag is its version.", headers=http.WEBHOOK_ETAG
        ),
        **http.problems(
            *http.ALWAYS,
            *http.AUTHORIZED,
            *http.BODY,
            *http.WEBHOOK,
            *http.SIBLING_METHODS,
            *http.WRITES,
            412,
            *http.DATABASE,
            meaning=http.WEBHOOK_PROBLEMS,
        ),
    },
)
def update_webhook(
    webhook_id: http.WebhookId,
    change: Annotated[WebhookUpdate, Body(embed=False)],
    if_match: http.WebhookIfMatch = None,
    x_correlation_id: http.CorrelationId = None,
) -> Response[Any]:
    who = http.principal(app)
    version = http.parse_if_match(if_match)
    correlation_id = http.correlation_id(app, x_correlation_id)
    policy = entrypoints.webhook_url_policy(SPEC)

    def operation(uow: UnitOfWork) -> tuple[Webhook, dict[str, str]]:
        changed = endpoints.update(
            uow,
            who,
            webhook_id,
            change,
            url_policy=policy,
            if_match=version,
            now=http.now(app),
            correlation_id=correlation_id,
        )
        return changed, {"ETag": http.etag(changed.version)}

    return http.write(app, who, operation)


handler = entrypoints.http(app, "update_webhook")
