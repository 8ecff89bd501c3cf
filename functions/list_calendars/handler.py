"""GET /calendars: the calendars (platform roles)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.runtime import entrypoints
from shared.sla import policies
from shared.sla.model import CalendarPage
from shared.tickets.models import DEFAULT_PAGE_LIMIT

app = http.make_app()


@app.get(
    "/calendars",
    operation_id="list_calendars",
    summary="The business calendars",
    description="Every business calendar, by id (`24x7` is the default). Platform roles only (403"
    " otherwise). Pages: send `next_cursor` back as `cursor` until it is null.",
    tags=["sla"],
    security=http.BEARER,
    responses={
        **http.success(200, CalendarPage, "A page of calendars."),
        **http.problems(*http.ALWAYS, *http.AUTHORIZED, *http.DATABASE),
    },
)
def list_calendars(
    limit: http.LimitQuery = DEFAULT_PAGE_LIMIT, cursor: http.CursorQuery = None
) -> Response[Any]:
    who = http.principal(app)
    result = http.read(who, lambda uow: policies.list_calendars(uow, who, limit=limit, cursor=cursor))
    return http.page_response(result)


handler = entrypoints.http(app, "list_calendars")
