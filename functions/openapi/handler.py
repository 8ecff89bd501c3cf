"""GET /openapi.json: the OpenAPI document, generated from the route functions' resolvers."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from functions.openapi import document as openapi
from shared import http
from shared.runtime import entrypoints

app = http.make_app()


@app.get("/openapi.json")
def openapi_document() -> Response[Any]:
    return http.json_response(200, openapi.document())


handler = entrypoints.http(app, "openapi")
