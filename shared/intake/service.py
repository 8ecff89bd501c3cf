"""The life of an incident opened by machine events: one open ticket per fingerprint, its
repeats counted, acknowledged and resolved by its source, reopened when it flaps.

``ingest`` takes one ``IntakeEvent`` in the caller's unit of work (the intake worker's record
transaction, as ``Principal.system("intake")``):

- The event's id is claimed first (``intake_event``): a redelivered event adds nothing.
- **trigger**: the open ticket of the fingerprint gets an occurrence (count, last seen; a higher
  severity raises the priority, audited; never lowers it). With none open: a ticket of the same
  fingerprint resolved within the reopen window is reopened (flap protection, reason recorded);
  otherwise a new ticket is opened, referring to the previous one of the fingerprint if any.
  Two workers racing on a new fingerprint: the database's partial unique index lets one insert
  win, and the other adds its occurrence to that ticket.
- **acknowledge** moves a ``new`` ticket to ``ack``.
- **resolve** resolves the open ticket with a resolution naming the source, unless the resolve
  happened before the ticket's last trigger (delivery is not ordered): then it is ``stale``.
- An acknowledge or resolve with no open ticket is recorded (``ignored``) and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from shared.db import UnitOfWork
from shared.intake.model import IntakeEvent
from shared.tickets import service as tickets
from shared.tickets.models import TITLE_MAX, State, TicketCreate, TransitionRequest
from shared.tickets.repository import OpenTicketExists

PRIORITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
RESOURCE_MAX = 200  # a ticket's linked resource (longer ones stay in the occurrence's details)

CLAIM = """
INSERT INTO intake_event (event_id, tenant_id, dedup_key, action, outcome, at, source, detail_type,
                          summary, severity, details)
VALUES (%(event_id)s, %(tenant_id)s, %(dedup_key)s, %(action)s, 'ignored', %(at)s, %(source)s,
        %(detail_type)s, %(summary)s, %(severity)s, %(details)s)
ON CONFLICT (event_id) DO NOTHING
RETURNING id
"""
SETTLE = "UPDATE intake_event SET ticket_id = %(ticket_id)s, outcome = %(outcome)s WHERE id = %(id)s"
OPENED_LAST_HOUR = """
SELECT count(*) AS n FROM ticket
WHERE coalesce(tenant_id, '') = coalesce(%(tenant)s, '') AND dedup_key = %(key)s
  AND created_at > %(now)s - interval '1 hour'
"""


@dataclass(frozen=True)
class IntakeSettings:
    reopen_window: timedelta = timedelta(minutes=10)
    report_every: timedelta = timedelta(minutes=1)


@dataclass(frozen=True)
class Outcome:
    outcome: str  # opened, occurrence, reopened, acknowledged, resolved, ignored, stale, duplicate
    ticket_id: Any = None
    ticket_key: str | None = None
    # Tickets opened for this fingerprint in the last hour, when this event opened one (the
    # DedupDisabled alarm's metric).
    opened_last_hour: int | None = None


def _claim(uow: UnitOfWork, event: IntakeEvent) -> int | None:
    row = uow.execute(
        CLAIM,
        {
            "event_id": event.event_id,
            "tenant_id": event.tenant_id,
            "dedup_key": event.dedup_key,
            "action": event.action,
            "at": event.occurred_at,
            "source": event.source,
            "detail_type": event.detail_type,
            "summary": event.summary,
            "severity": event.severity,
            "details": Jsonb(event.details),
        },
    ).fetchone()
    return int(row["id"]) if row else None


def ingest(uow: UnitOfWork, event: IntakeEvent, *, now: datetime, settings: IntakeSettings) -> Outcome:
    claimed = _claim(uow, event)
    if claimed is None:
        return Outcome("duplicate")
    if event.action == "trigger":
        outcome = _trigger(uow, event, now=now, settings=settings)
    else:
        outcome = _ack_or_resolve(uow, event, now=now)
    uow.execute(SETTLE, {"id": claimed, "ticket_id": outcome.ticket_id, "outcome": outcome.outcome})
    return outcome


def _title(summary: str) -> str:
    text = " ".join(summary.split())
    return text if len(text) <= TITLE_MAX else text[: TITLE_MAX - 1].rstrip() + "…"


def _description(event: IntakeEvent) -> str:
    lines = [event.summary or event.detail_type, "", f"Source: {event.source} ({event.detail_type})"]
    if event.resource:
        lines.append(f"Resource: {event.resource}")
    lines.append(f"First seen: {event.occurred_at.isoformat()}")
    return "\n".join(lines)


def _routing_event(event: IntakeEvent) -> dict[str, Any]:
    return {
        "source": event.source,
        "detail_type": event.detail_type,
        "severity": event.severity,
        "summary": event.summary,
        "resource": event.resource,
    }


def _open(
    uow: UnitOfWork, event: IntakeEvent, *, now: datetime, previous: dict[str, Any] | None
) -> dict[str, Any]:
    data = TicketCreate.model_validate(
        {
            "title": _title(event.summary or event.detail_type),
            "kind": event.kind,
            "category": event.category,
            "priority": event.priority,
            "description": _description(event),
            "tenant_id": event.tenant_id,
            "visibility": "tenant" if event.tenant_id else "platform_only",
            "queue": event.queue,
            "tags": event.tags,
            "resources": [event.resource] if event.resource and len(event.resource) <= RESOURCE_MAX else [],
        }
    )
    origin = tickets.Origin(
        dedup_key=event.dedup_key,
        requester=event.source,
        seen_at=event.occurred_at,
        occurrence_count=event.count or 1,
        previous_ticket_id=previous["id"] if previous else None,
    )
    return tickets.create_row(
        uow,
        uow.principal,
        data,
        correlation_id=event.event_id[:128],
        source=event.source,
        now=now,
        origin=origin,
        routing_event=_routing_event(event),
    )


def _occurrence(
    uow: UnitOfWork, event: IntakeEvent, row: dict[str, Any], *, now: datetime, settings: IntakeSettings
) -> dict[str, Any]:
    row = tickets.add_occurrences(uow, uow.principal, row, **_counting(event, now=now, settings=settings))
    return _raise_priority(uow, event, row, now=now)


def _counting(event: IntakeEvent, *, now: datetime, settings: IntakeSettings) -> dict[str, Any]:
    """How one event counts on its ticket: one more, or (a source that counts, GuardDuty) at least
    its count; reported at most once per ``report_every``."""
    return {
        "added": 0 if event.count else 1,
        "at_least": event.count,
        "seen_at": event.occurred_at,
        "now": now,
        "report_after": settings.report_every,
        "correlation_id": event.event_id[:128],
    }


def _raise_priority(
    uow: UnitOfWork, event: IntakeEvent, row: dict[str, Any], *, now: datetime
) -> dict[str, Any]:
    if event.severity and PRIORITY_RANK[event.priority] > PRIORITY_RANK[row["priority"]]:
        row = tickets.change_fields(
            uow,
            uow.principal,
            row,
            {"priority": event.priority},
            now=now,
            correlation_id=event.event_id[:128],
        )
    return row


def _trigger(uow: UnitOfWork, event: IntakeEvent, *, now: datetime, settings: IntakeSettings) -> Outcome:
    # The common case first, in one statement: the fingerprint's open ticket, counted and locked.
    counted = tickets.add_occurrences_to_open(
        uow, uow.principal, event.tenant_id, event.dedup_key, **_counting(event, now=now, settings=settings)
    )
    if counted is not None:
        row = _raise_priority(uow, event, counted, now=now)
        return Outcome("occurrence", row["id"], row["key"])
    last = tickets.last_for_fingerprint(uow, event.tenant_id, event.dedup_key)
    if (
        last is not None
        and last["state"] == State.RESOLVED
        and last["resolved_at"] is not None
        and now - last["resolved_at"] <= settings.reopen_window
    ):
        minutes = int(settings.reopen_window.total_seconds() // 60)
        row = tickets.transition_row(
            uow,
            uow.principal,
            last,
            TransitionRequest(
                to=State.IN_PROGRESS,
                reason=f"Reopened by intake: {event.source} triggered it again within {minutes} minutes"
                " of its resolve (flap protection).",
            ),
            now=now,
            correlation_id=event.event_id[:128],
        )
        row = _occurrence(uow, event, row, now=now, settings=settings)
        return Outcome("reopened", row["id"], row["key"])
    try:
        with uow.savepoint():
            row = _open(uow, event, now=now, previous=last)
    except OpenTicketExists:
        # Another worker opened it first (its transaction has committed: we waited on the index).
        raced = tickets.open_for_fingerprint(uow, event.tenant_id, event.dedup_key)
        if raced is None:
            raise
        row = _occurrence(uow, event, raced, now=now, settings=settings)
        return Outcome("occurrence", row["id"], row["key"])
    opened = uow.execute(
        OPENED_LAST_HOUR, {"tenant": event.tenant_id, "key": event.dedup_key, "now": now}
    ).fetchone()
    return Outcome("opened", row["id"], row["key"], opened_last_hour=int(opened["n"]) if opened else 1)


def _ack_or_resolve(uow: UnitOfWork, event: IntakeEvent, *, now: datetime) -> Outcome:
    row = tickets.open_for_fingerprint(uow, event.tenant_id, event.dedup_key)
    if row is None:
        return Outcome("ignored")
    correlation = event.event_id[:128]
    if event.action == "acknowledge":
        if row["state"] != State.NEW:
            return Outcome("ignored", row["id"], row["key"])
        row = tickets.transition_row(
            uow, uow.principal, row, TransitionRequest(to=State.ACK), now=now, correlation_id=correlation
        )
        return Outcome("acknowledged", row["id"], row["key"])
    last_trigger = row["last_trigger_at"] or row["first_seen_at"]
    if last_trigger is not None and event.occurred_at < last_trigger:
        return Outcome("stale", row["id"], row["key"])
    resolution = f"Resolved by {event.source}" + (f": {event.summary}" if event.summary else ".")
    row = tickets.transition_row(
        uow,
        uow.principal,
        row,
        TransitionRequest(to=State.RESOLVED, resolution=resolution[:5000]),
        now=now,
        correlation_id=correlation,
    )
    return Outcome("resolved", row["id"], row["key"])


def report_pending(uow: UnitOfWork, *, now: datetime, settings: IntakeSettings, limit: int = 500) -> int:
    """Report the occurrences a quiet minute left unreported (the intake sweeper, every minute)."""
    reported = 0
    for ticket_id in tickets.unreported_occurrences(uow, before=now - settings.report_every, limit=limit):
        row = tickets.lock_row(uow, ticket_id)
        if row is None:
            continue
        before = row["occurrences_reported"]
        row = tickets.report_occurrences(uow, uow.principal, row, now=now, correlation_id=None)
        reported += int(row["occurrences_reported"] != before)
    return reported
