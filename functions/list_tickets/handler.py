"""GET /tickets: full-text search and filters, keyset pages with an opaque next_cursor."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.runtime import entrypoints
from shared.tickets import search
from shared.tickets.models import TicketQuery

app = http.make_app()


@app.get("/tickets")
def list_tickets() -> Response[Any]:
    who = http.principal(app)
    query = http.parse_query(app, TicketQuery, list_fields=("state", "priority", "kind", "category"))
    result = http.read(who, lambda uow: search.search(uow, who, query))
    return http.page_response(result)


handler = entrypoints.http(app, "list_tickets")
