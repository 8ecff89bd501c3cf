"""GET /tickets/{ticket_id}/events: the ticket's audit trail (seq, type, actor, at, changes)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.runtime import entrypoints
from shared.tickets import history
from shared.tickets.models import DEFAULT_PAGE_LIMIT, EventPage

app = http.make_app()


@app.get(
    "/tickets/<ticket_id>/events",
    operation_id="list_events",
    summary="A ticket's audit trail",
    description="Every change in order (`seq`). Tenant roles read the public events, numbered 1, 2, 3...;"
    " platform roles read all of them with their hash-chain links. Pages: send `next_cursor` back as"
    " `cursor` until it is null.",
    tags=["history"],
    security=http.BEARER,
    responses={
        **http.success(200, EventPage, "A page of events."),
        **http.problems(*http.ALWAYS, *http.AUTHORIZED, *http.TICKET, *http.DATABASE),
    },
)
def list_events(
    ticket_id: http.TicketRef, limit: http.LimitQuery = DEFAULT_PAGE_LIMIT, cursor: http.CursorQuery = None
) -> Response[Any]:
    who = http.principal(app)
    result = http.read(
        who, lambda uow: history.list_for_ticket(uow, who, ticket_id, limit=limit, cursor=cursor)
    )
    return http.page_response(result)


handler = entrypoints.http(app, "list_events")
