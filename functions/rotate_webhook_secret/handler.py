"""POST /webhooks/{webhook_id}/rotate-secret: a new signing secret, shown this once; the previous one
signs too for 24 hours."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.db import UnitOfWork
from shared.runtime import entrypoints
from shared.webhooks import endpoints
from shared.webhooks.model import WebhookWithSecret

app = http.make_app()


@app.post(
    "/webhooks/<webhook_id>/rotate-secret",
    operation_id="rotate_webhook_secret",
    summary="Replace an endpoint's signing secret (the old one signs for 24 hours more)",
    description="The answer carries the new `secret`, shown only this once. For 24 hours after a rotation"
    " both the previous and the new secret sign: `webhook-signature` carries both signatures,"
    " space-separated, so a receiver can switch at its own pace. Rotating again within those 24 hours"
    " drops the oldest. No body; no Idempotency-Key (a replay would have to store the secret).",
    tags=["webhooks"],
    security=http.BEARER,
    responses={
        **http.success(
            200,
            WebhookWithSecret,
            "The endpoint with its new signing secret (shown only now).",
            headers=http.WEBHOOK_ETAG,
        ),
        **http.problems(
            *http.ALWAYS,
            *http.AUTHORIZED,
            413,  # no body is read, but the door refuses one it cannot (too large, not JSON)
            415,
            *http.WEBHOOK,
            *http.SIBLING_METHODS,
            *http.WRITES,
            *http.DATABASE,
            meaning=http.WEBHOOK_PROBLEMS,
        ),
    },
)
def rotate_webhook_secret(
    webhook_id: http.WebhookId, x_correlation_id: http.CorrelationId = None
) -> Response[Any]:
    who = http.principal(app)
    correlation_id = http.correlation_id(app, x_correlation_id)

    def operation(uow: UnitOfWork) -> tuple[WebhookWithSecret, dict[str, str]]:
        rotated = endpoints.rotate_secret(
            uow, who, webhook_id, now=http.now(app), correlation_id=correlation_id
        )
        return rotated, {"ETag": http.etag(rotated.version)}

    return http.write(app, who, operation)


handler = entrypoints.http(app, "rotate_webhook_secret")
