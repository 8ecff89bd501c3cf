"""POST /tickets/{ticket_id}/transitions: move a ticket through its lifecycle."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from shared import http
from shared.db import UnitOfWork
from shared.runtime import entrypoints
from shared.tickets import service
from shared.tickets.models import Ticket, TransitionRequest

app = http.make_app()


@app.post("/tickets/<ticket_id>/transitions")
def transition_ticket(
    ticket_id: str, request: Annotated[TransitionRequest, Body(embed=False)]
) -> Response[Any]:
    who = http.principal(app)
    if_match = http.parse_if_match(http.header(app, "if-match"))
    correlation_id = http.correlation_id(app)

    def operation(uow: UnitOfWork) -> tuple[Ticket, dict[str, str]]:
        moved = service.transition(
            uow, who, ticket_id, request, if_match=if_match, correlation_id=correlation_id, now=http.now(app)
        )
        return moved, {"ETag": http.etag(moved.version)}

    return http.write(app, who, operation)


handler = entrypoints.http(app, "transition_ticket")
