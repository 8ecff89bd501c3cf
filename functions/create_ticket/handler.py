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


@app.post(
    "/tickets",
    operation_id="create_ticket",
    summary="Open a ticket",
    description="Tenant roles open tickets in their own tenant (a `tenant_id` may name only it), visible to"
    " the tenant; `visibility`, `assignee` and `queue` are for platform roles (403 otherwise). A platform"
    " role's ticket without a `tenant_id` is platform-only. Text is trimmed; tags are kept once each.",
    tags=["tickets"],
    security=http.BEARER,
    responses={
        **http.success(
            201,
            Ticket,
            "The new ticket, in state new.",
            headers={**http.LOCATION, **http.ETAG, **http.REPLAYED},
            links=http.ticket_links(
                "$response.body#/id",
                reads=("get_ticket", "add_comment", "list_comments", "list_events"),
                changes=("update_ticket", "transition_ticket"),
            ),
        ),
        **http.problems(*http.ALWAYS, *http.AUTHORIZED, *http.BODY, *http.WRITES, *http.DATABASE),
    },
)
def create_ticket(
    ticket: Annotated[TicketCreate, Body(embed=False)],
    idempotency_key: http.IdempotencyKey = None,
    x_correlation_id: http.CorrelationId = None,
) -> Response[Any]:
    who = http.principal(app)
    correlation_id = http.correlation_id(app, x_correlation_id)

    def operation(uow: UnitOfWork) -> tuple[Ticket, dict[str, str]]:
        created = service.create(uow, who, ticket, correlation_id=correlation_id, now=http.now(app))
        return created, {"Location": f"/tickets/{created.id}", "ETag": http.etag(created.version)}

    return http.write(app, who, operation, status=201, idempotency_key=idempotency_key)


handler = entrypoints.http(app, "create_ticket")
