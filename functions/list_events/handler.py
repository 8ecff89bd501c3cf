"""GET /tickets/{ticket_id}/events: the ticket's audit trail (seq, type, actor, at, changes)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared.http import app as api
from shared.tickets import history
from shared.tickets.models import PageQuery

app = api.make_app()


@app.get("/tickets/<ticket_id>/events")
def list_events(ticket_id: str) -> Response[Any]:
    who = api.principal(app)
    page = api.parse_query(app, PageQuery)
    result = api.read(
        who, lambda conn: history.list_for_ticket(conn, who, ticket_id, limit=page.limit, cursor=page.cursor)
    )
    return api.page_response(result)


handler = api.entrypoint(app)
