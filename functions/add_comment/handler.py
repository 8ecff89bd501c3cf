"""POST /tickets/{ticket_id}/comments: comment publicly, or internally (platform roles)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from shared.db import Connection
from shared.http import app as api
from shared.tickets import comments
from shared.tickets.models import Comment, CommentCreate

app = api.make_app()


@app.post("/tickets/<ticket_id>/comments")
def add_comment(ticket_id: str, comment: Annotated[CommentCreate, Body(embed=False)]) -> Response[Any]:
    who = api.principal(app)
    correlation_id = api.correlation_id(app)

    def operation(conn: Connection) -> tuple[Comment, dict[str, str]]:
        added = comments.add(conn, who, ticket_id, comment, correlation_id=correlation_id)
        return added, {"Location": f"/tickets/{added.ticket_id}/comments"}

    return api.write(app, who, operation, status=201)


handler = api.entrypoint(app)
