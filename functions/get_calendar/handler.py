"""GET /calendars/{calendar_id}: one calendar (platform roles); the ETag carries its version."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.runtime import entrypoints
from shared.sla import policies
from shared.sla.model import Calendar

app = http.make_app()


@app.get(
    "/calendars/<calendar_id>",
    operation_id="get_calendar",
    summary="Read one calendar",
    description="Platform roles only (403 otherwise).",
    tags=["sla"],
    security=http.BEARER,
    responses={
        **http.success(200, Calendar, "The calendar; its ETag is its version.", headers=http.CONFIG_ETAG),
        **http.problems(
            *http.ALWAYS, *http.AUTHORIZED, *http.SLA_CONFIG, *http.DATABASE, meaning=http.SLA_CONFIG_PROBLEMS
        ),
    },
)
def get_calendar(calendar_id: http.CalendarRef) -> Response[Any]:
    who = http.principal(app)
    found = http.read(who, lambda uow: policies.get_calendar(uow, who, calendar_id))
    return http.json_response(200, found, {"ETag": http.etag(found.version)})


handler = entrypoints.http(app, "get_calendar")
