"""GET /healthz: the function runs (no dependencies checked)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.runtime import entrypoints

app = http.make_app()


@app.get(
    "/healthz",
    operation_id="healthz",
    summary="Liveness",
    description="No token needed; nothing but the function itself is checked.",
    tags=["health"],
    responses={
        **http.success(200, http.Health, "The function runs."),
        **http.problems(*http.ALWAYS),
    },
)
def healthz() -> Response[Any]:
    return http.json_response(200, {"status": "ok"})


handler = entrypoints.http(app, "healthz")
