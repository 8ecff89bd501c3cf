"""POST /tickets/{ticket_id}/transitions: move a ticket through its lifecycle."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from shared.db import Connection
from shared.http import app as api
from shared.tickets import service as tickets
from shared.tickets.models import Ticket, TransitionRequest

app = api.make_app()


@app.post("/tickets/<ticket_id>/transitions")
def transition_ticket(
    ticket_id: str, request: Annotated[TransitionRequest, Body(embed=False)]
) -> Response[Any]:
    who = api.principal(app)
    if_match = tickets.parse_if_match(api.header(app, "if-match"))
    correlation_id = api.correlation_id(app)

    def operation(conn: Connection) -> tuple[Ticket, dict[str, str]]:
        moved = tickets.transition(
            conn, who, ticket_id, request, if_match=if_match, correlation_id=correlation_id
        )
        return moved, {"ETag": tickets.etag(moved)}

    return api.write(app, who, operation)


handler = api.entrypoint(app)
