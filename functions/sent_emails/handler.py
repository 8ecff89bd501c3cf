"""Operators: the e-mails the service sent, newest first (ids, event, recipient, reason, status and
the Message-ID SES used; never the content). ``{}`` for the last 50; ``{"ticket": "TCK-42"}``,
``{"since": "2026-12-03T00:00:00Z"}``, ``{"limit": 200}``. Locally: ``make invoke FN=sent_emails``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared import db
from shared.auth import Principal
from shared.notify import sending
from shared.runtime import entrypoints
from shared.tickets import repository


class SentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ticket: str | None = Field(default=None, max_length=64)
    since: AwareDatetime | None = None
    limit: int = Field(default=50, ge=1, le=1000)


def run(request: SentRequest, services: entrypoints.Services, context: LambdaContext) -> dict[str, Any]:
    principal = Principal.system("sent_emails")
    with db.transaction(principal) as uow:
        ticket_id = repository.load(uow, principal, request.ticket)["id"] if request.ticket else None
        rows = sending.sent(uow, ticket_id=ticket_id, since=request.since, limit=request.limit)
    return {
        "count": len(rows),
        "messages": [
            {
                k: v.isoformat()
                if isinstance(v, datetime)
                else str(v)
                if v is not None and not isinstance(v, str)
                else v
                for k, v in row.items()
            }
            for row in rows
        ],
    }


handler = entrypoints.operator("sent_emails", run, SentRequest)
