"""GET /readyz: ready when the database answers and is migrated (503 otherwise)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.db import health
from shared.runtime import entrypoints

app = http.make_app()


@app.get(
    "/readyz",
    operation_id="readyz",
    summary="Readiness (checks the database)",
    description="No token needed. Ready when the database answers and its schema is migrated; 503 otherwise.",
    tags=["health"],
    responses={
        **http.success(200, http.Readiness, "Ready to serve."),
        **http.problems(*http.ALWAYS, *http.DATABASE),
    },
)
def readyz() -> Response[Any]:
    return http.json_response(200, health.readiness())


handler = entrypoints.http(app, "readyz")
