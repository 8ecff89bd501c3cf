"""GET /intake/rejections: the events intake refused (platform roles)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.intake import records
from shared.runtime import entrypoints
from shared.tickets.models import DEFAULT_PAGE_LIMIT

app = http.make_app()


@app.get(
    "/intake/rejections",
    operation_id="list_intake_rejections",
    summary="Events intake refused",
    description="Events from the intake queue that did not fit their schema, newest first: their source,"
    " the reason, the SHA-256 and size of the payload and its first 4 KB. They were acknowledged, not"
    " retried. Platform roles only. Pages: send `next_cursor` back as `cursor` until it is null.",
    tags=["intake"],
    security=http.BEARER,
    responses={
        **http.success(200, records.RejectionPage, "A page of rejections."),
        **http.problems(*http.ALWAYS, *http.AUTHORIZED, *http.DATABASE),
    },
)
def list_intake_rejections(
    limit: http.LimitQuery = DEFAULT_PAGE_LIMIT, cursor: http.CursorQuery = None
) -> Response[Any]:
    who = http.principal(app)
    page = http.read(who, lambda uow: records.rejections(uow, who, limit=limit, cursor=cursor))
    return http.page_response(page)


handler = entrypoints.http(app, "list_intake_rejections")
