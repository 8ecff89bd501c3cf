"""GET /healthz: the function runs (no dependencies checked)."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared.http import app as api

app = api.make_app()


@app.get("/healthz")
def healthz() -> Response[Any]:
    return api.json_response(200, {"status": "ok"})


handler = api.entrypoint(app)
