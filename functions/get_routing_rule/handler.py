"""GET /routing-rules/{rule_id}: one routing rule (platform roles); the ETag carries its version."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.routing import service
from shared.routing.rules import RoutingRule
from shared.runtime import entrypoints

app = http.make_app()


@app.get(
    "/routing-rules/<rule_id>",
    operation_id="get_routing_rule",
    summary="Read one routing rule",
    description="Platform roles only (403 otherwise). A deleted rule is a 404.",
    tags=["routing"],
    security=http.BEARER,
    responses={
        **http.success(200, RoutingRule, "The rule; its ETag is its version.", headers=http.RULE_ETAG),
        **http.problems(
            *http.ALWAYS, *http.AUTHORIZED, *http.RULE, *http.DATABASE, meaning=http.RULE_PROBLEMS
        ),
    },
)
def get_routing_rule(rule_id: http.RuleRef) -> Response[Any]:
    who = http.principal(app)
    rule = http.read(who, lambda uow: service.get(uow, who, rule_id))
    return http.json_response(200, rule, {"ETag": http.etag(rule.version)})


handler = entrypoints.http(app, "get_routing_rule")
