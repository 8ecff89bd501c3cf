"""DELETE /calendars/{calendar_id}: delete a calendar (platform admins)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.db import UnitOfWork
from shared.runtime import entrypoints
from shared.sla import policies
from shared.sla.model import Calendar

app = http.make_app()


@app.delete(
    "/calendars/<calendar_id>",
    operation_id="delete_calendar",
    summary="Delete a calendar",
    description="Platform admins only (403 otherwise). A calendar a policy uses, and the default `24x7`,"
    " cannot be deleted (409, naming the policies). The change is recorded in the"
    " configuration log.",
    tags=["sla"],
    security=http.BEARER,
    responses={
        **http.success(200, Calendar, "The calendar as it was before it was deleted."),
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
def delete_calendar(
    calendar_id: http.CalendarRef, x_correlation_id: http.CorrelationId = None
) -> Response[Any]:
    who = http.principal(app)
    correlation_id = http.correlation_id(app, x_correlation_id)

    def operation(uow: UnitOfWork) -> tuple[Calendar, dict[str, str]]:
        deleted = policies.delete_calendar(
            uow, who, calendar_id, correlation_id=correlation_id, now=http.now(app)
        )
        return deleted, {}

    return http.write(app, who, operation)


handler = entrypoints.http(app, "delete_calendar")
