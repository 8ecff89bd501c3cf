"""PATCH /tickets/{ticket_id}: change fields; If-Match on the version (412 on mismatch)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from shared import http
from shared.db import UnitOfWork
from shared.runtime import entrypoints
from shared.tickets import service
from shared.tickets.models import Ticket, TicketPatch

app = http.make_app()


@app.patch("/tickets/<ticket_id>")
def update_ticket(ticket_id: str, patch: Annotated[TicketPatch, Body(embed=False)]) -> Response[Any]:
    who = http.principal(app)
    if_match = http.parse_if_match(http.header(app, "if-match"))
    correlation_id = http.correlation_id(app)

    def operation(uow: UnitOfWork) -> tuple[Ticket, dict[str, str]]:
        updated = service.update(
            uow, who, ticket_id, patch, if_match=if_match, correlation_id=correlation_id, now=http.now(app)
        )
        return updated, {"ETag": http.etag(updated.version)}

    return http.write(app, who, operation)


handler = entrypoints.http(app, "update_ticket")
