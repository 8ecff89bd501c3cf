"""PUT /sla-policies/{policy_id}: replace an SLA policy (platform admins); If-Match on its version."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from shared import http
from shared.db import UnitOfWork
from shared.runtime import entrypoints
from shared.sla import policies
from shared.sla.model import SlaPolicy, SlaPolicyWrite

app = http.make_app()


@app.put(
    "/sla-policies/<policy_id>",
    operation_id="replace_sla_policy",
    summary="Replace an SLA policy (If-Match on its version)",
    description="The SLA policy becomes the body, whole; without a `position` it keeps its place."
    " Platform admins"
    " only (403 otherwise). An `id` in the body must be the path's (422); a stale If-Match is a 412."
    " Clocks already running keep the targets they were computed with until their ticket's priority,"
    " category or kind changes; `ticketing-sla-repair` recomputes them now. The change (before and"
    " after) is recorded in the configuration log.",
    tags=["sla"],
    security=http.BEARER,
    responses={
        **http.success(
            200,
            SlaPolicy,
            "The SLA policy as replaced; its ETag is its new version.",
            headers=http.CONFIG_ETAG,
        ),
        **http.problems(
            *http.ALWAYS,
            *http.AUTHORIZED,
            *http.BODY,
            *http.SLA_CONFIG,
            *http.SIBLING_METHODS,
            *http.WRITES,
            412,
            *http.DATABASE,
            meaning=http.SLA_CONFIG_PROBLEMS,
        ),
    },
)
def replace_sla_policy(
    policy_id: http.SlaPolicyRef,
    body: Annotated[SlaPolicyWrite, Body(embed=False)],
    if_match: http.ConfigIfMatch = None,
    x_correlation_id: http.CorrelationId = None,
) -> Response[Any]:
    who = http.principal(app)
    version = http.parse_if_match(if_match)
    correlation_id = http.correlation_id(app, x_correlation_id)

    def operation(uow: UnitOfWork) -> tuple[SlaPolicy, dict[str, str]]:
        replaced = policies.replace_policy(
            uow, who, policy_id, body, if_match=version, correlation_id=correlation_id, now=http.now(app)
        )
        return replaced, {"ETag": http.etag(replaced.version)}

    return http.write(app, who, operation)


handler = entrypoints.http(app, "replace_sla_policy")
