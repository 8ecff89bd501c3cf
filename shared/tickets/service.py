"""The ticket service: open, read, change, comment on and move tickets through their lifecycle.

Every function takes the caller's unit of work (``shared.db.transaction(principal)``) and the
principal. Rules live here; SQL lives in ``repository``. One place, ``implications``, decides
what a change implies (first response, acked/resolved/closed/canceled times, the version, the
audit events), and one place, ``_apply``, writes it: the row, the hash-chained audit events,
their outbox messages, then the in-transaction listeners (``on_change``). Every write path uses
them: the API now; intake, e-mail and bulk operations later.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from shared import audit, outbox
from shared.auth import Principal
from shared.db import UnitOfWork
from shared.kernel.clock import utcnow
from shared.kernel.errors import Conflict, Forbidden, PreconditionFailed, ValidationFailed
from shared.kernel.ids import uuid7
from shared.tickets import events, repository
from shared.tickets.lifecycle import check as check_transition
from shared.tickets.models import (
    Category,
    Comment,
    CommentCreate,
    CommentVisibility,
    Kind,
    State,
    Ticket,
    TicketCreate,
    TicketPatch,
    TransitionRequest,
    Visibility,
    sla_view,
    validate_category_fields,
)

# Fields a tenant role may change on its own tickets; the rest are the platform's to set.
TENANT_EDITABLE = frozenset({"title", "description", "tags", "fields", "resources"})
# States in which a ticket's fields are frozen (move it back with a transition first).
FROZEN_STATES = frozenset({State.CLOSED, State.CANCELED})
# A public comment's body travels in its event up to this size (UTF-8 bytes).
EVENT_BODY_BYTES = 4096


# ---- what a change is, and what it implies ------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """What an operation asks of a ticket: field values, a transition, or a comment added."""

    fields: dict[str, Any] = field(default_factory=dict)
    transition: TransitionRequest | None = None
    comment: dict[str, Any] | None = None  # the comment row, once inserted
    # Occurrences counted since the last report (intake): the row's count is already up to date.
    occurrences: bool = False
    # Events a listener or a capability adds to the trail (the SLA's), with columns they set
    # (never the ticket's own fields; the version does not move).
    annotations: tuple[tuple[str, dict[str, Any], Literal["public", "internal"]], ...] | None = None
    updates: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Effects:
    """What a change does to the row: column updates, audit events, whether the version moves."""

    updates: dict[str, Any]
    events: list[tuple[str, dict[str, Any], Literal["public", "internal"]]]
    bump_version: bool = True


def _is_first_response(principal: Principal, row: dict[str, Any], change: Change) -> bool:
    """A platform role's first public comment or first transition (other than canceling) is the
    ticket's first response; a tenant's own comments never are."""
    if not principal.is_platform or row["first_response_at"] is not None:
        return False
    if change.comment is not None:
        return bool(change.comment["visibility"] == CommentVisibility.PUBLIC)
    return change.transition is not None and change.transition.to is not State.CANCELED


def implications(principal: Principal, row: dict[str, Any], change: Change, now: datetime) -> Effects:
    """The one place that decides what a change implies. Pure: no I/O."""
    if change.annotations is not None:
        return Effects(dict(change.updates), list(change.annotations), bump_version=False)
    updates: dict[str, Any] = {}
    if _is_first_response(principal, row, change):
        updates["first_response_at"] = now
    if change.comment is not None:
        visibility = change.comment["visibility"]
        comment_event = {"comment_id": str(change.comment["id"]), "visibility": visibility}
        return Effects(updates, [("comment.added", comment_event, visibility)], bump_version=False)
    if change.occurrences:
        reported, count = row["occurrences_reported"], row["occurrence_count"]
        counted: dict[str, Any] = {
            "occurrence_count": {"old": reported, "new": count},
            "last_seen_at": {
                "old": None,
                "new": row["last_seen_at"].isoformat() if row["last_seen_at"] else None,
            },
        }
        updates |= {"occurrences_reported": count, "occurrences_reported_at": now}
        return Effects(updates, [("ticket.occurrences_added", counted, "public")], bump_version=False)
    if change.transition is not None:
        current, target = State(row["state"]), change.transition.to
        updates["state"] = target.value
        if target is State.ACK or (target is State.IN_PROGRESS and row["acked_at"] is None):
            updates["acked_at"] = row["acked_at"] or now
        if target is State.RESOLVED:
            updates |= {"resolved_at": now, "resolution": change.transition.resolution}
        elif target is State.CLOSED:
            updates["closed_at"] = now
        elif target is State.CANCELED:
            updates |= {"canceled_at": now, "cancel_reason": change.transition.reason}
        elif current in (State.RESOLVED, State.CLOSED):  # reopen
            updates |= {"resolved_at": None, "closed_at": None, "resolution": None}
        described: dict[str, Any] = {"state": {"old": current.value, "new": target.value}}
        if change.transition.reason:
            described["reason"] = change.transition.reason
        if change.transition.resolution:
            described["resolution"] = change.transition.resolution
        return Effects(updates, [("ticket.state_changed", described, "public")])
    changed = {k: {"old": row[k], "new": v} for k, v in change.fields.items() if row[k] != v}
    updates |= {k: change.fields[k] for k in changed}
    return Effects(updates, [("ticket.updated", changed, "public")] if changed else [])


# ---- listeners: packages that react to a change inside its transaction ---------------------------


@dataclass(frozen=True)
class TicketChanged:
    """What listeners are told: who changed which ticket how, inside the change's transaction."""

    principal: Principal
    before: dict[str, Any] | None  # None when the ticket was just created
    after: dict[str, Any]
    events: tuple[audit.AuditEvent, ...]
    now: datetime


@dataclass(frozen=True)
class FollowUp:
    """What a listener adds to the change: events for the ticket's trail (and the bus) and the
    columns it keeps on the row (the SLA's summary), written right after, in the same chain."""

    events: tuple[tuple[str, dict[str, Any], Literal["public", "internal"]], ...] = ()
    updates: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Planned:
    """What a listener adds to a ticket being opened, decided before its row is written: the
    follow-up's columns go into the INSERT and its events into the same hash chain, right after
    ``ticket.created``; ``write`` runs once the row exists (rows that refer to it). The same as the
    listener's follow-up, without an UPDATE of the row just inserted."""

    follow_up: FollowUp
    write: Callable[[UnitOfWork, dict[str, Any]], None]


Listener = Callable[[UnitOfWork, TicketChanged], FollowUp | None]
# A listener's plan for a ticket being opened: (uow, the row to be inserted, now).
CreationPlanner = Callable[[UnitOfWork, Mapping[str, Any], datetime], Planned | None]
_listeners: list[Listener] = []
_planners: dict[Listener, CreationPlanner] = {}


def on_change(listener: Listener, *, creation: CreationPlanner | None = None) -> Listener:
    """Register ``listener`` to run in the transaction of every ticket change (creation included),
    after the row and its events are written: the SLA engine moves its clocks there, webhooks and
    notifications enqueue their work. A listener that raises rolls the change back. What it
    answers (``FollowUp``) is written as one more change of the ticket, whose listeners are told
    too (a listener ignores the events it added itself).

    ``creation``, when given, answers for a ticket being opened instead of ``listener``: its plan
    is written with the new row (``Planned``), so opening a ticket is one INSERT, not an INSERT and
    an UPDATE of the same row."""
    if listener not in _listeners:
        _listeners.append(listener)
    if creation is not None:
        _planners[listener] = creation
    return listener


def _notify(
    uow: UnitOfWork,
    changed: TicketChanged,
    *,
    correlation_id: str | None,
    planned: frozenset[Listener] = frozenset(),
) -> dict[str, Any]:
    """Tell the listeners (but those whose plan was written with the new row); write what they
    add. Returns the row as it ends."""
    events: list[tuple[str, dict[str, Any], Literal["public", "internal"]]] = []
    updates: dict[str, Any] = {}
    for listener in _listeners:
        if listener in planned:
            continue
        follow_up = listener(uow, changed)
        if follow_up is not None:
            events.extend(follow_up.events)
            updates |= follow_up.updates
    if not events:
        return changed.after
    change = Change(annotations=tuple(events), updates=updates)
    return _apply(
        uow, changed.principal, changed.after, change, correlation_id=correlation_id, now=changed.now
    )


# ---- writing a change -----------------------------------------------------------------------------


def _write_events(
    uow: UnitOfWork,
    ticket: dict[str, Any],
    written: list[tuple[audit.AuditEvent, int | None]],
    extra: dict[str, Any] | None,
) -> None:
    for event, public_seq in written:
        message, params = events.message(ticket, event, extra)
        repository.write_event(uow, event, public_seq, params)
        outbox.remember(uow, message)


def _chain(
    written: list[tuple[audit.AuditEvent, int | None]],
    events: Iterable[tuple[str, dict[str, Any], Literal["public", "internal"]]],
    *,
    ticket_id: UUID,
    after: tuple[int, str],
    public_seq: int,
    actor: str,
    now: datetime,
    correlation_id: str | None,
) -> int:
    """Append ``events`` (type, changes, visibility) to the ticket's hash chain after ``after``
    (seq, hash), each with its position among the public ones, to ``written``; the public count
    after them."""
    prev_seq, prev_hash = after
    for event_type, changes, visibility in events:
        event = audit.next_event(
            ticket_id=ticket_id,
            prev_seq=prev_seq,
            prev_hash=prev_hash,
            type=event_type,
            actor=actor,
            at=now,
            changes=changes,
            visibility=visibility,
            correlation_id=correlation_id,
        )
        if visibility == "public":
            public_seq += 1
        written.append((event, public_seq if visibility == "public" else None))
        prev_seq, prev_hash = event.seq, event.hash
    return public_seq


def _apply(
    uow: UnitOfWork,
    principal: Principal,
    row: dict[str, Any],
    change: Change,
    *,
    correlation_id: str | None,
    now: datetime,
    extra_detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``change`` to the locked ``row``: the row, its audit events and their outbox messages;
    then tell the listeners. Returns the new row (the old one when nothing changed)."""
    effects = implications(principal, row, change, now)
    if not effects.events:
        return row
    written: list[tuple[audit.AuditEvent, int | None]] = []
    public_seq = _chain(
        written,
        effects.events,
        ticket_id=row["id"],
        after=(row["audit_seq"], row["audit_hash"]),
        public_seq=row["audit_public_seq"],
        actor=principal.sub,
        now=now,
        correlation_id=correlation_id,
    )
    last = written[-1][0]
    new_row = repository.update(
        uow,
        row,
        effects.updates,
        now=now,
        audit_seq=last.seq,
        audit_hash=last.hash,
        audit_public_seq=public_seq,
        bump_version=effects.bump_version,
    )
    _write_events(uow, new_row, written, extra_detail)
    changed = TicketChanged(principal, row, new_row, tuple(e for e, _ in written), now)
    return _notify(uow, changed, correlation_id=correlation_id)


def to_model(row: dict[str, Any], principal: Principal) -> Ticket:
    """The ticket as ``principal`` may see it: tenants are shown the time of the last public
    change as ``updated_at``, so that internal activity (an internal comment) cannot be inferred."""
    values = {k: v for k, v in row.items() if k not in repository.INTERNAL_COLUMNS}
    values["sla"] = sla_view(row.get("sla"), utcnow())
    if not principal.is_platform:
        values["updated_at"] = row["public_updated_at"] or row["created_at"]
    return Ticket.model_validate(values)


# ---- the operations ---------------------------------------------------------------------------------


def _creation_scope(principal: Principal, data: TicketCreate) -> tuple[str | None, Visibility]:
    """Where a new ticket lives and who sees it, by the caller's roles."""
    if not principal.is_platform:
        if data.tenant_id is not None and data.tenant_id != principal.tenant:
            raise Forbidden("Tenant roles open tickets in their own tenant only.")
        if data.visibility not in (None, Visibility.TENANT):
            raise Forbidden("Only platform roles may set a ticket's visibility.")
        if data.assignee is not None or data.queue is not None:
            raise Forbidden("Only platform roles may assign a ticket or route it to a queue.")
        return principal.tenant, Visibility.TENANT
    tenant_id = data.tenant_id
    visibility = data.visibility or (Visibility.TENANT if tenant_id else Visibility.PLATFORM_ONLY)
    if tenant_id is None and visibility is not Visibility.PLATFORM_ONLY:
        raise ValidationFailed(
            "A ticket without a tenant is platform-only.",
            errors=[{"loc": ["body", "visibility"], "msg": "must be platform_only when tenant_id is absent"}],
        )
    return tenant_id, visibility


@dataclass(frozen=True)
class Origin:
    """Where a machine-opened ticket comes from (intake): its fingerprint, who reported it, when
    the source first saw it, and the previous ticket of the same fingerprint."""

    dedup_key: str
    requester: str
    seen_at: datetime
    occurrence_count: int = 1
    previous_ticket_id: UUID | None = None


def _chosen_on_purpose(
    principal: Principal, data: TicketCreate, event: dict[str, Any] | None
) -> frozenset[str]:
    """What routing rules leave as the opener set it: a platform person's explicit queue, assignee,
    priority or visibility. A tenant's choices (its priority) and an event's derived ones are
    the rules' to override (docs/decisions.md: routing rules)."""
    if event is not None or not principal.is_platform:
        return frozenset()
    from shared import routing  # only where tickets are opened (see create_row)

    given = data.model_fields_set
    return frozenset(
        name for name in routing.KEPT_WHEN_CHOSEN if name in given and getattr(data, name) is not None
    )


def create(
    uow: UnitOfWork,
    principal: Principal,
    data: TicketCreate,
    *,
    correlation_id: str | None,
    source: str = "api",
    now: datetime | None = None,
    origin: Origin | None = None,
    routing_event: dict[str, Any] | None = None,
) -> Ticket:
    """Open a ticket. ``routing_event`` is the event that opened it, if one did (``source``,
    ``detail_type``, ``severity``, ``summary``, ``resource``): routing rules test it too."""
    return to_model(
        create_row(
            uow,
            principal,
            data,
            correlation_id=correlation_id,
            source=source,
            now=now,
            origin=origin,
            routing_event=routing_event,
        ),
        principal,
    )


def create_row(
    uow: UnitOfWork,
    principal: Principal,
    data: TicketCreate,
    *,
    correlation_id: str | None,
    source: str = "api",
    now: datetime | None = None,
    origin: Origin | None = None,
    routing_event: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``create``, returning the locked row (intake goes on working on it)."""
    now = now or utcnow()
    tenant_id, visibility = _creation_scope(principal, data)
    ticket_id = uuid7()
    values: dict[str, Any] = {
        "tenant_id": tenant_id,
        "visibility": visibility.value,
        "kind": data.kind.value if data.kind else None,
        "category": data.category.value if data.category else None,
        "priority": data.priority.value,
        "title": data.title,
        "description": data.description,
        "requester": origin.requester if origin else principal.sub,
        "assignee": data.assignee,
        "queue": data.queue,
        "tags": data.tags,
        "fields": data.fields,
        "resources": data.resources,
        "source": source,
        "sla_policy": None,
    }
    # Imported here, not at the top: routing's models take about 0.1 s to build, which every
    # function importing the tickets package would otherwise pay at cold start, though only the
    # ones that open tickets use them.
    from shared import routing

    values, routed_by = routing.apply(
        uow, values, event=routing_event, keep=_chosen_on_purpose(principal, data, routing_event)
    )
    if origin is not None:
        values["dedup_key"] = origin.dedup_key
    changes = {"state": {"old": None, "new": State.NEW.value}} | {
        k: {"old": None, "new": v} for k, v in values.items() if v not in (None, "", [], {})
    }
    if origin is not None and origin.previous_ticket_id is not None:
        changes["previous_ticket_id"] = {"old": None, "new": str(origin.previous_ticket_id)}
    if routed_by:  # the rules that applied; platform roles alone see them (events, history)
        changes[events.ROUTING] = {"old": None, "new": routed_by}
    event = audit.next_event(
        ticket_id=ticket_id,
        prev_seq=0,
        prev_hash=audit.GENESIS,
        type="ticket.created",
        actor=principal.sub,
        at=now,
        changes=changes,
        correlation_id=correlation_id,
    )
    inserted = {
        **values,
        "id": ticket_id,
        "correlation_id": correlation_id,
        "now": now,
        "audit_hash": event.hash,
    }
    if origin is not None:
        inserted |= {
            "occurrence_count": origin.occurrence_count,
            "previous_ticket_id": origin.previous_ticket_id,
            "first_seen_at": origin.seen_at,
            "last_seen_at": origin.seen_at,
            "last_trigger_at": origin.seen_at,
        }
    plans = _plans(uow, {**inserted, "state": State.NEW.value, "first_response_at": None}, now)
    written: list[tuple[audit.AuditEvent, int | None]] = [(event, 1)]
    public_seq = 1
    for plan in plans.values():
        inserted.update(plan.follow_up.updates)
        last = written[-1][0]
        public_seq = _chain(
            written,
            plan.follow_up.events,
            ticket_id=ticket_id,
            after=(last.seq, last.hash),
            public_seq=public_seq,
            actor=principal.sub,
            now=now,
            correlation_id=correlation_id,
        )
    last = written[-1][0]
    inserted |= {"audit_seq": last.seq, "audit_hash": last.hash, "audit_public_seq": public_seq}
    row = repository.insert(uow, inserted)
    _write_events(uow, row, written, None)
    for plan in plans.values():
        plan.write(uow, row)
    return _notify(
        uow,
        TicketChanged(principal, None, row, tuple(e for e, _ in written), now),
        correlation_id=correlation_id,
        planned=frozenset(plans),
    )


def _plans(uow: UnitOfWork, prospective: Mapping[str, Any], now: datetime) -> dict[Listener, Planned]:
    """The planners' plans for a ticket about to be inserted. A plan whose columns the INSERT does
    not carry is not used: its listener is told after the INSERT, as for any change."""
    plans: dict[Listener, Planned] = {}
    for listener in _listeners:
        planner = _planners.get(listener)
        if planner is None:
            continue
        plan = planner(uow, prospective, now)
        if plan is not None and set(plan.follow_up.updates) <= repository.INSERTABLE_FOLLOW_UP:
            plans[listener] = plan
    return plans


# ---- a fingerprint's tickets (intake) -----------------------------------------------------------------

open_for_fingerprint = repository.open_by_dedup_key
last_for_fingerprint = repository.last_by_dedup_key
unreported_occurrences = repository.unreported
lock_row = repository.lock_by_id


def add_occurrences(
    uow: UnitOfWork,
    principal: Principal,
    row: dict[str, Any],
    *,
    added: int,
    at_least: int | None = None,
    seen_at: datetime,
    now: datetime,
    report_after: timedelta,
    correlation_id: str | None = None,
) -> dict[str, Any]:
    """Count repeats of the locked ``row``'s problem. They reach the audit trail and the bus as one
    "Occurrences Added" event per ticket per ``report_after`` at most (a storm writes one event a
    minute, not one per repeat); the intake sweeper reports what a quiet minute left behind."""
    new_row = repository.add_occurrences(uow, row["id"], added=added, at_least=at_least, seen_at=seen_at)
    return _report_if_due(
        uow, principal, new_row, now=now, report_after=report_after, correlation_id=correlation_id
    )


def add_occurrences_to_open(
    uow: UnitOfWork,
    principal: Principal,
    tenant_id: str | None,
    dedup_key: str,
    *,
    added: int,
    at_least: int | None = None,
    seen_at: datetime,
    now: datetime,
    report_after: timedelta,
    correlation_id: str | None = None,
) -> dict[str, Any] | None:
    """``add_occurrences`` on the fingerprint's open ticket, if there is one (else None)."""
    row = repository.add_occurrences_to_open(
        uow, tenant_id, dedup_key, added=added, at_least=at_least, seen_at=seen_at
    )
    if row is None:
        return None
    return _report_if_due(
        uow, principal, row, now=now, report_after=report_after, correlation_id=correlation_id
    )


def _report_if_due(
    uow: UnitOfWork,
    principal: Principal,
    row: dict[str, Any],
    *,
    now: datetime,
    report_after: timedelta,
    correlation_id: str | None,
) -> dict[str, Any]:
    last = row["occurrences_reported_at"]
    if last is None or now - last >= report_after:
        return report_occurrences(uow, principal, row, now=now, correlation_id=correlation_id)
    return row


def report_occurrences(
    uow: UnitOfWork, principal: Principal, row: dict[str, Any], *, now: datetime, correlation_id: str | None
) -> dict[str, Any]:
    """One audited summary of the occurrences counted since the last one (nothing if none)."""
    if row["occurrence_count"] <= row["occurrences_reported"]:
        return row
    return _apply(uow, principal, row, Change(occurrences=True), correlation_id=correlation_id, now=now)


def annotate(
    uow: UnitOfWork,
    principal: Principal,
    row: dict[str, Any],
    events: tuple[tuple[str, dict[str, Any], Literal["public", "internal"]], ...],
    *,
    updates: dict[str, Any] | None = None,
    now: datetime,
    correlation_id: str | None = None,
) -> dict[str, Any]:
    """Add a capability's events to the locked ``row``'s trail (the SLA timer's at-risk, breach
    and escalation), with the columns it keeps on the row; the version does not move."""
    change = Change(annotations=events, updates=updates or {})
    return _apply(uow, principal, row, change, correlation_id=correlation_id, now=now)


def change_fields(
    uow: UnitOfWork,
    principal: Principal,
    row: dict[str, Any],
    fields: dict[str, Any],
    *,
    now: datetime,
    correlation_id: str | None,
) -> dict[str, Any]:
    """Change fields of the locked ``row`` as the service itself (intake raising a priority)."""
    return _apply(uow, principal, row, Change(fields=fields), correlation_id=correlation_id, now=now)


def transition_row(
    uow: UnitOfWork,
    principal: Principal,
    row: dict[str, Any],
    request: TransitionRequest,
    *,
    now: datetime,
    correlation_id: str | None,
) -> dict[str, Any]:
    """``transition`` on a row the caller already holds locked."""
    check_transition(
        principal,
        current=State(row["state"]),
        target=request.to,
        kind=Kind(row["kind"]),
        reason=request.reason,
        resolution=request.resolution,
    )
    return _apply(uow, principal, row, Change(transition=request), correlation_id=correlation_id, now=now)


def get(uow: UnitOfWork, principal: Principal, ref: str) -> Ticket:
    return to_model(repository.load(uow, principal, ref), principal)


def _check_version(row: dict[str, Any], if_match: int | None) -> None:
    if if_match is not None and if_match != row["version"]:
        raise PreconditionFailed(
            f"The ticket is at version {row['version']}, not {if_match}; re-read it and retry.",
            current_version=row["version"],
        )


def update(
    uow: UnitOfWork,
    principal: Principal,
    ref: str,
    patch: TicketPatch,
    *,
    if_match: int | None,
    correlation_id: str | None,
    now: datetime | None = None,
) -> Ticket:
    now = now or utcnow()
    requested = patch.model_dump(exclude_unset=True, mode="json")
    if not principal.is_platform:
        refused = sorted(set(requested) - TENANT_EDITABLE)
        if refused:
            raise Forbidden(f"Only platform roles may change: {', '.join(refused)}.")
    row = repository.load(uow, principal, ref, lock=True)
    _check_version(row, if_match)
    if State(row["state"]) in FROZEN_STATES:
        advice = "it is final" if row["state"] == State.CANCELED else "reopen it first"
        raise Conflict(f"A {row['state']} ticket cannot be changed; {advice}.", current_state=row["state"])
    if "fields" in requested:
        category = Category(row["category"]) if row["category"] else None
        try:
            requested["fields"] = validate_category_fields(category, requested["fields"])
        except ValueError as exc:
            raise ValidationFailed(
                "The fields do not fit the ticket's category.",
                errors=[{"loc": ["body", "fields"], "msg": str(exc)}],
            ) from exc
    if (
        requested.get("visibility")
        and requested["visibility"] != Visibility.PLATFORM_ONLY
        and not row["tenant_id"]
    ):
        raise ValidationFailed("A ticket without a tenant stays platform-only.")
    new_row = _apply(uow, principal, row, Change(fields=requested), correlation_id=correlation_id, now=now)
    return to_model(new_row, principal)


def transition(
    uow: UnitOfWork,
    principal: Principal,
    ref: str,
    request: TransitionRequest,
    *,
    if_match: int | None = None,
    correlation_id: str | None,
    now: datetime | None = None,
) -> Ticket:
    now = now or utcnow()
    row = repository.load(uow, principal, ref, lock=True)
    _check_version(row, if_match)
    check_transition(
        principal,
        current=State(row["state"]),
        target=request.to,
        kind=Kind(row["kind"]),
        reason=request.reason,
        resolution=request.resolution,
    )
    new_row = _apply(uow, principal, row, Change(transition=request), correlation_id=correlation_id, now=now)
    return to_model(new_row, principal)


def add_comment(
    uow: UnitOfWork,
    principal: Principal,
    ref: str,
    data: CommentCreate,
    *,
    correlation_id: str | None,
    now: datetime | None = None,
) -> Comment:
    now = now or utcnow()
    if data.visibility is CommentVisibility.INTERNAL and not principal.is_platform:
        raise Forbidden("Internal comments are for platform roles only.")
    row = repository.load(uow, principal, ref, lock=True)
    comment = repository.insert_comment(
        uow,
        {
            "id": uuid7(),
            "ticket_id": row["id"],
            "author": principal.sub,
            "body": data.body,
            "visibility": data.visibility.value,
            "now": now,
        },
    )
    _apply(
        uow,
        principal,
        row,
        Change(comment=comment),
        correlation_id=correlation_id,
        now=now,
        extra_detail={"comment": _event_comment(comment)},
    )
    return Comment.model_validate(comment)


def _event_comment(comment: dict[str, Any]) -> dict[str, Any]:
    """The comment as ticket events carry it. An internal comment's body stays out of the event:
    events leave the service (rules, queues, webhooks), and only platform roles may read it,
    through the API. A long public body is left out too (events stay small)."""
    shown: dict[str, Any] = {
        "id": str(comment["id"]),
        "author": comment["author"],
        "visibility": comment["visibility"],
    }
    if comment["visibility"] == CommentVisibility.PUBLIC:
        if len(comment["body"].encode()) <= EVENT_BODY_BYTES:
            shown["body"] = comment["body"]
        else:
            shown["body_omitted"] = True
    return shown
