"""DELETE /integrations/{integration_id}: revoke the integration's routing key (the row stays)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.db import UnitOfWork
from shared.intake import integrations
from shared.intake.integrations import Integration
from shared.runtime import entrypoints

app = http.make_app()


@app.delete(
    "/integrations/<integration_id>",
    operation_id="revoke_integration",
    summary="Revoke an integration's routing key",
    description="From now on POST /v2/enqueue refuses the integration's key (400 Invalid routing key), for"
    " good; the integration stays, revoked, for the audit log and the tickets it opened. Revoking it again"
    " changes nothing. Platform admins revoke any integration, tenant admins their tenant's.",
    tags=["integrations"],
    security=http.BEARER,
    responses={
        **http.success(200, Integration, "The integration, revoked."),
        **http.problems(
            *http.ALWAYS,
            *http.AUTHORIZED,
            *http.INTEGRATION,
            *http.SIBLING_METHODS,
            *http.WRITES,
            *http.DATABASE,
            meaning=http.INTEGRATION_PROBLEMS,
        ),
    },
)
def revoke_integration(
    integration_id: http.IntegrationId, x_correlation_id: http.CorrelationId = None
) -> Response[Any]:
    who = http.principal(app)
    correlation_id = http.correlation_id(app, x_correlation_id)

    def operation(uow: UnitOfWork) -> tuple[Integration, dict[str, str]]:
        revoked = integrations.revoke(
            uow, who, integration_id, now=http.now(app), correlation_id=correlation_id
        )
        return revoked, {}

    return http.write(app, who, operation)


handler = entrypoints.http(app, "revoke_integration")
