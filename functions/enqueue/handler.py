"""POST /v2/enqueue: an event in PagerDuty's Events API v2, authenticated by its routing key."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from shared import http
from shared.auth import Principal
from shared.http import pagerduty as pagerduty_http
from shared.intake import integrations
from shared.intake.pagerduty import PagerDutyEvent
from shared.runtime import entrypoints

app = pagerduty_http.make_app()
SERVICE = Principal.system("enqueue")


@app.post(
    "/v2/enqueue",
    operation_id="enqueue",
    summary="Send an event (PagerDuty Events API v2)",
    description="PagerDuty's Events API v2: any monitoring tool with a PagerDuty integration sends here by"
    " changing only its URL. No token: the `routing_key` of an integration (`POST /integrations`)"
    " authenticates the event, and its tickets open in the integration's tenant (none: platform-wide)."
    " The event is queued for intake (202) and opens, repeats, acknowledges or resolves an incident."
    " Answers are PagerDuty's: 400 `invalid event` (also for an unknown or revoked routing key), 429 past"
    " the key's events per minute (120 unless configured). Bodies are at most 512 KB, read as JSON"
    " whatever their Content-Type.",
    tags=["intake"],
    responses={
        **pagerduty_http.responses(),
        **http.problems(500, *http.DATABASE),
    },
)
def enqueue(event: Annotated[PagerDutyEvent, Body(embed=False)]) -> Response[Any]:
    received_at = http.now(app)
    dedup_key = http.read(
        SERVICE,
        lambda uow: integrations.enqueue(
            uow, event.root, received_at=received_at, default_limit=pagerduty_http.rate_limit(app)
        ),
    )
    return pagerduty_http.accepted(dedup_key)


handler = entrypoints.http(app, "enqueue", door=pagerduty_http.door)
