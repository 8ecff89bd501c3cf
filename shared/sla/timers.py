"""The timer's backstops: the one-minute sweeper, which puts on the timer queue every clock whose
next step comes within the horizon and has no message on its way (and, again, any step overdue
past the grace: its message was lost or dead-lettered), and measures how many steps are overdue;
and the backfill, which fires now, once, the steps of a past window that never fired."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.db import UnitOfWork
from shared.sla import repository
from shared.sla.engine import HORIZON, enqueue

# A step this long past due and unfired is overdue: counted (the SlaTimerOverdue alarm) and sent
# again by the sweeper.
GRACE = timedelta(minutes=2)
# A message sent this long ago for a step still unfired is taken as lost, and sent again.
RESEND_AFTER = timedelta(minutes=5)
SWEEP_LIMIT = 5000


@dataclass(frozen=True)
class SweepResult:
    enqueued: int
    overdue: int  # steps more than GRACE past due and unfired
    oldest_overdue_s: float


def sweep(uow: UnitOfWork, *, now: datetime, limit: int = SWEEP_LIMIT) -> SweepResult:
    overdue_before = now - GRACE
    overdue, oldest = repository.overdue(uow, now=now, overdue_before=overdue_before)
    rows = repository.to_enqueue(
        uow,
        horizon=now + HORIZON,
        overdue_before=overdue_before,
        resend_before=now - RESEND_AFTER,
        limit=limit,
    )
    for row in rows:
        enqueue(uow, {"id": row["ticket_id"], "tenant_id": None}, repository.clock_of(row))
    repository.mark_enqueued(uow, [row["id"] for row in rows], now=now)
    return SweepResult(enqueued=len(rows), overdue=overdue, oldest_overdue_s=oldest if overdue else 0.0)


def unfired(
    uow: UnitOfWork, *, since: datetime, until: datetime, now: datetime, limit: int
) -> list[dict[str, Any]]:
    """The steps due in [since, until) (and by now) that never fired, oldest first."""
    return [
        {
            "clock_id": row["id"],
            "ticket": row["key"],
            "metric": row["metric"],
            "step": row["next_step"],
            "due_at": row["next_due_at"],
            "late_s": round((now - row["next_due_at"]).total_seconds(), 3),
        }
        for row in repository.unfired(uow, since=since, until=until, now=now, limit=limit)
    ]
