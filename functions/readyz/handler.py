"""GET /readyz: ready when the database answers and is migrated (503 otherwise)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared.db import health
from shared.http import app as api

app = api.make_app()


@app.get("/readyz")
def readyz() -> Response[Any]:
    return api.json_response(200, health.readiness())


handler = api.entrypoint(app)
