"""The routing rules' SQL (migration 0008). No rules live here (``shared.routing.service``).

Rules are platform configuration, not tenant data: row-level security lets every scoped
transaction read them (a tenant's new ticket is routed in the tenant's own transaction) and only
platform scopes write them. Deleting a rule marks it (``deleted_at``), so that the tickets and the
configuration log that name it keep a rule to point to; positions are unique among live rules.
Every change of ``routing_rule`` moves ``routing_rule_set.version`` (a trigger), which is how a
warm function knows that the rules it compiled are still the current ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from shared.db import UnitOfWork, jsonb, on_violation
from shared.kernel.errors import Conflict

COLUMNS = (
    'id, position, name, description, enabled, conditions, actions, "continue", version, created_by,'
    " created_at, updated_by, updated_at"
)
# Rule writes take this transaction-level lock first: positions, the count and appending are then
# decided by one writer at a time (writes are rare; ticket creation never takes it).
_WRITE_LOCK = 7_311_042_008

VERSION = "SELECT version FROM routing_rule_set"
# The enabled rules in order, with the version they are at (one statement: one snapshot).
ACTIVE = """
SELECT s.version AS set_version, r.id, r.name, r.position, r.conditions, r.actions, r."continue"
FROM routing_rule_set s
LEFT JOIN routing_rule r ON r.deleted_at IS NULL AND r.enabled
ORDER BY r.position
"""
LIST = f"""
SELECT {COLUMNS} FROM routing_rule
WHERE deleted_at IS NULL AND position > %(after)s
ORDER BY position
LIMIT %(limit)s
"""
GET = f"SELECT {COLUMNS} FROM routing_rule WHERE deleted_at IS NULL AND id = %(id)s"
LOCK = "SELECT pg_advisory_xact_lock(%(lock)s)"
STATS = """
SELECT count(*) AS live, coalesce(max(position), 0) AS last_position
FROM routing_rule WHERE deleted_at IS NULL
"""
AT_POSITION = """
SELECT id, name FROM routing_rule WHERE deleted_at IS NULL AND position = %(position)s AND id <> %(id)s
"""
INSERT = f"""
INSERT INTO routing_rule (id, position, name, description, enabled, conditions, actions, "continue",
                          created_by, created_at, updated_by, updated_at)
VALUES (%(id)s, %(position)s, %(name)s, %(description)s, %(enabled)s, %(conditions)s, %(actions)s,
        %(continue)s, %(actor)s, %(now)s, %(actor)s, %(now)s)
RETURNING {COLUMNS}
"""
UPDATE = f"""
UPDATE routing_rule
SET position = %(position)s, name = %(name)s, description = %(description)s, enabled = %(enabled)s,
    conditions = %(conditions)s, actions = %(actions)s, "continue" = %(continue)s,
    version = version + 1, updated_by = %(actor)s, updated_at = %(now)s
WHERE id = %(id)s AND deleted_at IS NULL
RETURNING {COLUMNS}
"""
DELETE = f"""
UPDATE routing_rule
SET deleted_at = %(now)s, deleted_by = %(actor)s, version = version + 1, updated_by = %(actor)s,
    updated_at = %(now)s
WHERE id = %(id)s AND deleted_at IS NULL
RETURNING {COLUMNS}
"""

on_violation(
    "routing_rule_position_idx",
    lambda exc: Conflict("Another rule holds that position; choose another one, or move that rule first."),
)


def current_version(uow: UnitOfWork) -> int:
    row = uow.execute(VERSION).fetchone()
    return int(row["version"]) if row else 0


def active(uow: UnitOfWork) -> tuple[int, list[dict[str, Any]]]:
    """The rule set's version and its enabled rules, in order."""
    rows = uow.execute(ACTIVE).fetchall()
    version = int(rows[0]["set_version"]) if rows else 0
    return version, [row for row in rows if row["id"] is not None]


def list_page(uow: UnitOfWork, *, after: int, limit: int) -> list[dict[str, Any]]:
    return uow.execute(LIST, {"after": after, "limit": limit}).fetchall()


def get(uow: UnitOfWork, rule_id: UUID) -> dict[str, Any] | None:
    row: dict[str, Any] | None = uow.execute(GET, {"id": rule_id}).fetchone()
    return row


def lock_for_write(uow: UnitOfWork) -> None:
    uow.execute(LOCK, {"lock": _WRITE_LOCK}).fetchone()


def stats(uow: UnitOfWork) -> tuple[int, int]:
    """(live rules, the last position)."""
    row = uow.execute(STATS).fetchone()
    assert row is not None
    return int(row["live"]), int(row["last_position"])


def at_position(uow: UnitOfWork, position: int, *, other_than: UUID) -> dict[str, Any] | None:
    row: dict[str, Any] | None = uow.execute(AT_POSITION, {"position": position, "id": other_than}).fetchone()
    return row


def _params(values: dict[str, Any], actor: str, now: datetime) -> dict[str, Any]:
    return {
        **values,
        "conditions": jsonb(values["conditions"]),
        "actions": jsonb(values["actions"]),
        "actor": actor,
        "now": now,
    }


def insert(uow: UnitOfWork, values: dict[str, Any], *, actor: str, now: datetime) -> dict[str, Any]:
    row = uow.execute(INSERT, _params(values, actor, now)).fetchone()
    assert row is not None
    inserted: dict[str, Any] = row
    return inserted


def update(uow: UnitOfWork, values: dict[str, Any], *, actor: str, now: datetime) -> dict[str, Any] | None:
    row: dict[str, Any] | None = uow.execute(UPDATE, _params(values, actor, now)).fetchone()
    return row


def delete(uow: UnitOfWork, rule_id: UUID, *, actor: str, now: datetime) -> dict[str, Any] | None:
    row: dict[str, Any] | None = uow.execute(DELETE, {"id": rule_id, "actor": actor, "now": now}).fetchone()
    return row
