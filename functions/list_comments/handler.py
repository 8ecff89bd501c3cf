"""GET /tickets/{ticket_id}/comments: public comments, and internal ones for platform roles."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.runtime import entrypoints
from shared.tickets import comments
from shared.tickets.models import DEFAULT_PAGE_LIMIT, CommentPage

app = http.make_app()


@app.get(
    "/tickets/<ticket_id>/comments",
    operation_id="list_comments",
    summary="A ticket's comments",
    description="Oldest first. Tenant roles read the public comments, platform roles internal ones too."
    " Pages: send `next_cursor` back as `cursor` until it is null.",
    tags=["comments"],
    security=http.BEARER,
    responses={
        **http.success(200, CommentPage, "A page of comments."),
        **http.problems(*http.ALWAYS, *http.AUTHORIZED, *http.TICKET, *http.DATABASE),
    },
)
def list_comments(
    ticket_id: http.TicketRef, limit: http.LimitQuery = DEFAULT_PAGE_LIMIT, cursor: http.CursorQuery = None
) -> Response[Any]:
    who = http.principal(app)
    result = http.read(
        who, lambda uow: comments.list_for_ticket(uow, who, ticket_id, limit=limit, cursor=cursor)
    )
    return http.page_response(result)


handler = entrypoints.http(app, "list_comments")
