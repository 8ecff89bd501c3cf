"""GET /tickets/{ticket_id}: one ticket, by id or key (TCK-42); the ETag carries its version."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.runtime import entrypoints
from shared.tickets import service

app = http.make_app()


@app.get("/tickets/<ticket_id>")
def get_ticket(ticket_id: str) -> Response[Any]:
    who = http.principal(app)
    ticket = http.read(who, lambda uow: service.get(uow, who, ticket_id))
    return http.json_response(200, ticket, {"ETag": http.etag(ticket.version)})


handler = entrypoints.http(app, "get_ticket")
