"""POST /integrations: a new integration, with its routing key (shown this once)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from shared import http
from shared.db import UnitOfWork
from shared.intake import integrations
from shared.intake.integrations import IntegrationCreate, IntegrationWithKey
from shared.runtime import entrypoints

app = http.make_app()


@app.post(
    "/integrations",
    operation_id="create_integration",
    summary="Create an integration and its routing key",
    description="Platform admins create integrations for any tenant or, without a `tenant_id`, for"
    " platform-wide events; tenant admins for their own tenant only (without a `queue` or a rate limit)."
    " The answer carries the integration's `routing_key`, for `POST /v2/enqueue`: it is shown only this"
    " once, and only its last four characters are kept (`routing_key_hint`). No Idempotency-Key: a"
    " replay would have to store the key.",
    tags=["integrations"],
    security=http.BEARER,
    responses={
        **http.success(
            201,
            IntegrationWithKey,
            "The new integration, with its routing key (shown only now).",
            headers=http.LOCATION,
            links={
                operation: {"operationId": operation, "parameters": {"integration_id": "$response.body#/id"}}
                for operation in ("get_integration", "revoke_integration", "rotate_integration_key")
            },
        ),
        **http.problems(
            *http.ALWAYS,
            *http.AUTHORIZED,
            *http.BODY,
            *http.WRITES,
            *http.DATABASE,
            meaning=http.INTEGRATION_PROBLEMS,
        ),
    },
)
def create_integration(
    integration: Annotated[IntegrationCreate, Body(embed=False)],
    x_correlation_id: http.CorrelationId = None,
) -> Response[Any]:
    who = http.principal(app)
    correlation_id = http.correlation_id(app, x_correlation_id)

    def operation(uow: UnitOfWork) -> tuple[IntegrationWithKey, dict[str, str]]:
        created = integrations.create(uow, who, integration, now=http.now(app), correlation_id=correlation_id)
        return created, {"Location": f"/integrations/{created.id}"}

    return http.write(app, who, operation, status=201)


handler = entrypoints.http(app, "create_integration")
