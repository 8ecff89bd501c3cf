"""GET /openapi.json: the OpenAPI document, generated from the route table and the models."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared.http import app as api
from shared.http import openapi

app = api.make_app()


@app.get("/openapi.json")
def openapi_document() -> Response[Any]:
    return api.json_response(200, openapi.document())


handler = api.entrypoint(app)
