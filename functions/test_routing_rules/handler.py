"""POST /routing-rules/test: the dry run: which rules a sample ticket or event matches, and the
fields it would end with. Writes nothing."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from shared import http
from shared.routing import service
from shared.routing.rules import RoutingTestRequest, RoutingTestResult
from shared.runtime import entrypoints

app = http.make_app()


@app.post(
    "/routing-rules/test",
    operation_id="test_routing_rules",
    summary="Try the routing rules on a sample (dry run)",
    description="Routes a sample ticket (and the event that opened it, if any) through the enabled rules as"
    " a new ticket would be, and answers every rule whose condition holds (`applied` false when an"
    " earlier rule stopped matching first) and the resulting queue, assignee, priority, visibility,"
    " tags and SLA policy. Nothing is written. Platform roles only (403 otherwise). The sample's own"
    " values count as defaults here: at creation a platform user's explicit queue, assignee, priority"
    " or visibility would be kept.",
    tags=["routing"],
    security=http.BEARER,
    responses={
        **http.success(200, RoutingTestResult, "What the rules would do to the sample."),
        **http.problems(
            *http.ALWAYS, *http.AUTHORIZED, *http.BODY, *http.DATABASE, meaning=http.RULE_PROBLEMS
        ),
    },
)
def test_routing_rules(sample: Annotated[RoutingTestRequest, Body(embed=False)]) -> Response[Any]:
    who = http.principal(app)
    result = http.read(who, lambda uow: service.dry_run(uow, who, sample))
    return http.json_response(200, result)


handler = entrypoints.http(app, "test_routing_rules")
