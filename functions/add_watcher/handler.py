"""POST /tickets/{ticket_id}/watchers: watch a ticket (or, platform roles, make someone watch it)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from shared import http
from shared.db import UnitOfWork
from shared.notify import watchers
from shared.notify.model import Watcher, WatcherAdd
from shared.runtime import entrypoints

app = http.make_app()


@app.post(
    "/tickets/<ticket_id>/watchers",
    operation_id="add_watcher",
    summary="Watch a ticket",
    description="Anyone who may see the ticket may watch it, with the address its e-mails go to (201)."
    " Platform roles may make someone else watch it (`subject`): a tenant person of the ticket's tenant"
    " (`tenant_id`; only public content is ever e-mailed to them) or, without `tenant_id`, a platform"
    " person; a tenant role naming anyone else is a 403. A platform-only ticket has platform watchers"
    " only (422). Watching again changes the address (200).",
    tags=["notifications"],
    security=http.BEARER,
    responses={
        **http.success(201, Watcher, "The new watcher.", headers={**http.LOCATION, **http.REPLAYED}),
        **http.success(200, Watcher, "Already watching: the watcher, with its new address."),
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
def add_watcher(
    ticket_id: http.TicketRef,
    request: Annotated[WatcherAdd, Body(embed=False)],
    idempotency_key: http.IdempotencyKey = None,
) -> Response[Any]:
    who = http.principal(app)
    created = False

    def operation(uow: UnitOfWork) -> tuple[Watcher, dict[str, str]]:
        nonlocal created
        watcher, created = watchers.add(uow, who, ticket_id, request, now=http.now(app))
        return watcher, {"Location": f"/tickets/{watcher.ticket_id}/watchers"}

    response = http.write(app, who, operation, status=201, idempotency_key=idempotency_key)
    if not created and "Idempotent-Replayed" not in response.headers:
        response.status_code = 200  # already watching (a replay keeps the stored 201)
    return response


handler = entrypoints.http(app, "add_watcher")
