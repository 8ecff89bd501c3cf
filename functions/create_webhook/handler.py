"""POST /webhooks: register a webhook endpoint; its signing secret is shown this once."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from shared import http
from shared.db import UnitOfWork
from shared.runtime import entrypoints
from shared.webhooks import endpoints
from shared.webhooks.model import WebhookCreate, WebhookWithSecret

app = http.make_app()
SPEC = entrypoints.spec_of("create_webhook")


@app.post(
    "/webhooks",
    operation_id="create_webhook",
    summary="Register a webhook endpoint (its signing secret shown once)",
    description="Tenant admins register endpoints for their own tenant: they receive that tenant's"
    " tickets' events as the tenant sees them (never internal comments, internal events or platform-only"
    " tickets). Platform admins register endpoints for every tenant's tickets (no `tenant_id`) or for"
    " one. The URL must be https, and every address its host resolves to public: a loopback, private,"
    " link-local, CGNAT, multicast or metadata address is a 422 (it is checked again at each delivery)."
    " The answer carries the endpoint's signing `secret` (`whsec_...`), shown only this once. No"
    " Idempotency-Key: a replay would have to store the secret.",
    tags=["webhooks"],
    security=http.BEARER,
    responses={
        **http.success(
            201,
            WebhookWithSecret,
            "The new endpoint, with its signing secret (shown only now).",
            headers={**http.LOCATION, **http.WEBHOOK_ETAG},
            links={
                operation: {"operationId": operation, "parameters": {"webhook_id": "$response.body#/id"}}
                for operation in ("get_webhook", "update_webhook", "rotate_webhook_secret", "pause_webhook")
            },
        ),
        **http.problems(
            *http.ALWAYS,
            *http.AUTHORIZED,
            *http.BODY,
            *http.WRITES,
            *http.DATABASE,
            meaning=http.WEBHOOK_PROBLEMS,
        ),
    },
)
def create_webhook(
    webhook: Annotated[WebhookCreate, Body(embed=False)],
    x_correlation_id: http.CorrelationId = None,
) -> Response[Any]:
    who = http.principal(app)
    correlation_id = http.correlation_id(app, x_correlation_id)
    policy = entrypoints.webhook_url_policy(SPEC)

    def operation(uow: UnitOfWork) -> tuple[WebhookWithSecret, dict[str, str]]:
        created = endpoints.create(
            uow, who, webhook, url_policy=policy, now=http.now(app), correlation_id=correlation_id
        )
        return created, {"Location": f"/webhooks/{created.id}", "ETag": http.etag(created.version)}

    return http.write(app, who, operation, status=201)


handler = entrypoints.http(app, "create_webhook")
