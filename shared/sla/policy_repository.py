"""SLA policies' and calendars' SQL (migration 0010). No rules live here (``shared.sla.policies``).

Both are platform configuration: row-level security lets every scoped transaction read them (a
tenant's new ticket gets its SLA in the tenant's own transaction) and only platform scopes write
them. Every change of either moves ``sla_config_set.version`` (triggers), which is how a warm
function knows its copy (``shared.sla.config``) is still current. Deleting a policy removes it
(clocks keep a snapshot of their targets); a calendar a policy uses cannot be deleted (the foreign
key says so).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from shared.db import UnitOfWork, jsonb, on_violation
from shared.kernel.errors import Conflict

POLICY_COLUMNS = (
    "id, position, name, description, enabled, match, first_response_minutes, resolution_minutes,"
    " at_risk_percent, calendar_id, escalation, version, created_by, created_at, updated_by, updated_at"
)
CALENDAR_COLUMNS = (
    "id, name, time_zone, weekly, holidays, holiday_dates, version, created_by, created_at, updated_by,"
    " updated_at"
)
# Writes take this transaction-level lock first: ids, positions and counts are decided by one
# writer at a time (writes are rare; ticket changes never take it).
_WRITE_LOCK = 7_311_042_010

LOCK = "SELECT pg_advisory_xact_lock(%(lock)s)"
LIST_POLICIES = f"""
SELECT {POLICY_COLUMNS} FROM sla_policy WHERE position > %(after)s ORDER BY position LIMIT %(limit)s
"""
GET_POLICY = f"SELECT {POLICY_COLUMNS} FROM sla_policy WHERE id = %(id)s"
POLICY_STATS = "SELECT count(*) AS n, coalesce(max(position), 0) AS last_position FROM sla_policy"
AT_POSITION = "SELECT id, name FROM sla_policy WHERE position = %(position)s AND id <> %(id)s"
INSERT_POLICY = f"""
INSERT INTO sla_policy (id, position, name, description, enabled, match, first_response_minutes,
                        resolution_minutes, at_risk_percent, calendar_id, escalation, created_by,
                        created_at, updated_by, updated_at)
VALUES (%(id)s, %(position)s, %(name)s, %(description)s, %(enabled)s, %(match)s,
        %(first_response_minutes)s, %(resolution_minutes)s, %(at_risk_percent)s, %(calendar_id)s,
        %(escalation)s, %(actor)s, %(now)s, %(actor)s, %(now)s)
RETURNING {POLICY_COLUMNS}
"""
UPDATE_POLICY = f"""
UPDATE sla_policy
SET position = %(position)s, name = %(name)s, description = %(description)s, enabled = %(enabled)s,
    match = %(match)s, first_response_minutes = %(first_response_minutes)s,
    resolution_minutes = %(resolution_minutes)s, at_risk_percent = %(at_risk_percent)s,
    calendar_id = %(calendar_id)s, escalation = %(escalation)s, version = version + 1,
    updated_by = %(actor)s, updated_at = %(now)s
WHERE id = %(id)s
RETURNING {POLICY_COLUMNS}
"""
DELETE_POLICY = f"DELETE FROM sla_policy WHERE id = %(id)s RETURNING {POLICY_COLUMNS}"

LIST_CALENDARS = f"""
SELECT {CALENDAR_COLUMNS} FROM sla_calendar WHERE id > %(after)s ORDER BY id LIMIT %(limit)s
"""
GET_CALENDAR = f"SELECT {CALENDAR_COLUMNS} FROM sla_calendar WHERE id = %(id)s"
CALENDAR_COUNT = "SELECT count(*) AS n FROM sla_calendar"
INSERT_CALENDAR = f"""
INSERT INTO sla_calendar (id, name, time_zone, weekly, holidays, holiday_dates, created_by, created_at,
                          updated_by, updated_at)
VALUES (%(id)s, %(name)s, %(time_zone)s, %(weekly)s, %(holidays)s, %(holiday_dates)s, %(actor)s, %(now)s,
        %(actor)s, %(now)s)
RETURNING {CALENDAR_COLUMNS}
"""
UPDATE_CALENDAR = f"""
UPDATE sla_calendar
SET name = %(name)s, time_zone = %(time_zone)s, weekly = %(weekly)s, holidays = %(holidays)s,
    holiday_dates = %(holiday_dates)s, version = version + 1, updated_by = %(actor)s, updated_at = %(now)s
WHERE id = %(id)s
RETURNING {CALENDAR_COLUMNS}
"""
DELETE_CALENDAR = f"DELETE FROM sla_calendar WHERE id = %(id)s RETURNING {CALENDAR_COLUMNS}"
POLICIES_USING = "SELECT id FROM sla_policy WHERE calendar_id = %(id)s ORDER BY position"

on_violation("sla_policy_pkey", lambda exc: Conflict("An SLA policy with this id exists; choose another id."))
on_violation("sla_calendar_pkey", lambda exc: Conflict("A calendar with this id exists; choose another id."))
on_violation(
    "sla_policy_position_idx",
    lambda exc: Conflict("Another SLA policy holds that position; choose another one, or move that policy."),
)
on_violation(
    "sla_policy_calendar_id_fkey",
    lambda exc: Conflict("A policy uses this calendar (or the calendar named is gone); check the policies."),
)


def lock_for_write(uow: UnitOfWork) -> None:
    uow.execute(LOCK, {"lock": _WRITE_LOCK}).fetchone()


def list_policies(uow: UnitOfWork, *, after: int, limit: int) -> list[dict[str, Any]]:
    return uow.execute(LIST_POLICIES, {"after": after, "limit": limit}).fetchall()


def get_policy(uow: UnitOfWork, policy_id: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = uow.execute(GET_POLICY, {"id": policy_id}).fetchone()
    return row


def policy_stats(uow: UnitOfWork) -> tuple[int, int]:
    """(policies, the last position)."""
    row = uow.execute(POLICY_STATS).fetchone()
    assert row is not None
    return int(row["n"]), int(row["last_position"])


def at_position(uow: UnitOfWork, position: int, *, other_than: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = uow.execute(AT_POSITION, {"position": position, "id": other_than}).fetchone()
    return row


def _policy_params(values: dict[str, Any], actor: str, now: datetime) -> dict[str, Any]:
    return {
        **values,
        "match": jsonb(values["match"]),
        "escalation": jsonb(values["escalation"]),
        "actor": actor,
        "now": now,
    }


def insert_policy(uow: UnitOfWork, values: dict[str, Any], *, actor: str, now: datetime) -> dict[str, Any]:
    row = uow.execute(INSERT_POLICY, _policy_params(values, actor, now)).fetchone()
    assert row is not None
    inserted: dict[str, Any] = row
    return inserted


def update_policy(
    uow: UnitOfWork, values: dict[str, Any], *, actor: str, now: datetime
) -> dict[str, Any] | None:
    row: dict[str, Any] | None = uow.execute(UPDATE_POLICY, _policy_params(values, actor, now)).fetchone()
    return row


def delete_policy(uow: UnitOfWork, policy_id: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = uow.execute(DELETE_POLICY, {"id": policy_id}).fetchone()
    return row


def list_calendars(uow: UnitOfWork, *, after: str, limit: int) -> list[dict[str, Any]]:
    return uow.execute(LIST_CALENDARS, {"after": after, "limit": limit}).fetchall()


def get_calendar(uow: UnitOfWork, calendar_id: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = uow.execute(GET_CALENDAR, {"id": calendar_id}).fetchone()
    return row


def calendar_count(uow: UnitOfWork) -> int:
    row = uow.execute(CALENDAR_COUNT).fetchone()
    return int(row["n"]) if row else 0


def _calendar_params(values: dict[str, Any], actor: str, now: datetime) -> dict[str, Any]:
    dates: list[date] = values["holiday_dates"]
    return {
        **values,
        "weekly": jsonb(values["weekly"]),
        "holidays": jsonb(values["holidays"]),
        "holiday_dates": dates,
        "actor": actor,
        "now": now,
    }


def insert_calendar(uow: UnitOfWork, values: dict[str, Any], *, actor: str, now: datetime) -> dict[str, Any]:
    row = uow.execute(INSERT_CALENDAR, _calendar_params(values, actor, now)).fetchone()
    assert row is not None
    inserted: dict[str, Any] = row
    return inserted


def update_calendar(
    uow: UnitOfWork, values: dict[str, Any], *, actor: str, now: datetime
) -> dict[str, Any] | None:
    row: dict[str, Any] | None = uow.execute(UPDATE_CALENDAR, _calendar_params(values, actor, now)).fetchone()
    return row


def delete_calendar(uow: UnitOfWork, calendar_id: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = uow.execute(DELETE_CALENDAR, {"id": calendar_id}).fetchone()
    return row


def policies_using(uow: UnitOfWork, calendar_id: str) -> list[str]:
    return [row["id"] for row in uow.execute(POLICIES_USING, {"id": calendar_id}).fetchall()]
