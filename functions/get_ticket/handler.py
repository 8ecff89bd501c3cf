"""GET /tickets/{ticket_id}: one ticket, by id or key (TCK-42); the ETag carries its version."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared.http import app as api
from shared.tickets import service as tickets

app = api.make_app()


@app.get("/tickets/<ticket_id>")
def get_ticket(ticket_id: str) -> Response[Any]:
    who = api.principal(app)
    ticket = api.read(who, lambda conn: tickets.get(conn, who, ticket_id))
    return api.json_response(200, ticket, {"ETag": tickets.etag(ticket)})


handler = api.entrypoint(app)
