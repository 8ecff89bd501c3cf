"""GET /sla-policies: the SLA policies (platform roles)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.runtime import entrypoints
from shared.sla import policies
from shared.sla.model import SlaPolicyPage
from shared.tickets.models import DEFAULT_PAGE_LIMIT

app = http.make_app()


@app.get(
    "/sla-policies",
    operation_id="list_sla_policies",
    summary="The SLA policies, in order",
    description="Every policy, enabled or not, in ascending `position`: the order in which a ticket is"
    " matched against them (the first enabled policy whose `match` holds applies; a routing"
    " rule's `sla_policy` wins over matching). Platform roles only (403 otherwise). Pages:"
    " send `next_cursor` back as `cursor` until it is null.",
    tags=["sla"],
    security=http.BEARER,
    responses={
        **http.success(200, SlaPolicyPage, "A page of policies."),
        **http.problems(*http.ALWAYS, *http.AUTHORIZED, *http.DATABASE),
    },
)
def list_sla_policies(
    limit: http.LimitQuery = DEFAULT_PAGE_LIMIT, cursor: http.CursorQuery = None
) -> Response[Any]:
    who = http.principal(app)
    result = http.read(who, lambda uow: policies.list_policies(uow, who, limit=limit, cursor=cursor))
    return http.page_response(result)


handler = entrypoints.http(app, "list_sla_policies")
