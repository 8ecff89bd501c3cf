"""The configuration audit log: who changed which integration, routing rule (and later SLA policy
or webhook endpoint), when, from what to what. One append-only table, ``config_change``
(migration 0006); the database refuses UPDATE and DELETE on it.

Callers pass the entity as a JSON-ready dict *without* its secrets (a routing key's hash is not
a secret, but it is not useful either: leave it out too).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from shared.db import UnitOfWork

INSERT = """
INSERT INTO config_change (at, actor, tenant_id, entity_type, entity_id, action, before, after,
                           correlation_id)
VALUES (coalesce(%(at)s, now()), %(actor)s, %(tenant_id)s, %(entity_type)s, %(entity_id)s, %(action)s,
        %(before)s, %(after)s, %(correlation_id)s)
RETURNING id
"""
HISTORY = """
SELECT id, at, actor, tenant_id, entity_type, entity_id, action, before, after, correlation_id
FROM config_change WHERE entity_type = %(entity_type)s AND entity_id = %(entity_id)s ORDER BY id
"""


def record_change(
    uow: UnitOfWork,
    *,
    actor: str,
    entity_type: str,
    entity_id: str,
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    tenant_id: str | None = None,
    correlation_id: str | None = None,
    at: datetime | None = None,
) -> int:
    """Append one change in ``uow``'s transaction (it commits or rolls back with the change)."""
    row = uow.execute(
        INSERT,
        {
            "at": at,
            "actor": actor,
            "tenant_id": tenant_id,
            "entity_type": entity_type,
            "entity_id": entity_id,
            "action": action,
            "before": Jsonb(before) if before is not None else None,
            "after": Jsonb(after) if after is not None else None,
            "correlation_id": correlation_id,
        },
    ).fetchone()
    return int(row["id"]) if row else 0


def history(uow: UnitOfWork, entity_type: str, entity_id: str) -> list[dict[str, Any]]:
    """Every recorded change of one entity, oldest first (as the caller's scope may see them)."""
    return list(uow.execute(HISTORY, {"entity_type": entity_type, "entity_id": entity_id}).fetchall())
