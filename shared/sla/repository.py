"""The SLA clocks' SQL: a ticket's clocks, writing them, the firing record, and the sweeper's and
backfill's questions. Callers hold the ticket's row lock before they touch its clocks (the ticket
service's listeners run under it; the timer worker takes it first), so a clock is only ever
written under its ticket's lock and the two are always locked in that order."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from shared.db import UnitOfWork
from shared.sla.clocks import Clock
from shared.sla.model import ScheduleStep

_COLUMNS = (
    "id, ticket_id, metric, policy_id, policy_version, calendar_id, target_s, at_risk_s, steps, elapsed,"
    " running_since, started_at, breached_at, met_at, canceled_at, fired, next_step, next_due_at,"
    " generation, enqueued_generation"
)

OF_TICKET = f"SELECT {_COLUMNS} FROM sla_clock WHERE ticket_id = %(ticket_id)s"
TICKET_OF = "SELECT ticket_id FROM sla_clock WHERE id = %(id)s"

UPSERT = """
INSERT INTO sla_clock (id, ticket_id, metric, state, policy_id, policy_version, calendar_id, target_s,
                       at_risk_s, steps, elapsed, running_since, started_at, due_at, at_risk_at,
                       breached_at, met_at, canceled_at, fired, next_step, next_due_at, generation,
                       enqueued_generation, enqueued_at, updated_at)
VALUES (%(id)s, %(ticket_id)s, %(metric)s, %(state)s, %(policy_id)s, %(policy_version)s, %(calendar_id)s,
        %(target_s)s, %(at_risk_s)s, %(steps)s, %(elapsed)s, %(running_since)s, %(started_at)s,
        %(due_at)s, %(at_risk_at)s, %(breached_at)s, %(met_at)s, %(canceled_at)s, %(fired)s,
        %(next_step)s, %(next_due_at)s, %(generation)s, %(enqueued_generation)s,
        CASE WHEN %(enqueued_generation)s::integer IS NULL THEN NULL ELSE %(now)s::timestamptz END, %(now)s)
ON CONFLICT (ticket_id, metric) DO UPDATE SET
    state = excluded.state, policy_id = excluded.policy_id, policy_version = excluded.policy_version,
    calendar_id = excluded.calendar_id, target_s = excluded.target_s, at_risk_s = excluded.at_risk_s,
    steps = excluded.steps, elapsed = excluded.elapsed, running_since = excluded.running_since,
    due_at = excluded.due_at, at_risk_at = excluded.at_risk_at, breached_at = excluded.breached_at,
    met_at = excluded.met_at, canceled_at = excluded.canceled_at, fired = excluded.fired,
    next_step = excluded.next_step, next_due_at = excluded.next_due_at, generation = excluded.generation,
    enqueued_generation = excluded.enqueued_generation,
    enqueued_at = CASE WHEN excluded.enqueued_generation IS DISTINCT FROM sla_clock.enqueued_generation
                       THEN excluded.enqueued_at ELSE sla_clock.enqueued_at END,
    updated_at = excluded.updated_at
"""

CLAIM_FIRING = """
INSERT INTO sla_firing (clock_id, step, generation, ticket_id, due_at, fired_at, late_s, fired_by)
VALUES (%(clock_id)s, %(step)s, %(generation)s, %(ticket_id)s, %(due_at)s, %(fired_at)s, %(late_s)s,
        %(fired_by)s)
ON CONFLICT DO NOTHING
RETURNING clock_id
"""

# The sweeper: clocks whose next step comes within the horizon and has no message on its way for
# this generation; and steps overdue past the grace whose message went out long enough ago that it
# should have been handled (lost, or dead-lettered): sent again, the worker fires them once. A
# worker that is merely behind is not sent the same steps again every minute.
TO_ENQUEUE = f"""
SELECT {_COLUMNS} FROM sla_clock
WHERE next_due_at <= %(horizon)s
  AND (enqueued_generation IS DISTINCT FROM generation
       OR (next_due_at <= %(overdue_before)s AND enqueued_at <= %(resend_before)s))
ORDER BY next_due_at
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED
"""
MARK_ENQUEUED = """
UPDATE sla_clock SET enqueued_generation = generation, enqueued_at = %(now)s
WHERE id = ANY(%(ids)s)
"""
OVERDUE = """
SELECT count(*) AS overdue, coalesce(extract(epoch FROM %(now)s - min(next_due_at)), 0) AS oldest_s
FROM sla_clock WHERE next_due_at <= %(overdue_before)s
"""
# Backfill: steps due in the window that never fired (the clock's next step is still one of them).
UNFIRED = """
SELECT c.id, c.ticket_id, c.metric, c.next_step, c.next_due_at, t.key
FROM sla_clock c JOIN ticket t ON t.id = c.ticket_id
WHERE c.next_due_at >= %(since)s AND c.next_due_at < %(until)s AND c.next_due_at <= %(now)s
ORDER BY c.next_due_at
LIMIT %(limit)s
"""


def clock_of(row: dict[str, Any]) -> Clock:
    return Clock(
        id=row["id"],
        metric=row["metric"],
        policy_id=row["policy_id"],
        policy_version=row["policy_version"],
        calendar_id=row["calendar_id"],
        target_s=row["target_s"],
        at_risk_s=row["at_risk_s"],
        steps=tuple(ScheduleStep.of(s) for s in row["steps"]),
        elapsed=row["elapsed"],
        running_since=row["running_since"],
        started_at=row["started_at"],
        breached_at=row["breached_at"],
        met_at=row["met_at"],
        canceled_at=row["canceled_at"],
        fired=tuple(row["fired"]),
        next_step=row["next_step"],
        next_due_at=row["next_due_at"],
        generation=row["generation"],
        enqueued_generation=row["enqueued_generation"],
    )


def of_ticket(uow: UnitOfWork, ticket_id: UUID, *, lock: bool = False) -> dict[str, Clock]:
    """The ticket's clocks by metric (locked with ``lock``; the ticket's row must be locked first)."""
    query = OF_TICKET + (" FOR UPDATE" if lock else "")
    return {row["metric"]: clock_of(row) for row in uow.execute(query, {"ticket_id": ticket_id}).fetchall()}


def ticket_of(uow: UnitOfWork, clock_id: UUID) -> UUID | None:
    row = uow.execute(TICKET_OF, {"id": clock_id}).fetchone()
    return row["ticket_id"] if row else None


def save(
    uow: UnitOfWork,
    ticket_id: UUID,
    clocks: Iterable[tuple[Clock, dict[str, Any]]],
    *,
    now: datetime,
) -> None:
    """Write each clock with its computed instants (``due_at``, ``at_risk_at``)."""
    params = [
        {
            "id": clock.id,
            "ticket_id": ticket_id,
            "metric": clock.metric,
            "state": clock.state,
            "policy_id": clock.policy_id,
            "policy_version": clock.policy_version,
            "calendar_id": clock.calendar_id,
            "target_s": clock.target_s,
            "at_risk_s": clock.at_risk_s,
            "steps": Jsonb([s.as_json() for s in clock.steps]),
            "elapsed": clock.elapsed,
            "running_since": clock.running_since,
            "started_at": clock.started_at,
            "due_at": instants.get("due_at"),
            "at_risk_at": instants.get("at_risk_at"),
            "breached_at": clock.breached_at,
            "met_at": clock.met_at,
            "canceled_at": clock.canceled_at,
            "fired": list(clock.fired),
            "next_step": clock.next_step,
            "next_due_at": clock.next_due_at,
            "generation": clock.generation,
            "enqueued_generation": clock.enqueued_generation,
            "now": now,
        }
        for clock, instants in clocks
    ]
    if params:
        uow.executemany(UPSERT, params)


def claim_firing(
    uow: UnitOfWork,
    clock: Clock,
    ticket_id: UUID,
    *,
    step: str,
    due_at: datetime,
    fired_at: datetime,
    fired_by: str,
) -> bool:
    """The step's one firing for this generation; False when it fired already."""
    row = uow.execute(
        CLAIM_FIRING,
        {
            "clock_id": clock.id,
            "step": step,
            "generation": clock.generation,
            "ticket_id": ticket_id,
            "due_at": due_at,
            "fired_at": fired_at,
            "late_s": max(0.0, (fired_at - due_at).total_seconds()),
            "fired_by": fired_by,
        },
    ).fetchone()
    return row is not None


def to_enqueue(
    uow: UnitOfWork, *, horizon: datetime, overdue_before: datetime, resend_before: datetime, limit: int
) -> list[dict[str, Any]]:
    params = {
        "horizon": horizon,
        "overdue_before": overdue_before,
        "resend_before": resend_before,
        "limit": limit,
    }
    return uow.execute(TO_ENQUEUE, params).fetchall()


def mark_enqueued(uow: UnitOfWork, ids: list[UUID], *, now: datetime) -> None:
    if ids:
        uow.execute(MARK_ENQUEUED, {"ids": ids, "now": now})


def overdue(uow: UnitOfWork, *, now: datetime, overdue_before: datetime) -> tuple[int, float]:
    row = uow.execute(OVERDUE, {"now": now, "overdue_before": overdue_before}).fetchone()
    return (int(row["overdue"]), float(row["oldest_s"])) if row else (0, 0.0)


def unfired(
    uow: UnitOfWork, *, since: datetime, until: datetime, now: datetime, limit: int
) -> list[dict[str, Any]]:
    return uow.execute(UNFIRED, {"since": since, "until": until, "now": now, "limit": limit}).fetchall()


TO_REPAIR = """
SELECT id FROM ticket
WHERE (%(tenant_id)s::text IS NULL OR tenant_id = %(tenant_id)s)
  AND (%(since)s::timestamptz IS NULL OR updated_at >= %(since)s)
  AND (%(until)s::timestamptz IS NULL OR created_at < %(until)s)
  AND (%(after)s::uuid IS NULL OR id > %(after)s)
ORDER BY id
LIMIT %(limit)s
"""


def tickets_to_repair(
    uow: UnitOfWork,
    *,
    tenant_id: str | None,
    since: datetime | None,
    until: datetime | None,
    after: UUID | None,
    limit: int,
) -> list[UUID]:
    """Tickets of a tenant and/or active in a window (changed since ``since``, opened before
    ``until``), in id order after ``after``."""
    params = {"tenant_id": tenant_id, "since": since, "until": until, "after": after, "limit": limit}
    return [row["id"] for row in uow.execute(TO_REPAIR, params).fetchall()]
