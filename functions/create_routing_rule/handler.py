"""POST /routing-rules: add a routing rule (platform admins; Idempotency-Key honoured)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from shared import http
from shared.db import UnitOfWork
from shared.routing import service
from shared.routing.rules import RoutingRule, RoutingRuleWrite
from shared.runtime import entrypoints

app = http.make_app()


@app.post(
    "/routing-rules",
    operation_id="create_routing_rule",
    summary="Add a routing rule",
    description="Platform admins only (403 otherwise). Without a `position` the rule goes after the last one"
    " (at the next multiple of 10); a position another rule holds is a 409. A condition or action this"
    " service does not know, or a regular expression RE2 cannot compile, is a 422 whose `errors` locate"
    " it (e.g. `body, conditions, all, 0, field`). The change is recorded in the configuration log.",
    tags=["routing"],
    security=http.BEARER,
    responses={
        **http.success(
            201, RoutingRule, "The new rule.", headers={**http.LOCATION, **http.RULE_ETAG, **http.REPLAYED}
        ),
        **http.problems(
            *http.ALWAYS,
            *http.AUTHORIZED,
            *http.BODY,
            *http.WRITES,
            *http.DATABASE,
            meaning=http.RULE_PROBLEMS,
        ),
    },
)
def create_routing_rule(
    rule: Annotated[RoutingRuleWrite, Body(embed=False)],
    idempotency_key: http.IdempotencyKey = None,
    x_correlation_id: http.CorrelationId = None,
) -> Response[Any]:
    who = http.principal(app)
    correlation_id = http.correlation_id(app, x_correlation_id)

    def operation(uow: UnitOfWork) -> tuple[RoutingRule, dict[str, str]]:
        created = service.create(uow, who, rule, correlation_id=correlation_id, now=http.now(app))
        return created, {"Location": f"/routing-rules/{created.id}", "ETag": http.etag(created.version)}

    return http.write(app, who, operation, status=201, idempotency_key=idempotency_key)


handler = entrypoints.http(app, "create_routing_rule")
