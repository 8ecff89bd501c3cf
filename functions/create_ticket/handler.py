"""POST /tickets: open a ticket (Idempotency-Key honoured)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from shared import http
from shared.db import UnitOfWork
from shared.runtime import entrypoints
from shared.tickets import service
from shared.tickets.models import Ticket, TicketCreate

app = http.make_app()


@app.post("/tickets")
def create_ticket(ticket: Annotated[TicketCreate, Body(embed=False)]) -> Response[Any]:
    who = http.principal(app)
    correlation_id = http.correlation_id(app)

    def operation(uow: UnitOfWork) -> tuple[Ticket, dict[str, str]]:
        created = service.create(uow, who, ticket, correlation_id=correlation_id, now=http.now(app))
        return created, {"Location": f"/tickets/{created.id}", "ETag": http.etag(created.version)}

    return http.write(app, who, operation, status=201)


handler = entrypoints.http(app, "create_ticket")
