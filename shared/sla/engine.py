"""The SLA engine inside a ticket's transaction: the listener that moves the clocks with every
ticket change (``on_ticket_change``), and the timer's firing of due steps (``fire_due``).

Both end in ``settle``: breaches found on the way are recorded, each clock's next step is
scheduled (its generation moves when the step or instant does), a timer message is put in the
outbox for a step due within ``HORIZON`` (delayed to its second), the clocks are written, and the
ticket is told its SLA events and its new summary (``sla``, ``sla_status``, ``sla_due_at``) as one
follow-up change in the same hash chain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from shared import outbox
from shared.auth import Principal
from shared.db import UnitOfWork
from shared.observability import logger
from shared.sla import clocks as clock_rules
from shared.sla import config, repository
from shared.sla.clocks import Clock, Happened
from shared.sla.config import SlaConfig
from shared.sla.model import PRIORITY_ORDER
from shared.tickets import service as tickets
from shared.tickets.models import sla_view

TIMER_WORKER = "sla_timer"
# A step due within this is put on the timer queue with a delay (SQS's longest); later ones are
# enqueued by the one-minute sweeper when they come within it.
HORIZON = timedelta(minutes=15)
# Internal to the platform: who is told, which escalation fired.
INTERNAL_EVENTS = frozenset({"sla.escalated"})

Visibility = Literal["public", "internal"]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# ---- the summary clients see --------------------------------------------------------------------------


def _clock_summary(clock: Clock, cfg: SlaConfig) -> dict[str, Any]:
    calendar = cfg.calendar(clock.calendar_id)
    return {
        "state": clock.state,
        "policy_id": clock.policy_id,
        "target_s": clock.target_s,
        "due_at": _iso(clock.due_at(calendar)),
        "at_risk_at": _iso(clock.at_risk_at(calendar)),
        "breached_at": _iso(clock.breached_at),
        "met_at": _iso(clock.met_at),
        "remaining_s": clock.remaining_s(),
        "paused": not clock.running and not clock.stopped,
    }


def summary(clocks: Mapping[str, Clock], cfg: SlaConfig, now: datetime) -> dict[str, Any]:
    """The ticket's ``sla``, ``sla_status`` and ``sla_due_at`` columns for these clocks."""
    if not clocks:
        return {"sla": None, "sla_status": "none", "sla_due_at": None}
    live = [c for c in clocks.values() if c.canceled_at is None]
    stored: dict[str, Any] = {"policy_id": live[0].policy_id if live else None}
    for metric, clock in clocks.items():
        stored[metric] = _clock_summary(clock, cfg)
    dues = [
        due
        for c in clocks.values()
        if c.running and not c.stopped and (due := c.due_at(cfg.calendar(c.calendar_id))) is not None
    ]
    return {
        "sla": stored,
        "sla_status": sla_view(stored, now).status,
        "sla_due_at": min(dues) if dues else None,
    }


# ---- events -------------------------------------------------------------------------------------------


def _event(
    happened: Happened, clocks: Mapping[str, Clock], cfg: SlaConfig
) -> tuple[str, dict[str, Any], Visibility]:
    changes: dict[str, Any] = {}
    if happened.metric is not None:
        changes["metric"] = happened.metric
        clock = clocks.get(happened.metric)
        if clock is not None:
            calendar = cfg.calendar(clock.calendar_id)
            changes |= {
                "clock_state": clock.state,
                "policy": clock.policy_id,
                "target_s": clock.target_s,
                "elapsed_s": round(clock.elapsed.total_seconds(), 3),
                "due_at": _iso(clock.due_at(calendar)),
            }
    else:
        for metric, clock in clocks.items():
            if clock.canceled_at is None:
                calendar = cfg.calendar(clock.calendar_id)
                changes[metric] = {"target_s": clock.target_s, "due_at": _iso(clock.due_at(calendar))}
    changes |= {k: (_iso(v) if isinstance(v, datetime) else v) for k, v in happened.details.items()}
    visibility: Visibility = "internal" if happened.type in INTERNAL_EVENTS else "public"
    return happened.type, changes, visibility


# ---- settling a change --------------------------------------------------------------------------------


def enqueue(uow: UnitOfWork, ticket: Mapping[str, Any], clock: Clock) -> None:
    """A timer message for the clock's next step (``ticket``: its ``id`` and ``tenant_id``),
    delayed to the step's instant (SQS allows up to 15 minutes)."""
    assert clock.next_step is not None and clock.next_due_at is not None
    outbox.record(
        uow,
        detail_type="SLA Timer",
        detail={
            "clock_id": str(clock.id),
            "generation": clock.generation,
            "step": clock.next_step,
            "due_at": clock.next_due_at.isoformat(),
            "ticket_id": str(ticket["id"]),
        },
        aggregate_type="sla_clock",
        aggregate_id=str(clock.id),
        tenant_id=ticket["tenant_id"],
        visibility=outbox.INTERNAL,
        destination=outbox.queue(TIMER_WORKER),
        deliver_at=clock.next_due_at,
    )


@dataclass(frozen=True)
class Settlement:
    """What settling a change decided, before anything is written."""

    enqueue: tuple[Clock, ...]  # timer messages to send (a step due within HORIZON)
    written: tuple[tuple[Clock, dict[str, Any]], ...]  # the clocks to save, with their instants
    events: tuple[tuple[str, dict[str, Any], Visibility], ...]
    columns: dict[str, Any]  # the ticket's summary columns


def prepare(
    before: Mapping[str, Clock],
    after: dict[str, Clock],
    happened: list[Happened],
    cfg: SlaConfig,
    now: datetime,
) -> Settlement:
    """Decide what a change does to the clocks (pure): breaches found on the way, each clock's next
    step, which steps go on the timer queue, the events and the ticket's summary."""
    for metric, clock in list(after.items()):
        if clock.breached_at is not None and "breach" not in clock.fired:
            # The target passed before the timer fired it (a late timer, or a change on the very
            # second): the breach is reported once, by this change.
            after[metric] = replace(clock, fired=(*clock.fired, "breach"))
            happened.append(Happened("sla.breached", metric, {"breached_at": clock.breached_at}))
    to_enqueue: list[Clock] = []
    written = []
    for metric, changed in list(after.items()):
        calendar = cfg.calendar(changed.calendar_id)
        clock = changed.rescheduled(calendar)
        due = clock.next_due_at
        if due is not None and due <= now + HORIZON and clock.enqueued_generation != clock.generation:
            to_enqueue.append(clock)
            clock = replace(clock, enqueued_generation=clock.generation)
        after[metric] = clock
        if clock != before.get(metric):
            written.append(
                (clock, {"due_at": clock.due_at(calendar), "at_risk_at": clock.at_risk_at(calendar)})
            )
    events = tuple(_event(h, after, cfg) for h in happened)
    return Settlement(tuple(to_enqueue), tuple(written), events, summary(after, cfg, now))


def commit(uow: UnitOfWork, ticket: Mapping[str, Any], settlement: Settlement, now: datetime) -> None:
    """Write what ``prepare`` decided: the timer messages and the clocks."""
    for clock in settlement.enqueue:
        enqueue(uow, ticket, clock)
    repository.save(uow, ticket["id"], list(settlement.written), now=now)


def settle(
    uow: UnitOfWork,
    ticket: Mapping[str, Any],
    before: Mapping[str, Clock],
    after: dict[str, Clock],
    happened: list[Happened],
    cfg: SlaConfig,
    now: datetime,
) -> tuple[tuple[tuple[str, dict[str, Any], Visibility], ...], dict[str, Any]]:
    """Write the clocks and say what the ticket is told: its SLA events and summary columns."""
    settlement = prepare(before, after, happened, cfg, now)
    commit(uow, ticket, settlement, now)
    return settlement.events, settlement.columns


def plan_creation(uow: UnitOfWork, ticket: Mapping[str, Any], now: datetime) -> tickets.Planned | None:
    """For a ticket being opened (``tickets.on_change(..., creation=)``): its clocks, events and
    summary decided before its row is written, the clocks and timer messages written after."""
    cfg = config.current(uow)
    after, happened = clock_rules.apply(None, ticket, {}, cfg, now)
    if not happened and not after:
        return None
    settlement = prepare({}, after, happened, cfg, now)
    return tickets.Planned(
        follow_up=tickets.FollowUp(events=settlement.events, updates=settlement.columns),
        write=lambda uow_, row: commit(uow_, row, settlement, now),
    )


def on_ticket_change(uow: UnitOfWork, changed: tickets.TicketChanged) -> tickets.FollowUp | None:
    """The ticket service's listener: the clocks move with the change, in its transaction."""
    if changed.events and all(e.type.startswith("sla.") for e in changed.events):
        return None  # the SLA's own events (the follow-up of a change, or a timer's firing)
    if not clock_rules.is_relevant(changed.before, changed.after):
        return None
    cfg = config.current(uow)
    ticket_id = changed.after["id"]
    current = repository.of_ticket(uow, ticket_id) if changed.before is not None else {}
    after, happened = clock_rules.apply(changed.before, changed.after, current, cfg, changed.now)
    if not happened and after == current:
        return None
    events, columns = settle(uow, changed.after, current, after, happened, cfg, changed.now)
    return tickets.FollowUp(events=events, updates=columns)


# ---- the timer ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fired:
    """What a timer message (or the backfill) did with a clock."""

    outcome: Literal["fired", "stale", "early", "nothing", "gone"]
    steps: tuple[str, ...] = ()
    late_s: float = 0.0


def _raised(priority: str) -> str:
    index = PRIORITY_ORDER.index(priority)
    return PRIORITY_ORDER[min(index + 1, len(PRIORITY_ORDER) - 1)]


def fire_due(
    uow: UnitOfWork,
    principal: Principal,
    clock_id: UUID,
    *,
    generation: int | None,
    now: datetime,
    fired_by: Literal["timer", "backfill"] = "timer",
) -> Fired:
    """Fire the clock's steps that are due by ``now``, once each: the ticket's row is locked
    first, then the clock is read again; a message of an older ``generation`` finds nothing to
    do (``None``: whatever the generation, as the backfill asks)."""
    ticket_id = repository.ticket_of(uow, clock_id)
    if ticket_id is None:
        return Fired("gone")
    row = tickets.lock_row(uow, ticket_id)
    if row is None:
        return Fired("gone")
    current = repository.of_ticket(uow, ticket_id, lock=True)
    clock = next((c for c in current.values() if c.id == clock_id), None)
    if clock is None:
        return Fired("gone")
    if generation is not None and clock.generation != generation:
        return Fired("stale")
    if clock.next_step is None or clock.next_due_at is None:
        return Fired("nothing")
    if clock.next_due_at > now:
        enqueue(uow, row, clock)  # delivered before its step is due (a redrive): back for the rest
        return Fired("early")
    cfg = config.current(uow)
    calendar = cfg.calendar(clock.calendar_id)
    happened: list[Happened] = []
    fired: list[str] = []
    raise_priority, queue, level = False, None, int(row["sla_escalation_level"])
    late_s = 0.0
    while clock.next_step is not None and clock.next_due_at is not None and clock.next_due_at <= now:
        step, due = clock.next_step, clock.next_due_at
        if not repository.claim_firing(
            uow, clock, ticket_id, step=step, due_at=due, fired_at=now, fired_by=fired_by
        ):
            break
        late_s = max(late_s, (now - due).total_seconds())
        # Not re-anchored: every later step's instant stays exact, however late this runs.
        clock = clock.fired_step(step, due)
        details: dict[str, Any] = {
            "step": step,
            "due_at": due,
            "fired_at": now,
            "late_s": round((now - due).total_seconds(), 3),
        }
        if fired_by != "timer":
            details["fired_by"] = fired_by
        if step == "at_risk":
            happened.append(Happened("sla.at_risk", clock.metric, details))
        elif step == "breach":
            happened.append(Happened("sla.breached", clock.metric, details | {"breached_at": due}))
        schedule = next((s for s in clock.steps if s.name == step), None)
        policy = cfg.policy(clock.policy_id)
        for index in schedule.escalations if schedule else ():
            entry = policy.escalation[index] if policy and index < len(policy.escalation) else {}
            level = max(level, index + 1)
            raise_priority = raise_priority or bool(entry.get("raise_priority"))
            queue = entry.get("queue") or queue
            happened.append(
                Happened(
                    "sla.escalated",
                    clock.metric,
                    details
                    | {
                        "level": index + 1,
                        "notify": list(entry.get("notify", [])),
                        "raise_priority": bool(entry.get("raise_priority")),
                        "queue": entry.get("queue"),
                    },
                ),
            )
        fired.append(step)
        clock = replace(clock, next_step=None, next_due_at=None).rescheduled(calendar)
    if not fired:
        return Fired("stale")
    after = dict(current)
    after[clock.metric] = clock
    events, columns = settle(uow, row, current, after, happened, cfg, now)
    row = tickets.annotate(
        uow, principal, row, events, updates=columns | {"sla_escalation_level": level}, now=now
    )
    changes: dict[str, Any] = {}
    if raise_priority and row["priority"] != _raised(row["priority"]):
        changes["priority"] = _raised(row["priority"])
    if queue and queue != row["queue"]:
        changes["queue"] = queue
    if changes and row["state"] not in clock_rules.STOPPED_STATES:
        tickets.change_fields(uow, principal, row, changes, now=now, correlation_id=None)
    logger.info(
        "sla steps fired",
        extra={"ticket": row["key"], "metric": clock.metric, "steps": fired, "late_s": round(late_s, 3)},
    )
    return Fired("fired", tuple(fired), late_s)
