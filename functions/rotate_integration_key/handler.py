"""POST /integrations/{integration_id}/rotate-key: a new routing key (shown this once); the old one
stops working at once."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.db import UnitOfWork
from shared.intake import integrations
from shared.intake.integrations import IntegrationWithKey
from shared.runtime import entrypoints

app = http.make_app()


@app.post(
    "/integrations/<integration_id>/rotate-key",
    operation_id="rotate_integration_key",
    summary="Replace an integration's routing key",
    description="The answer carries the new `routing_key`, shown only this once; the old key is refused"
    " from now on. A revoked integration cannot be re-keyed (409). No body; no Idempotency-Key (a replay"
    " would have to store the key). Platform admins re-key any integration, tenant admins their tenant's.",
    tags=["integrations"],
    security=http.BEARER,
    responses={
        **http.success(200, IntegrationWithKey, "The integration with its new routing key (shown only now)."),
        **http.problems(
            *http.ALWAYS,
            *http.AUTHORIZED,
            413,  # no body is read, but the door refuses one it cannot (too large, not JSON)
            415,
            *http.INTEGRATION,
            *http.SIBLING_METHODS,
            *http.WRITES,
            *http.DATABASE,
            meaning=http.INTEGRATION_PROBLEMS,
        ),
    },
)
def rotate_integration_key(
    integration_id: http.IntegrationId, x_correlation_id: http.CorrelationId = None
) -> Response[Any]:
    who = http.principal(app)
    correlation_id = http.correlation_id(app, x_correlation_id)

    def operation(uow: UnitOfWork) -> tuple[IntegrationWithKey, dict[str, str]]:
        rotated = integrations.rotate_key(
            uow, who, integration_id, now=http.now(app), correlation_id=correlation_id
        )
        return rotated, {}

    return http.write(app, who, operation)


handler = entrypoints.http(app, "rotate_integration_key")
