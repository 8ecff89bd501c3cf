"""GET /openapi.json: the OpenAPI document, generated from the route functions' resolvers."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from functions.openapi import document as openapi
from shared import http
from shared.runtime import entrypoints

app = http.make_app()


@app.get(
    "/openapi.json",
    operation_id="openapi",
    summary="The OpenAPI document",
    description="This API's OpenAPI 3.1 document, generated from the route functions themselves.",
    tags=["documentation"],
    security=http.BEARER,
    responses={
        **http.success(200, None, "The OpenAPI 3.1 document."),
        **http.problems(*http.ALWAYS, *http.AUTHORIZED),
    },
)
def openapi_document() -> Response[Any]:
    return http.json_response(200, openapi.document())


handler = entrypoints.http(app, "openapi")
