"""POST /tickets/{ticket_id}/comments: comment publicly, or internally (platform roles)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from shared import http
from shared.db import UnitOfWork
from shared.runtime import entrypoints
from shared.tickets import service
from shared.tickets.models import Comment, CommentCreate

app = http.make_app()


@app.post(
    "/tickets/<ticket_id>/comments",
    operation_id="add_comment",
    summary="Comment on a ticket",
    description="Everyone who may read the ticket may comment publicly; internal comments are for platform"
    " roles (403) and only they read them. A comment does not change the ticket's version (ETag).",
    tags=["comments"],
    security=http.BEARER,
    responses={
        **http.success(201, Comment, "The new comment.", headers={**http.LOCATION, **http.REPLAYED}),
        **http.problems(
            *http.ALWAYS,
            *http.AUTHORIZED,
            *http.BODY,
            *http.TICKET,
            *http.SIBLING_METHODS,
            *http.WRITES,
            *http.DATABASE,
        ),
    },
)
def add_comment(
    ticket_id: http.TicketRef,
    comment: Annotated[CommentCreate, Body(embed=False)],
    idempotency_key: http.IdempotencyKey = None,
    x_correlation_id: http.CorrelationId = None,
) -> Response[Any]:
    who = http.principal(app)
    correlation_id = http.correlation_id(app, x_correlation_id)

    def operation(uow: UnitOfWork) -> tuple[Comment, dict[str, str]]:
        added = service.add_comment(
            uow, who, ticket_id, comment, correlation_id=correlation_id, now=http.now(app)
        )
        return added, {"Location": f"/tickets/{added.ticket_id}/comments"}

    return http.write(app, who, operation, status=201, idempotency_key=idempotency_key)


handler = entrypoints.http(app, "add_comment")
