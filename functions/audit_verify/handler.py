"""Verify the audit trail's hash chains: every day on a schedule, and on demand.

Scheduled (EventBridge "Scheduled Event"): every ticket changed in the 25 hours before the
event's time, so that consecutive daily runs overlap. On demand (``aws lambda invoke``), one of:

- ``{"ticket": "TCK-42"}`` (or the ticket's id): that ticket's trail;
- ``{"updated_since": "2026-11-01T00:00:00Z", "tenant_id": "acme"}``: tickets changed since then,
  optionally of one tenant; ``{}`` checks every ticket;
- ``"after"``: continue from the ``next_after`` an earlier run stopped at; ``"limit"`` tickets per
  batch (default 500).

The run stops with ``complete: false`` and a ``next_after`` when little of its time is left.
Every broken chain is logged (ticket id, key, tenant, first bad seq, reason) and counted in the
``AuditChainsBroken`` metric, which is alarmed: a broken chain means someone changed or removed
audit rows past the database's refusal (runbook: AuditChainBroken). Nothing is written.

A payload that is not a request (a typo, an unknown ticket) is answered with ``{"error": {...}}``
and pages nobody (``shared.runtime.entrypoints.operator``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from shared import audit, db
from shared.auth import Principal
from shared.kernel.errors import NotFound
from shared.kernel.ids import parse_ref
from shared.observability import logger, metrics
from shared.runtime import entrypoints
from shared.tickets.models import TenantId

SCHEDULED_WINDOW = timedelta(hours=25)
# Stop starting batches when less than this is left of the invocation's time.
TIME_RESERVE_MS = 15_000
# At most this many broken chains are returned (all are logged and counted).
REPORTED_BREAKS = 100
PRINCIPAL = Principal.system("audit-verify")


class VerifyRequest(BaseModel):
    """What an operator may ask for (unknown fields are refused, so typos do not widen a run)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ticket: str | None = Field(default=None, description="A ticket's id or key (TCK-42)")
    tenant_id: TenantId | None = None
    updated_since: AwareDatetime | None = None
    after: UUID | None = None
    limit: int = Field(default=500, ge=1, le=5000)

    @model_validator(mode="after")
    def _one_ticket_or_a_range(self) -> VerifyRequest:
        if self.ticket is not None:
            if parse_ref(self.ticket) is None:
                raise ValueError(f"'{self.ticket}' is neither a ticket id nor a key like TCK-42")
            if self.tenant_id or self.updated_since or self.after:
                raise ValueError("'ticket' checks one ticket; it does not combine with a range")
        return self


def from_schedule(event: dict[str, Any]) -> VerifyRequest:
    """The daily run: every ticket changed in the 25 hours before the schedule's time."""
    scheduled_at = datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))
    return VerifyRequest(updated_since=scheduled_at - SCHEDULED_WINDOW)


def verify(request: VerifyRequest, context: LambdaContext | None = None) -> dict[str, Any]:
    """Check the trails ``request`` names, in batches, until done or out of time."""
    ref = parse_ref(request.ticket) if request.ticket else None
    tickets = events = 0
    broken: list[audit.ChainBreak] = []
    after = request.after
    complete = False
    while True:
        with db.transaction(PRINCIPAL) as uow:
            result = audit.check_stored(
                uow,
                ticket=ref,
                tenant_id=request.tenant_id,
                updated_since=request.updated_since,
                after=after,
                limit=request.limit,
            )
        tickets += result.tickets
        events += result.events
        broken += result.broken
        after = result.next_after
        if after is None:
            complete = True
            break
        if context is not None and context.get_remaining_time_in_millis() < TIME_RESERVE_MS:
            break
    if ref is not None and tickets == 0:
        raise NotFound(f"No ticket '{request.ticket}'.")
    for b in broken:
        logger.error("audit chain broken", extra=_described(b))
    return {
        "tickets": tickets,
        "events": events,
        "broken_count": len(broken),
        "broken": [_described(b) for b in broken[:REPORTED_BREAKS]],
        "complete": complete,
        "next_after": None if complete or after is None else str(after),
    }


def _described(b: audit.ChainBreak) -> dict[str, Any]:
    return {
        "ticket_id": str(b.ticket_id),
        "key": b.key,
        "tenant_id": b.tenant_id,
        "seq": b.seq,
        "reason": b.reason,
    }


def run(request: VerifyRequest, services: entrypoints.Services, context: LambdaContext) -> dict[str, Any]:
    logger.info("audit verification", extra={"request": request.model_dump(mode="json", exclude_none=True)})
    summary = verify(request, context)
    metrics.add_metric(name="AuditTicketsChecked", unit=MetricUnit.Count, value=summary["tickets"])
    metrics.add_metric(name="AuditChainsBroken", unit=MetricUnit.Count, value=summary["broken_count"])
    level = logger.error if summary["broken_count"] else logger.info
    level(
        "audit verification done",
        extra={k: summary[k] for k in ("tickets", "events", "broken_count", "complete", "next_after")},
    )
    return summary


handler = entrypoints.operator("audit_verify", run, VerifyRequest, scheduled=from_schedule)
