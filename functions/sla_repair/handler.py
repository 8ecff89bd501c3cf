"""``ticketing-sla-repair`` (runbook "SLA repair"): recompute SLA clocks from tickets' audit trails
with today's policies and calendars, after one was corrected.

Payload: one of ``{"ticket": "TCK-42"}``, ``{"tenant_id": "acme"}``, ``{"since", "until"}`` (tickets
changed since / opened before; both may be combined with a tenant); ``"dry_run": true`` prints the
differences without writing; ``"limit"`` (default 500) bounds a run, and ``"after"`` (the
``next_after`` of a previous result) carries on. Each ticket is repaired in its own transaction;
every change is audited on the ticket (``sla.repaired``, with the old and new values).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, model_validator

from shared import db
from shared.auth import Principal
from shared.observability import logger, metrics
from shared.runtime import entrypoints
from shared.sla import repository
from shared.sla.model import TenantId
from shared.sla.repair import repair_ticket
from shared.tickets import repository as tickets

FUNCTION = "sla_repair"
PRINCIPAL = Principal.system(FUNCTION)
TIME_RESERVE_MS = 10_000


class RepairRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ticket: str | None = Field(
        default=None, min_length=1, max_length=64, description="One ticket (id or key)"
    )
    tenant_id: TenantId | None = None
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    after: UUID | None = None
    dry_run: StrictBool = False
    limit: int = Field(default=500, ge=1, le=5000)

    @model_validator(mode="after")
    def _scoped(self) -> RepairRequest:
        if self.ticket is None and self.tenant_id is None and self.since is None and self.until is None:
            raise ValueError("name a ticket, a tenant_id, or a window (since / until)")
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("since must be before until")
        return self


def run(request: RepairRequest, services: entrypoints.Services, context: LambdaContext) -> dict[str, Any]:
    now = services.clock()
    with db.transaction(PRINCIPAL) as uow:
        if request.ticket is not None:
            ids = [tickets.load(uow, PRINCIPAL, request.ticket)["id"]]
        else:
            ids = repository.tickets_to_repair(
                uow,
                tenant_id=request.tenant_id,
                since=request.since,
                until=request.until,
                after=request.after,
                limit=request.limit,
            )
    repaired: list[dict[str, Any]] = []
    checked = 0
    last: UUID | None = None
    for ticket_id in ids:
        if context.get_remaining_time_in_millis() < TIME_RESERVE_MS:
            break
        with db.transaction(PRINCIPAL) as uow:
            found = repair_ticket(uow, PRINCIPAL, ticket_id, now=now, dry_run=request.dry_run)
        checked += 1
        last = ticket_id
        if found is not None:
            repaired.append(found)
    complete = checked == len(ids) and (request.ticket is not None or len(ids) < request.limit)
    if not request.dry_run:
        metrics.add_metric(name="SlaClocksRepaired", unit=MetricUnit.Count, value=len(repaired))
    summary = {
        "dry_run": request.dry_run,
        "checked": checked,
        "differing": len(repaired),
        "complete": complete,
        "next_after": None if complete or last is None else str(last),
        "tickets": repaired,
    }
    logger.info("sla repair", extra={k: v for k, v in summary.items() if k != "tickets"})
    return summary


handler = entrypoints.operator(FUNCTION, run, RepairRequest)
