"""SLA policies and business calendars: reading them (platform roles) and writing them (platform
admins), each write recorded in the configuration log and dropping this function's cached copy
(``shared.sla.config``) when it commits; other warm functions see it within a second.

A policy that no longer exists keeps applying to the clocks computed with it (they hold a
snapshot of its targets); ``ticketing-sla-repair`` recomputes them with today's policies.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from shared.audit import config as config_log
from shared.auth import Principal, Role
from shared.db import UnitOfWork
from shared.kernel import pagination
from shared.kernel.clock import utcnow
from shared.kernel.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
)
from shared.kernel.ids import uuid7
from shared.sla import calendar as calendars
from shared.sla import config
from shared.sla import policy_repository as repository
from shared.sla.model import (
    DEFAULT_CALENDAR,
    MAX_CALENDARS,
    MAX_POLICIES,
    MAX_POSITION,
    POSITION_STEP,
    Calendar,
    CalendarWrite,
    SlaPolicy,
    SlaPolicyWrite,
)

POLICY = "sla_policy"
CALENDAR = "sla_calendar"
DEFAULT_HOLIDAY_YEARS = 3  # a country's holidays without years: this year and the next two


# ---- who may do what --------------------------------------------------------------------------------------


def _may_read(principal: Principal) -> None:
    if not principal.is_platform:
        raise Forbidden("SLA policies and calendars are for platform roles only.")


def _may_write(principal: Principal) -> None:
    if Role.PLATFORM_ADMIN not in principal.roles:
        raise Forbidden("Only platform admins may change SLA policies and calendars.")


def _check_version(kind: str, row: dict[str, Any], if_match: int | None) -> None:
    if if_match is not None and if_match != row["version"]:
        raise PreconditionFailed(
            f"The {kind} is at version {row['version']}, not {if_match}; re-read it and retry.",
            current_version=row["version"],
        )


def _log(
    uow: UnitOfWork,
    principal: Principal,
    entity_type: str,
    action: str,
    before: SlaPolicy | Calendar | None,
    after: SlaPolicy | Calendar | None,
    *,
    correlation_id: str | None,
    now: datetime,
) -> None:
    changed = after or before
    assert changed is not None
    config_log.record_change(
        uow,
        actor=principal.sub,
        entity_type=entity_type,
        entity_id=changed.id,
        action=action,
        before=before.model_dump(mode="json") if before is not None else None,
        after=after.model_dump(mode="json") if after is not None else None,
        correlation_id=correlation_id,
        at=now,
    )


def _page_limit(limit: int) -> None:
    if not 1 <= limit <= 200:
        raise BadRequest("limit must be between 1 and 200.")


# ---- policies -----------------------------------------------------------------------------------------


def _policy(uow: UnitOfWork, ref: str) -> dict[str, Any]:
    row = repository.get_policy(uow, ref) if len(ref) <= 64 else None
    if row is None:
        raise NotFound(f"No SLA policy '{ref}'.")
    return row


def _policy_values(uow: UnitOfWork, data: SlaPolicyWrite, position: int) -> dict[str, Any]:
    if data.first_response_minutes is None and data.resolution_minutes is None:
        raise ValidationFailed(
            "A policy needs a target: first_response_minutes, resolution_minutes or both.",
            errors=[{"loc": ["body", "first_response_minutes"], "msg": "a policy needs at least one target"}],
        )
    if repository.get_calendar(uow, data.calendar_id) is None:
        raise ValidationFailed(
            f"No calendar '{data.calendar_id}'.",
            errors=[{"loc": ["body", "calendar_id"], "msg": f"no calendar '{data.calendar_id}'"}],
        )
    return {
        "position": position,
        "name": data.name,
        "description": data.description,
        "enabled": data.enabled,
        "match": data.match.stored(),
        "first_response_minutes": data.first_response_minutes,
        "resolution_minutes": data.resolution_minutes,
        "at_risk_percent": data.at_risk_percent,
        "calendar_id": data.calendar_id,
        "escalation": [step.model_dump(mode="json", exclude_none=True) for step in data.escalation],
    }


def _position_free(uow: UnitOfWork, position: int, policy_id: str) -> None:
    holder = repository.at_position(uow, position, other_than=policy_id)
    if holder is not None:
        raise Conflict(
            f"Position {position} is held by the policy '{holder['name']}' ({holder['id']}); choose another"
            " position, or move that policy first."
        )


def _shown_policy(row: dict[str, Any]) -> SlaPolicy:
    return SlaPolicy.model_validate(row)


def list_policies(
    uow: UnitOfWork, principal: Principal, *, limit: int = 50, cursor: str | None = None
) -> pagination.Page:
    """Policies in position order: the order in which a ticket is matched against them."""
    _may_read(principal)
    _page_limit(limit)
    fingerprint = pagination.query_fingerprint({"sla_policies": True})
    after = pagination.decode(cursor, fingerprint, pagination.SeqPosition).seq if cursor else 0
    rows = repository.list_policies(uow, after=after, limit=limit + 1)
    return pagination.page(
        [_shown_policy(row) for row in rows[:limit]],
        more=len(rows) > limit,
        position=lambda policy: pagination.SeqPosition(seq=policy.position),
        fingerprint=fingerprint,
    )


def get_policy(uow: UnitOfWork, principal: Principal, ref: str) -> SlaPolicy:
    _may_read(principal)
    return _shown_policy(_policy(uow, ref))


def create_policy(
    uow: UnitOfWork,
    principal: Principal,
    data: SlaPolicyWrite,
    *,
    correlation_id: str | None,
    now: datetime | None = None,
) -> SlaPolicy:
    _may_write(principal)
    now = now or utcnow()
    repository.lock_for_write(uow)
    count, last = repository.policy_stats(uow)
    if count >= MAX_POLICIES:
        raise Conflict(f"There are already {MAX_POLICIES} SLA policies; delete or combine some first.")
    policy_id = data.id or str(uuid7())
    if repository.get_policy(uow, policy_id) is not None:
        raise Conflict(f"An SLA policy '{policy_id}' exists; choose another id.")
    position = data.position
    if position is None:
        position = (last // POSITION_STEP + 1) * POSITION_STEP
        if position > MAX_POSITION:
            raise Conflict(f"No position is left after {last}; give one.")
    _position_free(uow, position, policy_id)
    values = {"id": policy_id, **_policy_values(uow, data, position)}
    uow.after_commit(config.forget)
    policy = _shown_policy(repository.insert_policy(uow, values, actor=principal.sub, now=now))
    _log(uow, principal, POLICY, "create", None, policy, correlation_id=correlation_id, now=now)
    return policy


def _same_id(body_id: str | None, ref: str) -> None:
    if body_id is not None and body_id != ref:
        raise ValidationFailed(
            "The id in the body is not the one in the path; an id cannot be changed.",
            errors=[{"loc": ["body", "id"], "msg": f"must be '{ref}' (or left out)"}],
        )


def replace_policy(
    uow: UnitOfWork,
    principal: Principal,
    ref: str,
    data: SlaPolicyWrite,
    *,
    if_match: int | None,
    correlation_id: str | None,
    now: datetime | None = None,
) -> SlaPolicy:
    """PUT: the policy becomes ``data`` (an absent position keeps its place)."""
    _may_write(principal)
    now = now or utcnow()
    repository.lock_for_write(uow)
    row = _policy(uow, ref)
    _check_version("policy", row, if_match)
    _same_id(data.id, row["id"])
    before = _shown_policy(row)
    position = data.position if data.position is not None else before.position
    _position_free(uow, position, before.id)
    values = {"id": before.id, **_policy_values(uow, data, position)}
    uow.after_commit(config.forget)
    updated = repository.update_policy(uow, values, actor=principal.sub, now=now)
    if updated is None:
        raise NotFound(f"No SLA policy '{ref}'.")
    policy = _shown_policy(updated)
    _log(uow, principal, POLICY, "update", before, policy, correlation_id=correlation_id, now=now)
    return policy


def delete_policy(
    uow: UnitOfWork,
    principal: Principal,
    ref: str,
    *,
    correlation_id: str | None,
    now: datetime | None = None,
) -> SlaPolicy:
    """Delete a policy: new tickets no longer get it; clocks computed with it keep their targets."""
    _may_write(principal)
    now = now or utcnow()
    repository.lock_for_write(uow)
    before = _shown_policy(_policy(uow, ref))
    uow.after_commit(config.forget)
    if repository.delete_policy(uow, before.id) is None:
        raise NotFound(f"No SLA policy '{ref}'.")
    _log(uow, principal, POLICY, "delete", before, None, correlation_id=correlation_id, now=now)
    return before


# ---- calendars ----------------------------------------------------------------------------------------


def _calendar(uow: UnitOfWork, ref: str) -> dict[str, Any]:
    row = repository.get_calendar(uow, ref) if len(ref) <= 64 else None
    if row is None:
        raise NotFound(f"No calendar '{ref}'.")
    return row


def _invalid(exc: calendars.CalendarError) -> ValidationFailed:
    return ValidationFailed(
        "The calendar is not valid: " + "; ".join(e["msg"] for e in exc.errors) + ".",
        # every part as text, as the schema's own errors locate (["body", "weekly", "monday", "1"])
        errors=[{"loc": ["body", *(str(part) for part in e["loc"])], "msg": e["msg"]} for e in exc.errors],
    )


def _holiday_dates(data: CalendarWrite, now: datetime) -> list[date]:
    """The explicit dates and the country's holidays, sorted, once each."""
    errors: list[dict[str, Any]] = []
    found: set[date] = set()
    for index, text in enumerate(data.holidays.dates):
        try:
            found.add(date.fromisoformat(text))
        except ValueError:
            errors.append({"loc": ["body", "holidays", "dates", str(index)], "msg": f"not a date: {text!r}"})
    spec = data.holidays
    if spec.country is None and (spec.subdivision is not None or spec.years is not None):
        errors.append({"loc": ["body", "holidays", "country"], "msg": "subdivision and years need a country"})
    if spec.years is not None and spec.years[0] > spec.years[1]:
        errors.append({"loc": ["body", "holidays", "years"], "msg": "[first, last]: first after last"})
    if errors:
        raise ValidationFailed("The calendar's holidays are not valid.", errors=errors)
    if spec.country is not None:
        first, last = spec.years or (now.year, now.year + DEFAULT_HOLIDAY_YEARS - 1)
        try:
            found |= set(calendars.holidays_for(spec.country, spec.subdivision, range(first, last + 1)))
        except calendars.CalendarError as exc:
            raise _invalid(exc) from None
    return sorted(found)


def _calendar_values(data: CalendarWrite, now: datetime) -> dict[str, Any]:
    try:
        calendars.zone_of(data.time_zone)
        hours = {str(day): intervals for day, intervals in data.weekly.items()}
        weekly = calendars.format_weekly(calendars.parse_weekly(hours))
    except calendars.CalendarError as exc:
        raise _invalid(exc) from None
    return {
        "name": data.name,
        "time_zone": data.time_zone,
        "weekly": weekly,
        "holidays": data.holidays.model_dump(mode="json", exclude_none=True),
        "holiday_dates": _holiday_dates(data, now),
    }


def list_calendars(
    uow: UnitOfWork, principal: Principal, *, limit: int = 50, cursor: str | None = None
) -> pagination.Page:
    _may_read(principal)
    _page_limit(limit)
    fingerprint = pagination.query_fingerprint({"sla_calendars": True})
    after = pagination.decode(cursor, fingerprint, pagination.KeyPosition).key if cursor else ""
    rows = repository.list_calendars(uow, after=after, limit=limit + 1)
    return pagination.page(
        [Calendar.model_validate(row) for row in rows[:limit]],
        more=len(rows) > limit,
        position=lambda item: pagination.KeyPosition(key=item.id),
        fingerprint=fingerprint,
    )


def get_calendar(uow: UnitOfWork, principal: Principal, ref: str) -> Calendar:
    _may_read(principal)
    return Calendar.model_validate(_calendar(uow, ref))


def create_calendar(
    uow: UnitOfWork,
    principal: Principal,
    data: CalendarWrite,
    *,
    correlation_id: str | None,
    now: datetime | None = None,
) -> Calendar:
    _may_write(principal)
    now = now or utcnow()
    values = _calendar_values(data, now)
    repository.lock_for_write(uow)
    if repository.calendar_count(uow) >= MAX_CALENDARS:
        raise Conflict(f"There are already {MAX_CALENDARS} calendars; delete some first.")
    calendar_id = data.id or str(uuid7())
    if repository.get_calendar(uow, calendar_id) is not None:
        raise Conflict(f"A calendar '{calendar_id}' exists; choose another id.")
    uow.after_commit(config.forget)
    created = Calendar.model_validate(
        repository.insert_calendar(uow, {"id": calendar_id, **values}, actor=principal.sub, now=now)
    )
    _log(uow, principal, CALENDAR, "create", None, created, correlation_id=correlation_id, now=now)
    return created


def replace_calendar(
    uow: UnitOfWork,
    principal: Principal,
    ref: str,
    data: CalendarWrite,
    *,
    if_match: int | None,
    correlation_id: str | None,
    now: datetime | None = None,
) -> Calendar:
    """PUT: the calendar becomes ``data``. Clocks on it use the new hours from their next change
    (``ticketing-sla-repair`` recomputes them now)."""
    _may_write(principal)
    now = now or utcnow()
    values = _calendar_values(data, now)
    repository.lock_for_write(uow)
    row = _calendar(uow, ref)
    _check_version("calendar", row, if_match)
    _same_id(data.id, row["id"])
    before = Calendar.model_validate(row)
    uow.after_commit(config.forget)
    updated = repository.update_calendar(uow, {"id": before.id, **values}, actor=principal.sub, now=now)
    if updated is None:
        raise NotFound(f"No calendar '{ref}'.")
    replaced = Calendar.model_validate(updated)
    _log(uow, principal, CALENDAR, "update", before, replaced, correlation_id=correlation_id, now=now)
    return replaced


def delete_calendar(
    uow: UnitOfWork,
    principal: Principal,
    ref: str,
    *,
    correlation_id: str | None,
    now: datetime | None = None,
) -> Calendar:
    """Delete a calendar no policy uses (never the default 24x7)."""
    _may_write(principal)
    now = now or utcnow()
    repository.lock_for_write(uow)
    before = Calendar.model_validate(_calendar(uow, ref))
    if before.id == DEFAULT_CALENDAR:
        raise Conflict(f"'{DEFAULT_CALENDAR}' is the default calendar; it stays.")
    using = repository.policies_using(uow, before.id)
    if using:
        raise Conflict(
            f"The calendar is used by the policies {', '.join(using)}; point them at another calendar first.",
            policies=using,
        )
    uow.after_commit(config.forget)
    if repository.delete_calendar(uow, before.id) is None:
        raise NotFound(f"No calendar '{ref}'.")
    _log(uow, principal, CALENDAR, "delete", before, None, correlation_id=correlation_id, now=now)
    return before
