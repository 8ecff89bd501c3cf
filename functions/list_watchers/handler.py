"""GET /tickets/{ticket_id}/watchers: who gets the ticket's e-mails."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.notify import watchers
from shared.notify.model import WatcherList
from shared.runtime import entrypoints

app = http.make_app()


@app.get(
    "/tickets/<ticket_id>/watchers",
    operation_id="list_watchers",
    summary="A ticket's watchers",
    description="Everyone watching the ticket (they are e-mailed its public comments, and when it waits for"
    " its requester, is resolved or is closed), oldest first, for anyone who may see it: tenant roles the"
    " watchers of their tenant's tickets, platform roles every ticket's. Another tenant's ticket is a 404.",
    tags=["notifications"],
    security=http.BEARER,
    responses={
        **http.success(200, WatcherList, "The watchers, oldest first."),
        **http.problems(*http.ALWAYS, *http.AUTHORIZED, *http.TICKET, *http.DATABASE),
    },
)
def list_watchers(ticket_id: http.TicketRef) -> Response[Any]:
    who = http.principal(app)
    found = http.read(who, lambda uow: watchers.list_for(uow, who, ticket_id))
    return http.json_response(200, WatcherList(items=found))


handler = entrypoints.http(app, "list_watchers")
