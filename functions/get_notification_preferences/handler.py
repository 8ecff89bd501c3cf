"""GET /me/notification-preferences: the caller's e-mail preferences."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.notify import preferences
from shared.notify.model import StoredPreferences
from shared.runtime import entrypoints

app = http.make_app()


@app.get(
    "/me/notification-preferences",
    operation_id="get_notification_preferences",
    summary="Your e-mail notification preferences",
    description="Where e-mails about the tickets you requested or are assigned go, and which you do not"
    " want. Someone who never saved any has no address (no e-mail) and opts out of nothing.",
    tags=["notifications"],
    security=http.BEARER,
    responses={
        **http.success(200, StoredPreferences, "Your preferences."),
        **http.problems(*http.ALWAYS, *http.AUTHORIZED, *http.DATABASE),
    },
)
def get_notification_preferences() -> Response[Any]:
    who = http.principal(app)
    return http.json_response(200, http.read(who, lambda uow: preferences.get(uow, who)))


handler = entrypoints.http(app, "get_notification_preferences")
