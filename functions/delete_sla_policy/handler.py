"""DELETE /sla-policies/{policy_id}: delete an SLA policy (platform admins)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.db import UnitOfWork
from shared.runtime import entrypoints
from shared.sla import policies
from shared.sla.model import SlaPolicy

app = http.make_app()


@app.delete(
    "/sla-policies/<policy_id>",
    operation_id="delete_sla_policy",
    summary="Delete an SLA policy",
    description="Platform admins only (403 otherwise). New tickets no longer get it; clocks computed with"
    " it keep their targets (a snapshot). The change is recorded in the configuration log.",
    tags=["sla"],
    security=http.BEARER,
    responses={
        **http.success(200, SlaPolicy, "The SLA policy as it was before it was deleted."),
        **http.problems(
            *http.ALWAYS,
            *http.AUTHORIZED,
            *http.SLA_CONFIG,
            *http.SIBLING_METHODS,
            *http.WRITES,
            *http.DATABASE,
            meaning=http.SLA_CONFIG_PROBLEMS,
        ),
    },
)
def delete_sla_policy(
    policy_id: http.SlaPolicyRef, x_correlation_id: http.CorrelationId = None
) -> Response[Any]:
    who = http.principal(app)
    correlation_id = http.correlation_id(app, x_correlation_id)

    def operation(uow: UnitOfWork) -> tuple[SlaPolicy, dict[str, str]]:
        deleted = policies.delete_policy(
            uow, who, policy_id, correlation_id=correlation_id, now=http.now(app)
        )
        return deleted, {}

    return http.write(app, who, operation)


handler = entrypoints.http(app, "delete_sla_policy")
