"""GET /integrations/{integration_id}: one integration (never its routing key)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.intake import integrations
from shared.intake.integrations import Integration
from shared.runtime import entrypoints

app = http.make_app()


@app.get(
    "/integrations/<integration_id>",
    operation_id="get_integration",
    summary="Read one integration",
    description="Platform admins and operators read every integration, tenant admins their tenant's;"
    " another tenant's is a 404. The routing key is not shown, only its last four characters.",
    tags=["integrations"],
    security=http.BEARER,
    responses={
        **http.success(200, Integration, "The integration."),
        **http.problems(
            *http.ALWAYS,
            *http.AUTHORIZED,
            *http.INTEGRATION,
            *http.DATABASE,
            meaning=http.INTEGRATION_PROBLEMS,
        ),
    },
)
def get_integration(integration_id: http.IntegrationId) -> Response[Any]:
    who = http.principal(app)
    found = http.read(who, lambda uow: integrations.get(uow, who, integration_id))
    return http.json_response(200, found)


handler = entrypoints.http(app, "get_integration")
