"""``ticketing-backfill-sla-timers`` (runbook "SLA Timer Failure"): fire now the SLA steps that came
due in a past window and never fired, each marked with its lateness.

Payload: ``{"since", "until"}`` (ISO 8601 instants; default: the last 2 hours), ``"dry_run":
true`` only lists them, ``"limit"`` bounds the run (default 1000). Idempotent: a step fires once
(a second run finds it fired). Each clock is fired in its own transaction, so one failure does not
undo the others; the result lists each step with its outcome.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, model_validator

from shared import db
from shared.auth import Principal
from shared.observability import logger, metrics
from shared.runtime import entrypoints
from shared.sla import timers
from shared.sla.engine import fire_due

FUNCTION = "backfill_sla_timers"
DEFAULT_WINDOW = timedelta(hours=2)
PRINCIPAL = Principal.system(FUNCTION)
# Stop starting firings when less than this is left of the invocation's time.
TIME_RESERVE_MS = 10_000


class BackfillRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    since: AwareDatetime | None = Field(default=None, description="Default: until - 2 hours")
    until: AwareDatetime | None = Field(default=None, description="Default: now")
    dry_run: StrictBool = False
    limit: int = Field(default=1000, ge=1, le=10_000)

    @model_validator(mode="after")
    def _ordered(self) -> BackfillRequest:
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("since must be before until")
        return self


def run(request: BackfillRequest, services: entrypoints.Services, context: LambdaContext) -> dict[str, Any]:
    now = services.clock()
    until: datetime = request.until or now
    since: datetime = request.since or until - DEFAULT_WINDOW
    with db.transaction(PRINCIPAL) as uow:
        due = timers.unfired(uow, since=since, until=until, now=now, limit=request.limit)
    steps: list[dict[str, Any]] = []
    complete = True
    for item in due:
        shown = {
            k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in item.items() if k != "clock_id"
        }
        if request.dry_run:
            steps.append(shown)
            continue
        if context.get_remaining_time_in_millis() < TIME_RESERVE_MS:
            complete = False
            break
        with db.transaction(PRINCIPAL) as uow:
            fired = fire_due(uow, PRINCIPAL, item["clock_id"], generation=None, now=now, fired_by="backfill")
        steps.append(shown | {"outcome": fired.outcome, "fired": list(fired.steps)})
    fired_count = sum(len(s.get("fired", ())) for s in steps)
    if not request.dry_run:
        metrics.add_metric(name="SlaStepsBackfilled", unit=MetricUnit.Count, value=fired_count)
    summary = {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "dry_run": request.dry_run,
        "found": len(due),
        "fired": fired_count,
        "complete": complete and len(due) < request.limit,
        "steps": steps,
    }
    logger.info("sla backfill", extra={k: v for k, v in summary.items() if k != "steps"})
    return summary


handler = entrypoints.operator(FUNCTION, run, BackfillRequest)
