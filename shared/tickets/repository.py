"""The tickets' SQL: reading rows in the principal's scope, writing a change with its audit events
and their outbox rows, comments. No rules live here (``shared.tickets.service`` decides what a
change is and implies); every read carries the principal's tenant filter, the first wall in
front of row-level security.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import sql

from shared import audit, outbox
from shared.auth import Principal
from shared.db import UnitOfWork, jsonb, on_violation
from shared.kernel.errors import Conflict, NotFound, ValidationFailed
from shared.kernel.ids import parse_ref

COLUMNS = (
    "id, key, tenant_id, visibility, kind, category, priority, state, title, description, requester,"
    " assignee, queue, tags, fields, resources, source, correlation_id, resolution, occurrence_count,"
    " first_seen_at, last_seen_at, version, created_at, updated_at, acked_at, first_response_at,"
    " resolved_at, closed_at, canceled_at, public_updated_at, dedup_key, previous_ticket_id,"
    " sla_policy, sla, sla_escalation_level, sla_status, sla_due_at"
)
_LOCK_COLUMNS = (
    COLUMNS + ", audit_seq, audit_hash, audit_public_seq, last_trigger_at, occurrences_reported,"
    " occurrences_reported_at"
)
# Columns of the row that are not the ticket's API fields.
INTERNAL_COLUMNS = frozenset(
    {
        "audit_seq",
        "audit_hash",
        "audit_public_seq",
        "public_updated_at",
        "last_trigger_at",
        "occurrences_reported",
        "occurrences_reported_at",
        "sla_status",
        "sla_due_at",
    }
)
# A ticket is open until it is resolved, closed or canceled (ticket_open_dedup_idx says the same).
OPEN = "state NOT IN ('resolved', 'closed', 'canceled')"
_JSON_COLUMNS = frozenset({"fields", "sla"})
# The columns a listener's plan for a new ticket may set in its INSERT (service.Planned).
INSERTABLE_FOLLOW_UP = frozenset({"sla", "sla_status", "sla_due_at"})

INSERT = f"""
INSERT INTO ticket (id, tenant_id, visibility, kind, category, priority, state, title, description,
                    requester, assignee, queue, tags, fields, resources, source, correlation_id,
                    dedup_key, occurrence_count, occurrences_reported, occurrences_reported_at,
                    previous_ticket_id, last_trigger_at, first_seen_at, last_seen_at, created_at,
                    updated_at, public_updated_at, audit_seq, audit_hash, audit_public_seq, sla_policy,
                    sla, sla_status, sla_due_at)
VALUES (%(id)s, %(tenant_id)s, %(visibility)s, %(kind)s, %(category)s, %(priority)s, 'new',
        %(title)s, %(description)s, %(requester)s, %(assignee)s, %(queue)s, %(tags)s, %(fields)s,
        %(resources)s, %(source)s, %(correlation_id)s, %(dedup_key)s, %(occurrence_count)s,
        %(occurrence_count)s, %(now)s, %(previous_ticket_id)s, %(last_trigger_at)s,
        %(first_seen_at)s, %(last_seen_at)s, %(now)s, %(now)s, %(now)s, %(audit_seq)s, %(audit_hash)s,
        %(audit_public_seq)s, %(sla_policy)s, %(sla)s, %(sla_status)s, %(sla_due_at)s)
RETURNING {_LOCK_COLUMNS}
"""

# One statement per event: the audit row and its outbox row (a writable CTE).
WRITE_EVENT = f"WITH audit AS ({audit.INSERT_EVENT}) {outbox.messages.INSERT}"

INSERT_COMMENT = """
INSERT INTO ticket_comment (id, ticket_id, author, body, visibility, created_at)
VALUES (%(id)s, %(ticket_id)s, %(author)s, %(body)s, %(visibility)s, %(now)s)
RETURNING id, ticket_id, author, body, visibility, created_at
"""
# Tenants never see internal comments: the query says so, and row-level security repeats it.
LIST_COMMENTS = """
SELECT id, ticket_id, author, body, visibility, created_at FROM ticket_comment
WHERE ticket_id = %(ticket_id)s AND (%(platform)s OR visibility = 'public') AND id > %(after)s
ORDER BY id
LIMIT %(limit)s
"""


# What breaking the tickets' constraints means (shared.db.errors translates by name).
on_violation(
    "ticket_tenant_id_format",
    lambda exc: ValidationFailed(
        "The tenant id is not valid: lowercase letters, digits and '-_.', starting with a letter or digit.",
        errors=[{"loc": ["body", "tenant_id"], "msg": "not a tenant id"}],
    ),
)


class OpenTicketExists(Conflict):
    """Another open ticket has this fingerprint (ticket_open_dedup_idx)."""


on_violation(
    "ticket_open_dedup_idx",
    lambda exc: OpenTicketExists(
        "Another open ticket has this dedup key; resolve or close it first (at most one open ticket"
        " per fingerprint).",
    ),
)
on_violation(
    "platform_only_without_tenant",
    lambda exc: ValidationFailed("A ticket without a tenant is platform-only."),
)


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


def load(uow: UnitOfWork, principal: Principal, ref: str, *, lock: bool = False) -> dict[str, Any]:
    """The ticket's row if the principal may see it; another tenant's ticket is NotFound."""
    where_ref, params = _ref_filter(ref)
    where_scope, scope_params = scope_filter(principal)
    query = sql.SQL("SELECT {cols} FROM ticket WHERE {ref} AND {scope}{lock}").format(
        cols=sql.SQL(_LOCK_COLUMNS),
        ref=where_ref,
        scope=where_scope,
        lock=sql.SQL(" FOR UPDATE") if lock else sql.SQL(""),
    )
    row = uow.execute(query, {**params, **scope_params}).fetchone()
    if row is None:
        raise NotFound(f"No ticket '{ref}'.")
    row_: dict[str, Any] = row
    return row_


def rows_by_id(uow: UnitOfWork, principal: Principal, ids: Sequence[UUID]) -> list[dict[str, Any]]:
    """The rows of ``ids`` the principal may see, newest first (a search page's rows)."""
    scope, scope_params = scope_filter(principal)
    query = sql.SQL(
        "SELECT {cols} FROM ticket WHERE ticket.id = ANY(%(ids)s) AND {scope} ORDER BY ticket.id DESC"
    ).format(cols=sql.SQL(COLUMNS), scope=scope)
    return uow.execute(query, {**scope_params, "ids": list(ids)}, prepare=False).fetchall()


def insert(uow: UnitOfWork, values: dict[str, Any]) -> dict[str, Any]:
    """Insert a new ticket (state new) with its audit head (``audit_hash``: the last of its first
    events, ``ticket.created`` and what listeners planned) and the columns those plans set."""
    origin = {
        "dedup_key": None,
        "occurrence_count": 1,
        "previous_ticket_id": None,
        "last_trigger_at": None,
        "first_seen_at": values["now"],
        "last_seen_at": values["now"],
        "audit_seq": 1,
        "audit_public_seq": 1,
        "sla": None,
        "sla_status": "none",
        "sla_due_at": None,
    }
    merged = {**origin, **values}
    merged |= {
        "fields": jsonb(merged["fields"]),
        "sla": jsonb(merged["sla"]) if merged["sla"] is not None else None,
    }
    row = uow.execute(INSERT, merged).fetchone()
    assert row is not None
    inserted: dict[str, Any] = row
    return inserted


def update(
    uow: UnitOfWork,
    row: dict[str, Any],
    updates: dict[str, Any],
    *,
    now: datetime,
    audit_seq: int,
    audit_hash: str,
    audit_public_seq: int,
    bump_version: bool,
) -> dict[str, Any]:
    """Write ``updates`` and the new audit head to the locked ``row``; returns the new row.
    A change with a public event moves ``public_updated_at`` (what tenants see as updated_at)."""
    assignments: list[sql.Composable] = [
        sql.SQL("{} = {}").format(sql.Identifier(col), sql.Placeholder(f"set_{col}")) for col in updates
    ]
    assignments += [
        sql.SQL("updated_at = %(now)s"),
        sql.SQL("audit_seq = %(audit_seq)s"),
        sql.SQL("audit_hash = %(audit_hash)s"),
        sql.SQL("audit_public_seq = %(audit_public_seq)s"),
    ]
    if audit_public_seq != row["audit_public_seq"]:
        assignments.append(sql.SQL("public_updated_at = %(now)s"))
    if bump_version:
        assignments.append(sql.SQL("version = version + 1"))
    query = sql.SQL("UPDATE ticket SET {sets} WHERE id = %(id)s RETURNING {cols}").format(
        sets=sql.SQL(", ").join(assignments), cols=sql.SQL(_LOCK_COLUMNS)
    )
    params: dict[str, Any] = {
        f"set_{col}": (jsonb(value) if col in _JSON_COLUMNS else value) for col, value in updates.items()
    }
    params.update(
        id=row["id"], now=now, audit_seq=audit_seq, audit_hash=audit_hash, audit_public_seq=audit_public_seq
    )
    new_row = uow.execute(query, params).fetchone()
    if new_row is None:  # the row was locked by us; only RLS could hide it now
        raise NotFound("The ticket is outside your scope.")
    updated: dict[str, Any] = new_row
    return updated


def write_event(
    uow: UnitOfWork, event: audit.AuditEvent, public_seq: int | None, message_params: dict[str, Any]
) -> None:
    """One audit event and its outbox row, in one statement."""
    uow.execute(
        WRITE_EVENT,
        {
            **message_params,
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


# ---- a fingerprint's tickets (intake) ----------------------------------------------------------------


def open_by_dedup_key(uow: UnitOfWork, tenant_id: str | None, dedup_key: str) -> dict[str, Any] | None:
    """The open ticket of a fingerprint, locked (the query matches ticket_open_dedup_idx)."""
    query = sql.SQL(
        "SELECT {cols} FROM ticket WHERE coalesce(tenant_id, '') = coalesce(%(tenant)s, '')"
        " AND dedup_key = %(key)s AND {open} FOR UPDATE"
    ).format(cols=sql.SQL(_LOCK_COLUMNS), open=sql.SQL(OPEN))
    found: dict[str, Any] | None = uow.execute(query, {"tenant": tenant_id, "key": dedup_key}).fetchone()
    return found


def last_by_dedup_key(uow: UnitOfWork, tenant_id: str | None, dedup_key: str) -> dict[str, Any] | None:
    """The newest ticket of a fingerprint, whatever its state, locked."""
    query = sql.SQL(
        "SELECT {cols} FROM ticket WHERE coalesce(tenant_id, '') = coalesce(%(tenant)s, '')"
        " AND dedup_key = %(key)s ORDER BY id DESC LIMIT 1 FOR UPDATE"
    ).format(cols=sql.SQL(_LOCK_COLUMNS))
    found: dict[str, Any] | None = uow.execute(query, {"tenant": tenant_id, "key": dedup_key}).fetchone()
    return found


def lock_by_id(uow: UnitOfWork, ticket_id: UUID) -> dict[str, Any] | None:
    """A ticket's row by id, locked, in the service's own scope (intake's sweeper)."""
    query = sql.SQL("SELECT {cols} FROM ticket WHERE id = %(id)s FOR UPDATE").format(
        cols=sql.SQL(_LOCK_COLUMNS)
    )
    found: dict[str, Any] | None = uow.execute(query, {"id": ticket_id}).fetchone()
    return found


ADD_OCCURRENCES = f"""
UPDATE ticket SET occurrence_count = greatest(occurrence_count + %(added)s, coalesce(%(at_least)s, 0)),
                  last_seen_at = greatest(last_seen_at, %(seen_at)s),
                  last_trigger_at = greatest(last_trigger_at, %(seen_at)s)
WHERE id = %(id)s
RETURNING {_LOCK_COLUMNS}
"""


def add_occurrences(
    uow: UnitOfWork, ticket_id: UUID, *, added: int, at_least: int | None, seen_at: datetime
) -> dict[str, Any]:
    """Count repeats on the (locked) ticket without an audit event each: the count, the last time
    seen and the last trigger. Neither the version nor updated_at move (an operator's If-Match
    stays good through a storm); ``report_occurrences`` writes the audited summary."""
    row = uow.execute(
        ADD_OCCURRENCES, {"id": ticket_id, "added": added, "at_least": at_least, "seen_at": seen_at}
    ).fetchone()
    if row is None:
        raise NotFound("The ticket is outside your scope.")
    updated: dict[str, Any] = row
    return updated


ADD_OCCURRENCES_TO_OPEN = f"""
UPDATE ticket SET occurrence_count = greatest(occurrence_count + %(added)s, coalesce(%(at_least)s, 0)),
                  last_seen_at = greatest(last_seen_at, %(seen_at)s),
                  last_trigger_at = greatest(last_trigger_at, %(seen_at)s)
WHERE coalesce(tenant_id, '') = coalesce(%(tenant)s, '') AND dedup_key = %(key)s AND {OPEN}
RETURNING {_LOCK_COLUMNS}
"""


def add_occurrences_to_open(
    uow: UnitOfWork,
    tenant_id: str | None,
    dedup_key: str,
    *,
    added: int,
    at_least: int | None,
    seen_at: datetime,
) -> dict[str, Any] | None:
    """``add_occurrences`` on the open ticket of a fingerprint, found and locked by the same
    statement (one round trip: the common case of a storm); None when none is open."""
    found: dict[str, Any] | None = uow.execute(
        ADD_OCCURRENCES_TO_OPEN,
        {"tenant": tenant_id, "key": dedup_key, "added": added, "at_least": at_least, "seen_at": seen_at},
    ).fetchone()
    return found


UNREPORTED = """
SELECT id FROM ticket
WHERE occurrence_count > occurrences_reported AND occurrences_reported_at IS NOT NULL
  AND occurrences_reported_at <= %(before)s
ORDER BY occurrences_reported_at
LIMIT %(limit)s
"""


def unreported(uow: UnitOfWork, *, before: datetime, limit: int) -> list[UUID]:
    """Tickets whose latest occurrences no summary event has reported yet, last reported before
    ``before`` (the intake sweeper reports them)."""
    return [row["id"] for row in uow.execute(UNREPORTED, {"before": before, "limit": limit}).fetchall()]


def insert_comment(uow: UnitOfWork, values: dict[str, Any]) -> dict[str, Any]:
    row = uow.execute(INSERT_COMMENT, values).fetchone()
    assert row is not None
    comment: dict[str, Any] = row
    return comment


def list_comments(
    uow: UnitOfWork, ticket_id: UUID, *, platform: bool, after: UUID, limit: int
) -> list[dict[str, Any]]:
    params = {"ticket_id": ticket_id, "platform": platform, "after": after, "limit": limit}
    return uow.execute(LIST_COMMENTS, params).fetchall()
