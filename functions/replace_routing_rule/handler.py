"""PUT /routing-rules/{rule_id}: replace a routing rule (platform admins); If-Match on its version."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from shared import http
from shared.db import UnitOfWork
from shared.routing import service
from shared.routing.rules import RoutingRule, RoutingRuleWrite
from shared.runtime import entrypoints

app = http.make_app()


@app.put(
    "/routing-rules/<rule_id>",
    operation_id="replace_routing_rule",
    summary="Replace a routing rule (If-Match on its version)",
    description="The rule becomes the body, whole; without a `position` it keeps its place. Platform admins"
    " only (403 otherwise). A position another rule holds is a 409; a stale If-Match a 412; an unknown"
    " condition or action, or a regular expression RE2 cannot compile, a 422 locating it. The next new"
    " ticket is routed by the new rule. The change (before and after) is recorded in the configuration log.",
    tags=["routing"],
    security=http.BEARER,
    responses={
        **http.success(
            200, RoutingRule, "The rule as replaced; its ETag is its new version.", headers=http.RULE_ETAG
        ),
        **http.problems(
            *http.ALWAYS,
            *http.AUTHORIZED,
            *http.BODY,
            *http.RULE,
            *http.SIBLING_METHODS,
            *http.WRITES,
            412,
            *http.DATABASE,
            meaning=http.RULE_PROBLEMS,
        ),
    },
)
def replace_routing_rule(
    rule_id: http.RuleRef,
    rule: Annotated[RoutingRuleWrite, Body(embed=False)],
    if_match: http.RuleIfMatch = None,
    x_correlation_id: http.CorrelationId = None,
) -> Response[Any]:
    who = http.principal(app)
    version = http.parse_if_match(if_match)
    correlation_id = http.correlation_id(app, x_correlation_id)

    def operation(uow: UnitOfWork) -> tuple[RoutingRule, dict[str, str]]:
        replaced = service.replace(
            uow, who, rule_id, rule, if_match=version, correlation_id=correlation_id, now=http.now(app)
        )
        return replaced, {"ETag": http.etag(replaced.version)}

    return http.write(app, who, operation)


handler = entrypoints.http(app, "replace_routing_rule")
