"""GET /sla-policies/{policy_id}: one SLA policy (platform roles); the ETag carries its version."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.runtime import entrypoints
from shared.sla import policies
from shared.sla.model import SlaPolicy

app = http.make_app()


@app.get(
    "/sla-policies/<policy_id>",
    operation_id="get_sla_policy",
    summary="Read one SLA policy",
    description="Platform roles only (403 otherwise).",
    tags=["sla"],
    security=http.BEARER,
    responses={
        **http.success(200, SlaPolicy, "The SLA policy; its ETag is its version.", headers=http.CONFIG_ETAG),
        **http.problems(
            *http.ALWAYS, *http.AUTHORIZED, *http.SLA_CONFIG, *http.DATABASE, meaning=http.SLA_CONFIG_PROBLEMS
        ),
    },
)
def get_sla_policy(policy_id: http.SlaPolicyRef) -> Response[Any]:
    who = http.principal(app)
    found = http.read(who, lambda uow: policies.get_policy(uow, who, policy_id))
    return http.json_response(200, found, {"ETag": http.etag(found.version)})


handler = entrypoints.http(app, "get_sla_policy")
