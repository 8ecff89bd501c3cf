"""PATCH /tickets/{ticket_id}: change fields; If-Match on the version (412 on mismatch)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from shared.db import Connection
from shared.http import app as api
from shared.tickets import service as tickets
from shared.tickets.models import Ticket, TicketPatch

app = api.make_app()


@app.patch("/tickets/<ticket_id>")
def update_ticket(ticket_id: str, patch: Annotated[TicketPatch, Body(embed=False)]) -> Response[Any]:
    who = api.principal(app)
    if_match = tickets.parse_if_match(api.header(app, "if-match"))
    correlation_id = api.correlation_id(app)

    def operation(conn: Connection) -> tuple[Ticket, dict[str, str]]:
        updated = tickets.update(
            conn, who, ticket_id, patch, if_match=if_match, correlation_id=correlation_id
        )
        return updated, {"ETag": tickets.etag(updated)}

    return api.write(app, who, operation)


handler = api.entrypoint(app)
