"""DELETE /tickets/{ticket_id}/watchers: stop watching (platform roles: ``?subject=`` someone else)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.notify import watchers
from shared.runtime import entrypoints

app = http.make_app()


@app.delete(
    "/tickets/<ticket_id>/watchers",
    operation_id="remove_watcher",
    summary="Stop watching a ticket",
    description="The caller stops watching; platform roles may name someone else (`subject`; a tenant role"
    " naming anyone else is a 403). 204 whether or not they were watching.",
    tags=["notifications"],
    security=http.BEARER,
    responses={
        204: {"description": "Not watching (any more)."},
        **http.problems(*http.ALWAYS, *http.AUTHORIZED, *http.TICKET, *http.SIBLING_METHODS, *http.DATABASE),
    },
)
def remove_watcher(ticket_id: http.TicketRef, subject: http.WatcherSubjectQuery = None) -> Response[Any]:
    who = http.principal(app)
    http.read(who, lambda uow: watchers.remove(uow, who, ticket_id, subject))
    return Response(status_code=204, content_type=None, body=None)


handler = entrypoints.http(app, "remove_watcher")
