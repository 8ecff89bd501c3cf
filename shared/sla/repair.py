"""SLA repair: recompute a ticket's clocks from its audit trail with today's policies and
calendars (after one was corrected), as ServiceNow's SLA repair does.

The trail is replayed through the same rules as live changes (``clocks.apply``): the ticket as
opened (``ticket.created``), each change of priority, category or kind (``ticket.updated``),
each state change, and the first response at the instant the ticket recorded it. The result is
compared with the stored clocks; a difference is written (unless ``dry_run``) as one audited
``sla.repaired`` event naming what changed. Steps already fired stay fired while the recomputed
clock has passed them; steps the correction moved into the future fire again when they come due;
a breach the correction reveals is reported (``sla.breached``) by the repair itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from shared.auth import Principal
from shared.db import UnitOfWork
from shared.sla import clocks as clock_rules
from shared.sla import config, repository
from shared.sla.clocks import Clock, Happened
from shared.sla.config import SlaConfig
from shared.sla.engine import settle
from shared.tickets import history
from shared.tickets import service as tickets

_TRACKED = ("kind", "category", "priority", "tenant_id", "sla_policy")


def replay(row: Mapping[str, Any], trail: list[dict[str, Any]], cfg: SlaConfig) -> dict[str, Clock]:
    """The ticket's clocks as its trail makes them, with ``cfg``'s policies and calendars."""
    result: dict[str, Clock] = {}
    ticket: dict[str, Any] | None = None
    first_response_at = row["first_response_at"]
    for event in trail:
        changes = event["changes"] or {}
        if event["type"] == "ticket.created":
            ticket = {name: (changes.get(name) or {}).get("new") for name in _TRACKED}
            ticket |= {"id": row["id"], "state": "new", "first_response_at": None}
            result, _ = clock_rules.apply(None, ticket, {}, cfg, event["at"])
            continue
        if ticket is None:
            continue
        before = dict(ticket)
        if event["type"] == "ticket.updated":
            for name in clock_rules.SELECTING_FIELDS:
                if name in changes and isinstance(changes[name], dict):
                    ticket[name] = changes[name].get("new")
        elif event["type"] == "ticket.state_changed":
            ticket["state"] = (changes.get("state") or {}).get("new", ticket["state"])
        if (
            first_response_at is not None
            and ticket["first_response_at"] is None
            and event["at"] >= first_response_at
        ):
            ticket["first_response_at"] = first_response_at
        if clock_rules.is_relevant(before, ticket):
            result, _ = clock_rules.apply(before, ticket, result, cfg, event["at"])
    return result


def _seconds(value: timedelta) -> int:
    return int(value.total_seconds())


def _facts(clock: Clock | None, cfg: SlaConfig, now: datetime) -> dict[str, Any]:
    if clock is None:
        return {}
    calendar = cfg.calendar(clock.calendar_id)
    due = clock.due_at(calendar)
    return {
        "policy": clock.policy_id,
        "target_s": clock.target_s,
        "state": clock.state,
        "elapsed_s": _seconds(clock.elapsed_at(calendar, now)),
        "due_at": due.isoformat() if due else None,
        "breached_at": clock.breached_at.isoformat() if clock.breached_at else None,
        "met_at": clock.met_at.isoformat() if clock.met_at else None,
    }


def differences(
    stored: Mapping[str, Clock], replayed: Mapping[str, Clock], cfg: SlaConfig, now: datetime
) -> dict[str, Any]:
    """Per metric, each fact that differs: ``{"resolution": {"due_at": {"old", "new"}}}``."""
    found: dict[str, Any] = {}
    for metric in sorted(set(stored) | set(replayed)):
        old, new = _facts(stored.get(metric), cfg, now), _facts(replayed.get(metric), cfg, now)
        changed = {
            name: {"old": old.get(name), "new": new.get(name)}
            for name in sorted(set(old) | set(new))
            if old.get(name) != new.get(name)
            and not (name == "elapsed_s" and abs((old.get(name) or 0) - (new.get(name) or 0)) <= 1)
        }
        if changed:
            found[metric] = changed
    return found


def repair_ticket(
    uow: UnitOfWork, principal: Principal, ticket_id: Any, *, now: datetime, dry_run: bool
) -> dict[str, Any] | None:
    """Recompute one ticket's clocks; the differences (None when there are none)."""
    row = tickets.lock_row(uow, ticket_id)
    if row is None:
        return None
    cfg = config.current(uow, fresh_for_s=0)
    stored = repository.of_ticket(uow, row["id"], lock=True)
    # As of now: a target the replayed clock has passed since its last change is a breach.
    replayed = {
        metric: clock.anchored(cfg.calendar(clock.calendar_id), now)
        for metric, clock in replay(row, history.trail(uow, row["id"]), cfg).items()
    }
    found = differences(stored, replayed, cfg, now)
    if not found or dry_run:
        return {"ticket": row["key"], "differences": found} if found else None
    after: dict[str, Clock] = {}
    for metric, clock in replayed.items():
        calendar = cfg.calendar(clock.calendar_id)
        elapsed = clock.elapsed_at(calendar, now)
        old = stored.get(metric)
        kept = tuple(
            s.name
            for s in clock.steps
            if old and s.name in old.fired and elapsed >= timedelta(seconds=s.at_s)
        )
        after[metric] = replace(
            clock,
            id=old.id if old else clock.id,
            fired=kept,
            generation=old.generation if old else clock.generation,
            next_step=old.next_step if old else None,
            next_due_at=old.next_due_at if old else None,
            enqueued_generation=old.enqueued_generation if old else None,
        )
    for metric, old in stored.items():
        if metric not in after and not old.stopped:
            after[metric] = old.canceled(cfg.calendar(old.calendar_id), now)
    happened = [Happened("sla.repaired", None, {"differences": found})]
    events, columns = settle(uow, row, stored, after, happened, cfg, now)
    tickets.annotate(uow, principal, row, events, updates=columns, now=now)
    return {"ticket": row["key"], "differences": found}
