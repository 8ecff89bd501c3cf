"""POST /webhooks/{webhook_id}/replay: send again a time range of an endpoint's deliveries (a job)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from shared import http
from shared.db import UnitOfWork
from shared.runtime import entrypoints
from shared.webhooks import deliveries
from shared.webhooks.model import ReplayJob, ReplayRequest

app = http.make_app()


@app.post(
    "/webhooks/<webhook_id>/replay",
    operation_id="replay_webhook",
    summary="Send again an endpoint's deliveries of a time range (a background job)",
    description="Every delivery made in [`since`, `until`) (only those in `status`, if given) is sent"
    " again, with its own body and webhook-id, by a background job: 202 with the job, whose progress"
    " `GET /webhooks/{webhook_id}/replays/{job_id}` (the Location header) shows. Use it once an endpoint"
    " has recovered (runbook: Webhook Failures). Deliveries are kept 30 days. With an Idempotency-Key,"
    " a repeat of the request returns the same job.",
    tags=["webhooks"],
    security=http.BEARER,
    responses={
        **http.success(202, ReplayJob, "The replay job, queued.", headers={**http.LOCATION, **http.REPLAYED}),
        **http.problems(
            *http.ALWAYS,
            *http.AUTHORIZED,
            *http.BODY,
            *http.WEBHOOK,
            *http.SIBLING_METHODS,
            *http.WRITES,
            *http.DATABASE,
            meaning=http.DELIVERY_PROBLEMS,
        ),
    },
)
def replay_webhook(
    webhook_id: http.WebhookId,
    request: Annotated[ReplayRequest, Body(embed=False)],
    idempotency_key: http.IdempotencyKey = None,
) -> Response[Any]:
    who = http.principal(app)

    def operation(uow: UnitOfWork) -> tuple[ReplayJob, dict[str, str]]:
        job = deliveries.start_replay(uow, who, webhook_id, request, now=http.now(app))
        return job, {"Location": f"/webhooks/{job.webhook_id}/replays/{job.id}"}

    return http.write(app, who, operation, status=202, idempotency_key=idempotency_key)


handler = entrypoints.http(app, "replay_webhook")
