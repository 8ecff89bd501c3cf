"""GET /tickets/{ticket_id}/events: the ticket's audit trail (seq, type, actor, at, changes)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.runtime import entrypoints
from shared.tickets import history
from shared.tickets.models import PageQuery

app = http.make_app()


@app.get("/tickets/<ticket_id>/events")
def list_events(ticket_id: str) -> Response[Any]:
    who = http.principal(app)
    page = http.parse_query(app, PageQuery)
    result = http.read(
        who, lambda uow: history.list_for_ticket(uow, who, ticket_id, limit=page.limit, cursor=page.cursor)
    )
    return http.page_response(result)


handler = entrypoints.http(app, "list_events")
