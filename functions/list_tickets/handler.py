"""GET /tickets: full-text search and filters, keyset pages with an opaque next_cursor."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared.http import app as api
from shared.tickets import search
from shared.tickets.models import TicketQuery

app = api.make_app()


@app.get("/tickets")
def list_tickets() -> Response[Any]:
    who = api.principal(app)
    query = api.parse_query(app, TicketQuery, list_fields=("state", "priority", "kind", "category"))
    result = api.read(who, lambda conn: search.search(conn, who, query))
    return api.page_response(result)


handler = api.entrypoint(app)
