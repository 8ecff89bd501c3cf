"""GET /tickets/{ticket_id}/comments: public comments, and internal ones for platform roles."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared.http import app as api
from shared.tickets import comments
from shared.tickets.models import PageQuery

app = api.make_app()


@app.get("/tickets/<ticket_id>/comments")
def list_comments(ticket_id: str) -> Response[Any]:
    who = api.principal(app)
    page = api.parse_query(app, PageQuery)
    result = api.read(
        who, lambda conn: comments.list_for_ticket(conn, who, ticket_id, limit=page.limit, cursor=page.cursor)
    )
    return api.page_response(result)


handler = api.entrypoint(app)
