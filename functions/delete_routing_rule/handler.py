"""DELETE /routing-rules/{rule_id}: delete a routing rule (platform admins)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.db import UnitOfWork
from shared.routing import service
from shared.routing.rules import RoutingRule
from shared.runtime import entrypoints

app = http.make_app()


@app.delete(
    "/routing-rules/<rule_id>",
    operation_id="delete_routing_rule",
    summary="Delete a routing rule",
    description="Platform admins only (403 otherwise). The rule stops applying at once and its position is"
    " free again; tickets it routed keep naming it. The change is recorded in the configuration log.",
    tags=["routing"],
    security=http.BEARER,
    responses={
        **http.success(200, RoutingRule, "The rule as it was before it was deleted."),
        **http.problems(
            *http.ALWAYS,
            *http.AUTHORIZED,
            *http.RULE,
            *http.SIBLING_METHODS,
            *http.DATABASE,
            meaning=http.RULE_PROBLEMS,
        ),
    },
)
def delete_routing_rule(rule_id: http.RuleRef, x_correlation_id: http.CorrelationId = None) -> Response[Any]:
    who = http.principal(app)
    correlation_id = http.correlation_id(app, x_correlation_id)

    def operation(uow: UnitOfWork) -> tuple[RoutingRule, dict[str, str]]:
        deleted = service.delete(uow, who, rule_id, correlation_id=correlation_id, now=http.now(app))
        return deleted, {}

    return http.write(app, who, operation)


handler = entrypoints.http(app, "delete_routing_rule")
