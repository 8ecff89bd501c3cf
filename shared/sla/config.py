"""The SLA configuration a warm function keeps: every policy (compiled, in position order) and
every calendar, with the version of the whole set (``sla_config_set.version``, moved by a trigger
on every change of either table).

Every ticket change asks for it, so it is cheap, exactly as routing rules are
(``shared.routing.service``): the copy is used without a look at the database for
``FRESH_FOR_S``; after that one number is read, and everything is read again only if it moved.
A function that changes a policy or calendar drops its copy when the change commits (``forget``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from shared import db
from shared.db import UnitOfWork
from shared.observability import logger
from shared.sla import calendar as calendars
from shared.sla.calendar import Calendar
from shared.sla.model import DEFAULT_CALENDAR, CompiledPolicy

FRESH_FOR_S = 1.0

VERSION = "SELECT version FROM sla_config_set"
POLICIES = """
SELECT id, version, position, enabled, match, first_response_minutes, resolution_minutes,
       at_risk_percent, calendar_id, escalation
FROM sla_policy ORDER BY position
"""
CALENDARS = "SELECT id, version, time_zone, weekly, holiday_dates FROM sla_calendar"


@dataclass(frozen=True, slots=True)
class SlaConfig:
    """Policies in position order (enabled or not: a clock names its policy by id) and calendars."""

    version: int
    policies: tuple[CompiledPolicy, ...]
    calendars: Mapping[str, Calendar]

    def select(self, ticket: Mapping[str, Any]) -> CompiledPolicy | None:
        """The first enabled policy whose match holds for the ticket's values."""
        return next((p for p in self.policies if p.enabled and p.matches(ticket)), None)

    def policy(self, policy_id: str | None) -> CompiledPolicy | None:
        if policy_id is None:
            return None
        return next((p for p in self.policies if p.id == policy_id), None)

    def calendar(self, calendar_id: str) -> Calendar:
        """The calendar; one that is gone (it cannot be, while a policy names it) counts as 24x7."""
        found = self.calendars.get(calendar_id)
        if found is None:
            logger.error("SLA calendar missing; counting 24x7", extra={"calendar_id": calendar_id})
            return self.calendars.get(DEFAULT_CALENDAR) or calendars.twenty_four_seven()
        return found


@dataclass(slots=True)
class _Kept:
    database: str
    config: SlaConfig
    checked_at: float


class _Cache:
    current: _Kept | None = None
    clock: Callable[[], float] = time.monotonic


def _calendar(row: Mapping[str, Any]) -> Calendar:
    holidays: list[date] = list(row["holiday_dates"] or [])
    return calendars.build(
        row["id"],
        time_zone=row["time_zone"],
        weekly=row["weekly"],
        holiday_dates=holidays,
        version=int(row["version"]),
    )


def _read(uow: UnitOfWork) -> SlaConfig:
    version_row = uow.execute(VERSION).fetchone()
    version = int(version_row["version"]) if version_row else 0
    policies = tuple(CompiledPolicy.of(row) for row in uow.execute(POLICIES).fetchall())
    kept: dict[str, Calendar] = {}
    for row in uow.execute(CALENDARS).fetchall():
        try:
            kept[row["id"]] = _calendar(row)
        except ValueError:  # stored before a rule tightened: logged, counted as 24x7
            logger.error("SLA calendar does not compile", extra={"calendar_id": row["id"]})
    return SlaConfig(version, policies, kept)


def current(uow: UnitOfWork, *, fresh_for_s: float | None = None) -> SlaConfig:
    """The configuration: this function's copy while it was checked less than ``fresh_for_s``
    (default ``FRESH_FOR_S``) ago, else as of this transaction's version."""
    database = db.configured().key
    now = _Cache.clock()
    kept = _Cache.current
    if kept is not None and kept.database == database:
        if now - kept.checked_at < (FRESH_FOR_S if fresh_for_s is None else fresh_for_s):
            return kept.config
        row = uow.execute(VERSION).fetchone()
        if row is not None and int(row["version"]) == kept.config.version:
            kept.checked_at = now
            return kept.config
    config = _read(uow)
    _Cache.current = _Kept(database, config, now)
    return config


def forget() -> None:
    """Drop this function's copy: the next change reads the configuration again."""
    _Cache.current = None
