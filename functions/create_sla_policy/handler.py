"""POST /sla-policies: add an SLA policy (platform admins; Idempotency-Key honoured)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from shared import http
from shared.db import UnitOfWork
from shared.runtime import entrypoints
from shared.sla import policies
from shared.sla.model import SlaPolicy, SlaPolicyWrite

app = http.make_app()


@app.post(
    "/sla-policies",
    operation_id="create_sla_policy",
    summary="Add an SLA policy",
    description="Platform admins only (403 otherwise). `id` is yours to choose (routing rules'"
    " `sla_policy` names it) or generated; an id or a position another policy holds is a 409;"
    " without a `position` the policy goes after the last (at the next multiple of 10). A"
    " target of 0 or less, a policy without any target, an unknown `calendar_id` or escalation"
    " step is a 422 whose `errors` locate it. New tickets (and tickets whose priority,"
    " category or kind change) get it from the next second; the change is recorded in the"
    " configuration log.",
    tags=["sla"],
    security=http.BEARER,
    responses={
        **http.success(
            201,
            SlaPolicy,
            "The new SLA policy.",
            headers={**http.LOCATION, **http.CONFIG_ETAG, **http.REPLAYED},
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
def create_sla_policy(
    body: Annotated[SlaPolicyWrite, Body(embed=False)],
    idempotency_key: http.IdempotencyKey = None,
    x_correlation_id: http.CorrelationId = None,
) -> Response[Any]:
    who = http.principal(app)
    correlation_id = http.correlation_id(app, x_correlation_id)

    def operation(uow: UnitOfWork) -> tuple[SlaPolicy, dict[str, str]]:
        created = policies.create_policy(uow, who, body, correlation_id=correlation_id, now=http.now(app))
        return created, {"Location": f"/sla-policies/{created.id}", "ETag": http.etag(created.version)}

    return http.write(app, who, operation, status=201, idempotency_key=idempotency_key)


handler = entrypoints.http(app, "create_sla_policy")
