"""GET /readyz: ready when the database answers and is migrated (503 otherwise)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.db import health
from shared.runtime import entrypoints

app = http.make_app()


@app.get("/readyz")
def readyz() -> Response[Any]:
    return http.json_response(200, health.readiness())


handler = entrypoints.http(app, "readyz")
