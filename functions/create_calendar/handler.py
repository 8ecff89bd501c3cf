"""POST /calendars: add a business calendar (platform admins; Idempotency-Key honoured)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from shared import http
from shared.db import UnitOfWork
from shared.runtime import entrypoints
from shared.sla import policies
from shared.sla.model import Calendar, CalendarWrite

app = http.make_app()


@app.post(
    "/calendars",
    operation_id="create_calendar",
    summary="Add a business calendar",
    description="Platform admins only (403 otherwise). An unknown IANA `time_zone`, overlapping, empty or"
    " malformed intervals, a date that does not exist, an unknown holiday country or"
    " subdivision is a 422 whose `errors` locate it. A country's holidays are generated with"
    " the `holidays` package for `years` (default: this year and the next two) and stored with"
    " the explicit dates in `holiday_dates`. The change is recorded in the configuration log.",
    tags=["sla"],
    security=http.BEARER,
    responses={
        **http.success(
            201, Calendar, "The new calendar.", headers={**http.LOCATION, **http.CONFIG_ETAG, **http.REPLAYED}
        ),
        **http.problems(
            *http.ALWAYS,
            *http.AUTHORIZED,
            *http.BODY,
            *http.WRITES,
            *http.DATABASE,
            meaning=http.SLA_CONFIG_PROBLEMS,
        ),
    },
)
def create_calendar(
    body: Annotated[CalendarWrite, Body(embed=False)],
    idempotency_key: http.IdempotencyKey = None,
    x_correlation_id: http.CorrelationId = None,
) -> Response[Any]:
    who = http.principal(app)
    correlation_id = http.correlation_id(app, x_correlation_id)

    def operation(uow: UnitOfWork) -> tuple[Calendar, dict[str, str]]:
        created = policies.create_calendar(uow, who, body, correlation_id=correlation_id, now=http.now(app))
        return created, {"Location": f"/calendars/{created.id}", "ETag": http.etag(created.version)}

    return http.write(app, who, operation, status=201, idempotency_key=idempotency_key)


handler = entrypoints.http(app, "create_calendar")
