"""PUT /me/notification-preferences: replace the caller's e-mail preferences."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from shared import http
from shared.db import UnitOfWork
from shared.notify import preferences
from shared.notify.model import NotificationPreferences, StoredPreferences
from shared.runtime import entrypoints

app = http.make_app()


@app.put(
    "/me/notification-preferences",
    operation_id="put_notification_preferences",
    summary="Replace your e-mail notification preferences",
    description="The whole document: the address e-mails about the tickets you requested or are assigned go"
    " to (null: none), and the e-mail types you do not want (`opt_out`; repeats count once; an unknown type"
    " or field is a 422). Each person's are their own (a tenant person's under their tenant): nobody else"
    " reads or changes them.",
    tags=["notifications"],
    security=http.BEARER,
    responses={
        **http.success(200, StoredPreferences, "Your preferences, saved."),
        **http.problems(
            *http.ALWAYS, *http.AUTHORIZED, *http.BODY, *http.SIBLING_METHODS, *http.WRITES, *http.DATABASE
        ),
    },
)
def put_notification_preferences(
    request: Annotated[NotificationPreferences, Body(embed=False)],
) -> Response[Any]:
    who = http.principal(app)

    def operation(uow: UnitOfWork) -> tuple[StoredPreferences, dict[str, str]]:
        return preferences.replace(uow, who, request, now=http.now(app)), {}

    return http.write(app, who, operation)


handler = entrypoints.http(app, "put_notification_preferences")
