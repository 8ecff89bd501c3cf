"""GET /webhooks/{webhook_id}/deliveries: the endpoint's delivery log, newest first, with attempts."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.kernel import pagination
from shared.runtime import entrypoints
from shared.tickets.models import DEFAULT_PAGE_LIMIT
from shared.webhooks import deliveries
from shared.webhooks.model import DeliveryPage, DeliveryQuery

app = http.make_app()


@app.get(
    "/webhooks/<webhook_id>/deliveries",
    operation_id="list_webhook_deliveries",
    summary="An endpoint's deliveries, with their attempts (newest first)",
    description="Each message sent (or to be sent) to the endpoint, kept 30 days, with its attempts: when,"
    " the response status, the latency, the first 1 KB of the response body, or the error when no response"
    " came. Filter by `status` (e.g. failed), `event_type`, and the time it was made (`since`, `until`)."
    " Pages: send `next_cursor` back as `cursor`, with the same other parameters, until it is null.",
    tags=["webhooks"],
    security=http.BEARER,
    responses={
        **http.success(200, DeliveryPage, "A page of deliveries."),
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
def list_webhook_deliveries(
    webhook_id: http.WebhookId,
    status: http.DeliveryStatusQuery = None,
    event_type: http.DeliveryEventTypeQuery = None,
    since: http.SinceQuery = None,
    until: http.UntilQuery = None,
    limit: http.LimitQuery = DEFAULT_PAGE_LIMIT,
    cursor: http.CursorQuery = None,
) -> Response[Any]:
    who = http.principal(app)
    query = DeliveryQuery(
        status=status, event_type=event_type, since=since, until=until, limit=limit, cursor=cursor
    )
    page: pagination.Page = http.read(who, lambda uow: deliveries.list_page(uow, who, webhook_id, query))
    return http.page_response(page)


handler = entrypoints.http(app, "list_webhook_deliveries")
