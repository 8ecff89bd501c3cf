"""The routing rules' service: reading and writing rules (platform roles; writes by platform admins,
each recorded in the configuration log), the dry run, and ``apply``, which routes a new ticket
inside the transaction that creates it.

``apply`` runs on every ticket creation, so it is cheap: each warm function keeps the enabled
rules compiled (conditions parsed, regular expressions compiled by RE2) together with the rule
set's version (``routing_rule_set.version``, moved by a trigger on every rule change). When the
copy was last checked more than ``FRESH_FOR_S`` ago, the creating transaction reads that one
number (one round trip) and the rules are compiled again only if it moved; otherwise nothing is
read at all. So a rule change takes effect within ``FRESH_FOR_S`` in every warm function, and at
once in the function (or local process) that made it, which drops its copy when the change
commits. With no rules, and under load, routing a ticket costs next to nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from shared import db
from shared.audit import config as config_log
from shared.auth import Principal, Role
from shared.db import UnitOfWork
from shared.kernel import pagination
from shared.kernel.clock import utcnow
from shared.kernel.errors import BadRequest, Conflict, Forbidden, NotFound, PreconditionFailed
from shared.kernel.ids import uuid7
from shared.observability import logger
from shared.routing import conditions, repository
from shared.routing.rules import (
    MAX_POSITION,
    MAX_RULES,
    POSITION_STEP,
    CompiledRule,
    RoutingRule,
    RoutingRuleWrite,
    RoutingTestRequest,
    RoutingTestResult,
    explain,
    route,
)

ENTITY_TYPE = "routing_rule"
# How long a warm function uses its compiled rules without checking the rule set's version.
FRESH_FOR_S = 1.0
SYSTEM_CATEGORIES = frozenset(conditions.CATEGORIES[:6])  # the incidents' categories


# ---- who may do what -------------------------------------------------------------------------------------


def _may_read(principal: Principal) -> None:
    if not principal.is_platform:
        raise Forbidden("Routing rules are for platform roles only.")


def _may_write(principal: Principal) -> None:
    if Role.PLATFORM_ADMIN not in principal.roles:
        raise Forbidden("Only platform admins may change routing rules.")


# ---- the rules a warm function keeps -----------------------------------------------------------------------


@dataclass(slots=True)
class _RuleSet:
    database: str  # the source's key: tests and the local stack switch databases
    version: int
    rules: tuple[CompiledRule, ...]
    checked_at: float  # monotonic seconds


class _Cache:
    current: _RuleSet | None = None
    clock: Callable[[], float] = time.monotonic


def _compile(rows: list[dict[str, Any]]) -> tuple[CompiledRule, ...]:
    compiled = []
    for row in rows:
        try:
            compiled.append(CompiledRule.of(row))
        except ValueError:  # stored before a vocabulary change: skipped, never blocks a ticket
            logger.error("routing rule does not compile; skipped", extra={"rule_id": str(row["id"])})
    return tuple(compiled)


def active_rules(uow: UnitOfWork, *, fresh_for_s: float | None = None) -> tuple[CompiledRule, ...]:
    """The enabled rules in order, compiled: this function's copy while it was checked less than
    ``fresh_for_s`` (default ``FRESH_FOR_S``) ago, else as of this transaction's rule set version."""
    database = db.configured().key
    now = _Cache.clock()
    kept = _Cache.current
    if kept is not None and kept.database == database:
        if now - kept.checked_at < (FRESH_FOR_S if fresh_for_s is None else fresh_for_s):
            return kept.rules
        if repository.current_version(uow) == kept.version:
            kept.checked_at = now
            return kept.rules
    version, rows = repository.active(uow)
    rule_set = _RuleSet(database, version, _compile(rows), now)
    _Cache.current = rule_set
    return rule_set.rules


def forget_compiled_rules() -> None:
    """Drop this function's compiled rules: the next ticket reads and compiles them again."""
    _Cache.current = None


# ---- routing a new ticket --------------------------------------------------------------------------------


def apply(
    uow: UnitOfWork,
    values: dict[str, Any],
    *,
    event: Mapping[str, Any] | None = None,
    keep: Collection[str] = (),
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Route a new ticket in its creating transaction: its ``values`` once the applied rules have
    acted, and those rules (``{"id", "name"}``, ``"skipped"`` when an action could not apply).

    ``event`` is the event that opened the ticket (``source``, ``detail_type``, ``severity``,
    ``summary``, ``resource``); ``keep`` names the fields the opener chose on purpose, which rules
    leave alone. A tenant's own ticket is never made platform-only (``rules.route``).
    """
    rules = active_rules(uow)
    if not rules:
        return values, []
    return route(rules, values, event=event, keep=keep, may_hide=uow.principal.is_platform)


# ---- reading and writing rules ---------------------------------------------------------------------------


def _rule_id(ref: str) -> UUID:
    try:
        return UUID(ref)
    except ValueError:
        raise NotFound(f"No routing rule '{ref}'. Rules are named by their id (a UUID).") from None


def _load(uow: UnitOfWork, ref: str) -> dict[str, Any]:
    row = repository.get(uow, _rule_id(ref))
    if row is None:
        raise NotFound(f"No routing rule '{ref}'.")
    return row


def _logged(rule: RoutingRule) -> dict[str, Any]:
    """The rule as the configuration log keeps it (JSON, as the API shows it)."""
    shown: dict[str, Any] = rule.model_dump(mode="json", by_alias=True)
    return shown


def list_rules(
    uow: UnitOfWork, principal: Principal, *, limit: int = 50, cursor: str | None = None
) -> pagination.Page:
    """Live rules (enabled or not) in position order, a page at a time."""
    _may_read(principal)
    if not 1 <= limit <= 200:
        raise BadRequest("limit must be between 1 and 200.")
    fingerprint = pagination.query_fingerprint({"routing_rules": True})
    after = pagination.decode(cursor, fingerprint, pagination.SeqPosition).seq if cursor else 0
    rows = repository.list_page(uow, after=after, limit=limit + 1)
    items = [RoutingRule.model_validate(row) for row in rows[:limit]]
    return pagination.page(
        items,
        more=len(rows) > limit,
        position=lambda rule: pagination.SeqPosition(seq=rule.position),
        fingerprint=fingerprint,
    )


def get(uow: UnitOfWork, principal: Principal, ref: str) -> RoutingRule:
    _may_read(principal)
    return RoutingRule.model_validate(_load(uow, ref))


def _stored(data: RoutingRuleWrite, position: int) -> dict[str, Any]:
    return {
        "position": position,
        "name": data.name,
        "description": data.description,
        "enabled": data.enabled,
        "conditions": data.conditions.to_json(),
        "actions": data.actions.as_dict(),
        "continue": data.continue_,
    }


def _check_position_free(uow: UnitOfWork, position: int, rule_id: UUID) -> None:
    holder = repository.at_position(uow, position, other_than=rule_id)
    if holder is not None:
        raise Conflict(
            f"Position {position} is held by the rule '{holder['name']}' ({holder['id']}); choose another"
            " position, or move that rule first."
        )


def _log_change(
    uow: UnitOfWork,
    principal: Principal,
    action: str,
    before: RoutingRule | None,
    after: RoutingRule | None,
    *,
    correlation_id: str | None,
    now: datetime,
) -> None:
    """One entry of the configuration log for a rule: who, when, before and after."""
    changed = after or before
    assert changed is not None  # a change has a before, an after, or both
    config_log.record_change(
        uow,
        actor=principal.sub,
        entity_type=ENTITY_TYPE,
        entity_id=str(changed.id),
        action=action,
        before=_logged(before) if before is not None else None,
        after=_logged(after) if after is not None else None,
        correlation_id=correlation_id,
        at=now,
    )


def create(
    uow: UnitOfWork,
    principal: Principal,
    data: RoutingRuleWrite,
    *,
    correlation_id: str | None,
    now: datetime | None = None,
) -> RoutingRule:
    _may_write(principal)
    now = now or utcnow()
    repository.lock_for_write(uow)
    live, last_position = repository.stats(uow)
    if live >= MAX_RULES:
        raise Conflict(f"There are already {MAX_RULES} routing rules; delete or combine some first.")
    rule_id = uuid7()
    position = data.position
    if position is None:
        position = (last_position // POSITION_STEP + 1) * POSITION_STEP
        if position > MAX_POSITION:
            raise Conflict(f"No position is left after {last_position}; give one.")
    _check_position_free(uow, position, rule_id)
    uow.after_commit(forget_compiled_rules)
    row = repository.insert(uow, {"id": rule_id, **_stored(data, position)}, actor=principal.sub, now=now)
    rule = RoutingRule.model_validate(row)
    _log_change(uow, principal, "create", None, rule, correlation_id=correlation_id, now=now)
    return rule


def _check_version(row: dict[str, Any], if_match: int | None) -> None:
    if if_match is not None and if_match != row["version"]:
        raise PreconditionFailed(
            f"The rule is at version {row['version']}, not {if_match}; re-read it and retry.",
            current_version=row["version"],
        )


def replace(
    uow: UnitOfWork,
    principal: Principal,
    ref: str,
    data: RoutingRuleWrite,
    *,
    if_match: int | None,
    correlation_id: str | None,
    now: datetime | None = None,
) -> RoutingRule:
    """PUT: the rule becomes ``data`` (an absent position keeps its place)."""
    _may_write(principal)
    now = now or utcnow()
    repository.lock_for_write(uow)
    row = _load(uow, ref)
    _check_version(row, if_match)
    before = RoutingRule.model_validate(row)
    uow.after_commit(forget_compiled_rules)
    position = data.position if data.position is not None else before.position
    _check_position_free(uow, position, before.id)
    updated = repository.update(
        uow, {"id": before.id, **_stored(data, position)}, actor=principal.sub, now=now
    )
    if updated is None:  # deleted since it was read: the write lock makes this unlikely
        raise NotFound(f"No routing rule '{ref}'.")
    rule = RoutingRule.model_validate(updated)
    _log_change(uow, principal, "update", before, rule, correlation_id=correlation_id, now=now)
    return rule


def delete(
    uow: UnitOfWork,
    principal: Principal,
    ref: str,
    *,
    correlation_id: str | None,
    now: datetime | None = None,
) -> RoutingRule:
    """Delete a rule (it stops applying at once); returns it as it was."""
    _may_write(principal)
    now = now or utcnow()
    repository.lock_for_write(uow)
    before = RoutingRule.model_validate(_load(uow, ref))
    uow.after_commit(forget_compiled_rules)
    if repository.delete(uow, before.id, actor=principal.sub, now=now) is None:
        raise NotFound(f"No routing rule '{ref}'.")
    _log_change(uow, principal, "delete", before, None, correlation_id=correlation_id, now=now)
    return before


# ---- the dry run ------------------------------------------------------------------------------------------


def _sample_values(request: RoutingTestRequest) -> dict[str, Any]:
    """The values a ticket opened as the sample would have, before routing."""
    ticket = request.ticket
    kind = ticket.kind
    if kind is None and ticket.category is not None:
        kind = "incident" if ticket.category in SYSTEM_CATEGORIES else "request"
    visibility = ticket.visibility or ("tenant" if ticket.tenant_id else "platform_only")
    if ticket.tenant_id is None:
        visibility = "platform_only"
    return {
        "tenant_id": ticket.tenant_id,
        "visibility": visibility,
        "kind": kind,
        "category": ticket.category,
        "priority": ticket.priority,
        "title": ticket.title or (request.event.summary if request.event else "") or "",
        "description": ticket.description,
        "assignee": ticket.assignee,
        "queue": ticket.queue,
        "tags": list(dict.fromkeys(ticket.tags)),
        "fields": ticket.fields,
        "resources": ticket.resources,
        "source": ticket.source,
        "sla_policy": None,
    }


def dry_run(uow: UnitOfWork, principal: Principal, request: RoutingTestRequest) -> RoutingTestResult:
    """Which enabled rules the sample matches and the fields it would end with. Writes nothing."""
    _may_read(principal)
    event = request.event.model_dump(exclude_none=True) if request.event else None
    return explain(active_rules(uow, fresh_for_s=0), _sample_values(request), event=event)
