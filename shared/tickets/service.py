"""Tickets: open, read, change and move through the lifecycle.

Every function takes the caller's transaction (``shared.db.transaction(principal)``) and the
principal, and scopes every query by it (the first wall; row-level security is the second).
Every change bumps the ticket's version, appends hash-chained audit events and writes the
matching outbox rows, all in that one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from psycopg import sql

from shared import audit, outbox
from shared.auth import Principal
from shared.db import Connection, jsonb
from shared.kernel.errors import Conflict, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from shared.kernel.ids import parse_ref, uuid7
from shared.tickets.lifecycle import check as check_transition
from shared.tickets.models import (
    Category,
    Kind,
    State,
    Ticket,
    TicketCreate,
    TicketPatch,
    TransitionRequest,
    Visibility,
    validate_category_fields,
)

COLUMNS = (
    "id, key, tenant_id, visibility, kind, category, priority, state, title, description, requester,"
    " assignee, queue, tags, fields, resources, source, correlation_id, resolution, occurrence_count,"
    " first_seen_at, last_seen_at, version, created_at, updated_at, acked_at, first_response_at,"
    " resolved_at, closed_at, canceled_at, public_updated_at"
)
_LOCK_COLUMNS = COLUMNS + ", audit_seq, audit_hash, audit_public_seq"
# Columns of the row that are not the ticket's API fields.
_INTERNAL_COLUMNS = frozenset({"audit_seq", "audit_hash", "audit_public_seq", "public_updated_at"})

INSERT = f"""
INSERT INTO ticket (id, tenant_id, visibility, kind, category, priority, state, title, description,
                    requester, assignee, queue, tags, fields, resources, source, correlation_id,
                    first_seen_at, last_seen_at, created_at, updated_at, public_updated_at, audit_seq,
                    audit_hash, audit_public_seq)
VALUES (%(id)s, %(tenant_id)s, %(visibility)s, %(kind)s, %(category)s, %(priority)s, 'new',
        %(title)s, %(description)s, %(requester)s, %(assignee)s, %(queue)s, %(tags)s, %(fields)s,
        %(resources)s, %(source)s, %(correlation_id)s, %(now)s, %(now)s, %(now)s, %(now)s, %(now)s, 1,
        %(audit_hash)s, 1)
RETURNING {COLUMNS}
"""

# Fields a tenant role may change on its own tickets; the rest are the platform's to set.
TENANT_EDITABLE = frozenset({"title", "description", "tags", "fields", "resources"})
# States in which a ticket's fields are frozen (move it back with a transition first).
FROZEN_STATES = frozenset({State.CLOSED, State.CANCELED})
_JSON_FIELDS = frozenset({"fields"})


def utcnow() -> datetime:
    return datetime.now(UTC)


def scope_filter(principal: Principal) -> tuple[sql.Composable, dict[str, Any]]:
    """The tenant filter every ticket query carries (row-level security repeats it)."""
    if principal.is_platform:
        return sql.SQL("TRUE"), {}
    return (
        sql.SQL("ticket.tenant_id = %(scope_tenant)s AND ticket.visibility <> 'platform_only'"),
        {"scope_tenant": principal.tenant},
    )


def _ref_filter(ref: str) -> tuple[sql.Composable, dict[str, Any]]:
    parsed = parse_ref(ref)
    if parsed is None:
        raise NotFound(f"No ticket '{ref}'. Refer to a ticket by its id or its key (TCK-42).")
    if isinstance(parsed, UUID):
        return sql.SQL("ticket.id = %(ref)s"), {"ref": parsed}
    return sql.SQL("ticket.key_num = %(ref)s"), {"ref": parsed}


def load_row(conn: Connection, principal: Principal, ref: str, *, lock: bool = False) -> dict[str, Any]:
    """The ticket's row if the principal may see it; another tenant's ticket is NotFound."""
    where_ref, params = _ref_filter(ref)
    where_scope, scope_params = scope_filter(principal)
    query = sql.SQL("SELECT {cols} FROM ticket WHERE {ref} AND {scope}{lock}").format(
        cols=sql.SQL(_LOCK_COLUMNS),
        ref=where_ref,
        scope=where_scope,
        lock=sql.SQL(" FOR UPDATE") if lock else sql.SQL(""),
    )
    row = conn.execute(query, {**params, **scope_params}).fetchone()
    if row is None:
        raise NotFound(f"No ticket '{ref}'.")
    return row


def to_model(row: dict[str, Any], principal: Principal) -> Ticket:
    """The ticket as ``principal`` may see it: tenants are shown the time of the last public
    change as ``updated_at``, so that internal activity (an internal comment) cannot be inferred."""
    values = {k: v for k, v in row.items() if k not in _INTERNAL_COLUMNS}
    if not principal.is_platform:
        values["updated_at"] = row["public_updated_at"] or row["created_at"]
    return Ticket.model_validate(values)


@dataclass
class Change:
    """What one operation does to a locked ticket row: column updates and audit events."""

    updates: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)  # (type, changes, visibility)
    bump_version: bool = True


def apply_change(
    conn: Connection,
    principal: Principal,
    row: dict[str, Any],
    change: Change,
    *,
    correlation_id: str | None,
    now: datetime,
    extra_detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``change`` to the locked ``row``: update, audit events, outbox rows. Returns the new row."""
    prev_seq, prev_hash, public_seq = row["audit_seq"], row["audit_hash"], row["audit_public_seq"]
    events: list[tuple[audit.AuditEvent, int | None]] = []
    for event_type, changes, visibility in change.events:
        event = audit.next_event(
            ticket_id=row["id"],
            prev_seq=prev_seq,
            prev_hash=prev_hash,
            type=event_type,
            actor=principal.sub,
            at=now,
            changes=changes,
            visibility=visibility,
            correlation_id=correlation_id,
        )
        if visibility == "public":
            public_seq += 1
        events.append((event, public_seq if visibility == "public" else None))
        prev_seq, prev_hash = event.seq, event.hash

    assignments: list[sql.Composable] = [
        sql.SQL("{} = {}").format(sql.Identifier(col), sql.Placeholder(f"set_{col}"))
        for col in change.updates
    ]
    assignments += [
        sql.SQL("updated_at = %(now)s"),
        sql.SQL("audit_seq = %(audit_seq)s"),
        sql.SQL("audit_hash = %(audit_hash)s"),
        sql.SQL("audit_public_seq = %(audit_public_seq)s"),
    ]
    if public_seq != row["audit_public_seq"]:  # a public change: tenants see it as the last update
        assignments.append(sql.SQL("public_updated_at = %(now)s"))
    if change.bump_version:
        assignments.append(sql.SQL("version = version + 1"))
    query = sql.SQL("UPDATE ticket SET {sets} WHERE id = %(id)s RETURNING {cols}").format(
        sets=sql.SQL(", ").join(assignments), cols=sql.SQL(_LOCK_COLUMNS)
    )
    params: dict[str, Any] = {
        f"set_{col}": (jsonb(value) if col in _JSON_FIELDS else value)
        for col, value in change.updates.items()
    }
    params.update(
        id=row["id"], now=now, audit_seq=prev_seq, audit_hash=prev_hash, audit_public_seq=public_seq
    )
    new_row = conn.execute(query, params).fetchone()
    if new_row is None:  # the row was locked by us; only RLS could hide it now
        raise NotFound("The ticket is outside your scope.")
    _write_events(conn, new_row, events, extra_detail)
    return new_row


# One round trip per event: the audit row and its outbox row in one statement.
WRITE_EVENT = f"WITH audit AS ({audit.INSERT_EVENT}) {outbox.INSERT}"


def _write_events(
    conn: Connection,
    ticket: dict[str, Any],
    events: list[tuple[audit.AuditEvent, int | None]],
    extra: dict[str, Any] | None,
) -> None:
    for event, public_seq in events:
        published = outbox.prepare(
            event_type=event.type,
            ticket=ticket,
            event={
                "seq": event.seq,
                "actor": event.actor,
                "at": event.at.isoformat(),
                "changes": event.changes,
                "event_visibility": event.visibility,
                "correlation_id": event.correlation_id,
                **(extra or {}),
            },
        )
        conn.execute(
            WRITE_EVENT,
            {
                **published,
                "ticket_id": event.ticket_id,
                "seq": event.seq,
                "type": event.type,
                "actor": event.actor,
                "at": event.at,
                "changes": jsonb(event.changes),
                "visibility": event.visibility,
                "correlation_id": event.correlation_id,
                "prev_hash": event.prev_hash,
                "hash": event.hash,
                "public_seq": public_seq,
            },
        )


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


def create(
    conn: Connection,
    principal: Principal,
    data: TicketCreate,
    *,
    correlation_id: str | None,
    source: str = "api",
    now: datetime | None = None,
) -> Ticket:
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
        "requester": principal.sub,
        "assignee": data.assignee,
        "queue": data.queue,
        "tags": data.tags,
        "fields": data.fields,
        "resources": data.resources,
        "source": source,
    }
    changes = {"state": {"old": None, "new": State.NEW.value}} | {
        k: {"old": None, "new": v} for k, v in values.items() if v not in (None, "", [], {})
    }
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
    row = conn.execute(
        INSERT,
        {
            **values,
            "fields": jsonb(values["fields"]),
            "id": ticket_id,
            "correlation_id": correlation_id,
            "now": now,
            "audit_hash": event.hash,
        },
    ).fetchone()
    assert row is not None
    _write_events(conn, row, [(event, 1)], None)
    return to_model(row, principal)


def get(conn: Connection, principal: Principal, ref: str) -> Ticket:
    return to_model(load_row(conn, principal, ref), principal)


def parse_if_match(value: str | None) -> int | None:
    """The version an If-Match header names: ``"3"``, ``W/"3"`` or ``3``; ``*`` or absent → None."""
    if value is None or value.strip() == "*":
        return None
    raw = value.strip().removeprefix("W/").strip('"')
    if not raw.isdigit():
        raise PreconditionFailed(
            f'If-Match must carry the ticket\'s version as its ETag, e.g. "3"; got {value!r}.'
        )
    return int(raw)


def etag(ticket: Ticket) -> str:
    return f'"{ticket.version}"'


def update(
    conn: Connection,
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
    row = load_row(conn, principal, ref, lock=True)
    if if_match is not None and if_match != row["version"]:
        raise PreconditionFailed(
            f"The ticket is at version {row['version']}, not {if_match}; re-read it and retry.",
            current_version=row["version"],
        )
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
    changes = {k: {"old": row[k], "new": v} for k, v in requested.items() if row[k] != v}
    if not changes:
        return to_model(row, principal)
    change = Change(
        updates={k: requested[k] for k in changes}, events=[("ticket.updated", changes, "public")]
    )
    return to_model(
        apply_change(conn, principal, row, change, correlation_id=correlation_id, now=now), principal
    )


def transition(
    conn: Connection,
    principal: Principal,
    ref: str,
    request: TransitionRequest,
    *,
    if_match: int | None = None,
    correlation_id: str | None,
    now: datetime | None = None,
) -> Ticket:
    now = now or utcnow()
    row = load_row(conn, principal, ref, lock=True)
    if if_match is not None and if_match != row["version"]:
        raise PreconditionFailed(
            f"The ticket is at version {row['version']}, not {if_match}; re-read it and retry.",
            current_version=row["version"],
        )
    current, target = State(row["state"]), request.to
    check_transition(
        principal,
        current=current,
        target=target,
        kind=Kind(row["kind"]),
        reason=request.reason,
        resolution=request.resolution,
    )
    updates: dict[str, Any] = {"state": target.value}
    if target is State.ACK or (target is State.IN_PROGRESS and row["acked_at"] is None):
        updates["acked_at"] = row["acked_at"] or now
    if principal.is_platform and row["first_response_at"] is None and target is not State.CANCELED:
        updates["first_response_at"] = now
    if target is State.RESOLVED:
        updates |= {"resolved_at": now, "resolution": request.resolution}
    elif target is State.CLOSED:
        updates["closed_at"] = now
    elif target is State.CANCELED:
        updates |= {"canceled_at": now, "cancel_reason": request.reason}
    elif current in (State.RESOLVED, State.CLOSED):  # reopen
        updates |= {"resolved_at": None, "closed_at": None, "resolution": None}
    changes: dict[str, Any] = {"state": {"old": current.value, "new": target.value}}
    if request.reason:
        changes["reason"] = request.reason
    if request.resolution:
        changes["resolution"] = request.resolution
    change = Change(updates=updates, events=[("ticket.state_changed", changes, "public")])
    return to_model(
        apply_change(conn, principal, row, change, correlation_id=correlation_id, now=now), principal
    )
