"""GET /webhooks: keyset pages of the webhook endpoints the caller may read, newest first."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.kernel import pagination
from shared.runtime import entrypoints
from shared.tickets.models import DEFAULT_PAGE_LIMIT
from shared.webhooks import endpoints
from shared.webhooks.model import WebhookPage, WebhookQuery

app = http.make_app()


@app.get(
    "/webhooks",
    operation_id="list_webhooks",
    summary="List webhook endpoints",
    description="Newest first. Platform admins and operators see every endpoint (or one tenant's:"
    " `tenant_id`), tenant admins their tenant's; tenant users none (403). `failing=true`: those whose"
    " last attempt failed. Signing secrets are never shown"
    " again, only their last four characters. Pages: send `next_cursor` back as `cursor`, with the same"
    " other parameters, until it is null.",
    tags=["webhooks"],
    security=http.BEARER,
    responses={
        **http.success(200, WebhookPage, "A page of webhook endpoints."),
        **http.problems(*http.ALWAYS, *http.AUTHORIZED, *http.DATABASE, meaning=http.WEBHOOK_PROBLEMS),
    },
)
def list_webhooks(
    tenant_id: http.WebhookTenantQuery = None,
    state: http.WebhookStateQuery = None,
    failing: http.WebhookFailingQuery = None,
    limit: http.LimitQuery = DEFAULT_PAGE_LIMIT,
    cursor: http.CursorQuery = None,
) -> Response[Any]:
    who = http.principal(app)
    query = WebhookQuery(tenant_id=tenant_id, state=state, failing=failing, limit=limit, cursor=cursor)
    page: pagination.Page = http.read(who, lambda uow: endpoints.list_page(uow, who, query))
    return http.page_response(page)


handler = entrypoints.http(app, "list_webhooks")
