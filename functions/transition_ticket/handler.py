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


@app.post(
    "/tickets/<ticket_id>/transitions",
    operation_id="transition_ticket",
    summary="Move a ticket through its lifecycle",
    description="new → ack → in_progress ⇄ wait_requester / wait_dependency → resolved → closed; canceled"
    " (final) from any open state; reopening is resolved or closed → in_progress. A move the lifecycle"
    " does not allow from the ticket's state is a 409 naming the allowed ones (`allowed_transitions`)."
    " Acknowledging, working and resolving are for platform roles; tenant roles may cancel their"
    " requests (not incidents), close a resolved ticket and reopen one (403 otherwise). Canceling and"
    " reopening need a `reason`, resolving a `resolution` (422).",
    tags=["tickets"],
    security=http.BEARER,
    responses={
        **http.success(
            200,
            Ticket,
            "The ticket in its new state; its ETag is its new version.",
            headers={**http.ETAG, **http.REPLAYED},
            links=http.ticket_links(
                "$request.path.ticket_id", changes=("update_ticket", "transition_ticket")
            ),
        ),
        **http.problems(
            *http.ALWAYS,
            *http.AUTHORIZED,
            *http.BODY,
            *http.TICKET,
            *http.SIBLING_METHODS,
            *http.WRITES,
            412,
            *http.DATABASE,
        ),
    },
)
def transition_ticket(
    ticket_id: http.TicketRef,
    request: Annotated[TransitionRequest, Body(embed=False)],
    if_match: http.IfMatch = None,
    idempotency_key: http.IdempotencyKey = None,
    x_correlation_id: http.CorrelationId = None,
) -> Response[Any]:
    who = http.principal(app)
    version = http.parse_if_match(if_match)
    correlation_id = http.correlation_id(app, x_correlation_id)

    def operation(uow: UnitOfWork) -> tuple[Ticket, dict[str, str]]:
        moved = service.transition(
            uow, who, ticket_id, request, if_match=version, correlation_id=correlation_id, now=http.now(app)
        )
        return moved, {"ETag": http.etag(moved.version)}

    return http.write(app, who, operation, idempotency_key=idempotency_key)


handler = entrypoints.http(app, "transition_ticket")
