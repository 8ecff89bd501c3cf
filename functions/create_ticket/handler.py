"""POST /tickets: open a ticket (Idempotency-Key honoured)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from shared.db import Connection
from shared.http import app as api
from shared.tickets import service as tickets
from shared.tickets.models import Ticket, TicketCreate

app = api.make_app()


@app.post("/tickets")
def create_ticket(ticket: Annotated[TicketCreate, Body(embed=False)]) -> Response[Any]:
    who = api.principal(app)
    correlation_id = api.correlation_id(app)

    def operation(conn: Connection) -> tuple[Ticket, dict[str, str]]:
        created = tickets.create(conn, who, ticket, correlation_id=correlation_id)
        return created, {"Location": f"/tickets/{created.id}", "ETag": tickets.etag(created)}

    return api.write(app, who, operation, status=201)


handler = api.entrypoint(app)
