"""GET /tickets/{ticket_id}: one ticket, by id or key (TCK-42); the ETag carries its version."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.runtime import entrypoints
from shared.tickets import service
from shared.tickets.models import Ticket

app = http.make_app()


@app.get(
    "/tickets/<ticket_id>",
    operation_id="get_ticket",
    summary="Read one ticket by id or key",
    description="Tenant roles read their tenant's tickets (not platform-only ones); another tenant's"
    " ticket is a 404. For tenant roles `updated_at` is the time of the last public change.",
    tags=["tickets"],
    security=http.BEARER,
    responses={
        **http.success(
            200,
            Ticket,
            "The ticket; its ETag is its version.",
            headers=http.ETAG,
            links=http.ticket_links(
                "$request.path.ticket_id", changes=("update_ticket", "transition_ticket")
            ),
        ),
        **http.problems(*http.ALWAYS, *http.AUTHORIZED, *http.TICKET, *http.DATABASE),
    },
)
def get_ticket(ticket_id: http.TicketRef) -> Response[Any]:
    who = http.principal(app)
    ticket = http.read(who, lambda uow: service.get(uow, who, ticket_id))
    return http.json_response(200, ticket, {"ETag": http.etag(ticket.version)})


handler = entrypoints.http(app, "get_ticket")
