"""GET /webhooks/{webhook_id}: one webhook endpoint (never its secret)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.runtime import entrypoints
from shared.webhooks import endpoints
from shared.webhooks.model import Webhook

app = http.make_app()


@app.get(
    "/webhooks/<webhook_id>",
    operation_id="get_webhook",
    summary="Read one webhook endpoint",
    description="Platform admins and operators read every endpoint, tenant admins their tenant's; another"
    " tenant's is a 404. The signing secret is not shown, only its last four characters; `state_reason`"
    " says why an endpoint is paused, quarantined or disabled.",
    tags=["webhooks"],
    security=http.BEARER,
    responses={
        **http.success(200, Webhook, "The endpoint; its ETag is its version.", headers=http.WEBHOOK_ETAG),
        **http.problems(
            *http.ALWAYS, *http.AUTHORIZED, *http.WEBHOOK, *http.DATABASE, meaning=http.WEBHOOK_PROBLEMS
        ),
    },
)
def get_webhook(webhook_id: http.WebhookId) -> Response[Any]:
    who = http.principal(app)
    found = http.read(who, lambda uow: endpoints.get(uow, who, webhook_id))
    return http.json_response(200, found, headers={"ETag": http.etag(found.version)})


handler = entrypoints.http(app, "get_webhook")
