"""GET /routing-rules: the routing rules in position order (platform roles)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.routing import service
from shared.routing.rules import RoutingRulePage
from shared.runtime import entrypoints
from shared.tickets.models import DEFAULT_PAGE_LIMIT

app = http.make_app()


@app.get(
    "/routing-rules",
    operation_id="list_routing_rules",
    summary="The routing rules, in order",
    description="Every rule, enabled or not, in ascending `position`: the order in which a new ticket is"
    " tested against them. Platform roles only (403 otherwise). Pages: send `next_cursor` back as"
    " `cursor` until it is null.",
    tags=["routing"],
    security=http.BEARER,
    responses={
        **http.success(200, RoutingRulePage, "A page of rules."),
        **http.problems(*http.ALWAYS, *http.AUTHORIZED, *http.DATABASE),
    },
)
def list_routing_rules(
    limit: http.LimitQuery = DEFAULT_PAGE_LIMIT, cursor: http.CursorQuery = None
) -> Response[Any]:
    who = http.principal(app)
    result = http.read(who, lambda uow: service.list_rules(uow, who, limit=limit, cursor=cursor))
    return http.page_response(result)


handler = entrypoints.http(app, "list_routing_rules")
