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


@app.patch(
    "/tickets/<ticket_id>",
    operation_id="update_ticket",
    summary="Change a ticket's fields (If-Match on its version)",
    description="A merge patch (RFC 7396): members left out stay as they are; `null` clears `assignee` and"
    " `queue`, the other members cannot be cleared. Tenant roles may change title, description, tags,"
    " fields and resources of their tickets; the other members are for platform roles (403). `fields`"
    " must be the typed fields of the ticket's category (422); a ticket without a tenant stays"
    " platform-only (422). Closed and canceled tickets cannot be changed (409). The body may also be"
    " sent as application/merge-patch+json.",
    tags=["tickets"],
    security=http.BEARER,
    responses={
        **http.success(
            200,
            Ticket,
            "The changed ticket; its ETag is its new version.",
            headers=http.ETAG,
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
def update_ticket(
    ticket_id: http.TicketRef,
    patch: Annotated[TicketPatch, Body(embed=False)],
    if_match: http.IfMatch = None,
    x_correlation_id: http.CorrelationId = None,
) -> Response[Any]:
    who = http.principal(app)
    version = http.parse_if_match(if_match)
    correlation_id = http.correlation_id(app, x_correlation_id)

    def operation(uow: UnitOfWork) -> tuple[Ticket, dict[str, str]]:
        updated = service.update(
            uow, who, ticket_id, patch, if_match=version, correlation_id=correlation_id, now=http.now(app)
        )
        return updated, {"ETag": http.etag(updated.version)}

    return http.write(app, who, operation)


handler = entrypoints.http(app, "update_ticket")
