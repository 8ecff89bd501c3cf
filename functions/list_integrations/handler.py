"""GET /integrations: keyset pages of the integrations the caller may read, newest first."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.intake import integrations
from shared.intake.integrations import IntegrationPage, IntegrationQuery
from shared.kernel import pagination
from shared.runtime import entrypoints
from shared.tickets.models import DEFAULT_PAGE_LIMIT

app = http.make_app()


@app.get(
    "/integrations",
    operation_id="list_integrations",
    summary="List integrations",
    description="Newest first. Platform admins and operators see every integration (or one tenant's:"
    " `tenant_id`), tenant admins their tenant's; tenant users none (403). Routing keys are never shown"
    " again, only their last four characters. Pages: send `next_cursor` back as `cursor`, with the same"
    " other parameters, until it is null.",
    tags=["integrations"],
    security=http.BEARER,
    responses={
        **http.success(200, IntegrationPage, "A page of integrations."),
        **http.problems(*http.ALWAYS, *http.AUTHORIZED, *http.DATABASE, meaning=http.INTEGRATION_PROBLEMS),
    },
)
def list_integrations(
    tenant_id: http.IntegrationTenantQuery = None,
    status: http.IntegrationStatusQuery = None,
    limit: http.LimitQuery = DEFAULT_PAGE_LIMIT,
    cursor: http.CursorQuery = None,
) -> Response[Any]:
    who = http.principal(app)
    query = IntegrationQuery(tenant_id=tenant_id, status=status, limit=limit, cursor=cursor)
    page: pagination.Page = http.read(who, lambda uow: integrations.list_page(uow, who, query))
    return http.page_response(page)


handler = entrypoints.http(app, "list_integrations")
