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


@app.post("/tickets/<ticket_id>/comments")
def add_comment(ticket_id: str, comment: Annotated[CommentCreate, Body(embed=False)]) -> Response[Any]:
    who = http.principal(app)
    correlation_id = http.correlation_id(app)

    def operation(uow: UnitOfWork) -> tuple[Comment, dict[str, str]]:
        added = service.add_comment(
            uow, who, ticket_id, comment, correlation_id=correlation_id, now=http.now(app)
        )
        return added, {"Location": f"/tickets/{added.ticket_id}/comments"}

    return http.write(app, who, operation, status=201)


handler = entrypoints.http(app, "add_comment")
