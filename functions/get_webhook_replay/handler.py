"""GET /webhooks/{webhook_id}/replays/{job_id}: a replay job's progress."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.runtime import entrypoints
from shared.webhooks import deliveries
from shared.webhooks.model import ReplayJob

app = http.make_app()


@app.get(
    "/webhooks/<webhook_id>/replays/<job_id>",
    operation_id="get_webhook_replay",
    summary="A replay job's progress",
    description="queued, running or completed; how many deliveries matched (`total`) and how many have"
    " been sent again (`replayed`).",
    tags=["webhooks"],
    security=http.BEARER,
    responses={
        **http.success(200, ReplayJob, "The job."),
        **http.problems(
            *http.ALWAYS,
            *http.AUTHORIZED,
            *http.WEBHOOK,
            *http.SIBLING_METHODS,
            *http.DATABASE,
            meaning=http.DELIVERY_PROBLEMS,
        ),
    },
)
def get_webhook_replay(webhook_id: http.WebhookId, job_id: http.ReplayJobId) -> Response[Any]:
    who = http.principal(app)
    job = http.read(who, lambda uow: deliveries.get_replay(uow, who, webhook_id, job_id))
    return http.json_response(200, job)


handler = entrypoints.http(app, "get_webhook_replay")
