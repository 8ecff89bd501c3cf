"""GET /tickets/{ticket_id}/occurrences: the machine events of a ticket's problem, oldest first."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.intake import records
from shared.runtime import entrypoints
from shared.tickets.models import DEFAULT_PAGE_LIMIT

app = http.make_app()


@app.get(
    "/tickets/<ticket_id>/occurrences",
    operation_id="list_occurrences",
    summary="A ticket's occurrence log",
    description="Every machine event intake took for the ticket (the trigger that opened it, its repeats,"
    " acknowledges and resolves, including stale and ignored ones), oldest first, under the ticket's"
    " visibility rules. Pages: send `next_cursor` back as `cursor` until it is null.",
    tags=["intake"],
    security=http.BEARER,
    responses={
        **http.success(200, records.OccurrencePage, "A page of occurrences."),
        **http.problems(*http.ALWAYS, *http.AUTHORIZED, *http.TICKET, *http.DATABASE),
    },
)
def list_occurrences(
    ticket_id: http.TicketRef, limit: http.LimitQuery = DEFAULT_PAGE_LIMIT, cursor: http.CursorQuery = None
) -> Response[Any]:
    who = http.principal(app)
    page = http.read(who, lambda uow: records.occurrences(uow, who, ticket_id, limit=limit, cursor=cursor))
    return http.page_response(page)


handler = entrypoints.http(app, "list_occurrences")
