"""SLA clocks, pure: what a ticket change does to its clocks, and which timer step comes next.

A clock counts business time on its calendar. It keeps the time counted so far (``elapsed``, up
to ``running_since``) and, while it runs, the instant it started counting again; every change
re-anchors it there (``elapsed`` brought up to the change's instant), so every due instant is
``calendar.add(running_since, threshold - elapsed)``: exact across nights, weekends, holidays and
daylight-saving changes, and unaffected by how late anything runs.

``apply`` is the one place that decides what a change means for the clocks (the ticket service's
in-transaction listener calls it with the row before and after; repair calls it with the same
rows rebuilt from the audit trail):

- a new ticket gets its policy's clocks, running from its creation;
- ``first_response`` is met when the ticket's first response is recorded (the ticket service
  decides what a first response is: a platform role's first public comment or transition);
- ``resolution`` pauses in ``wait_requester`` / ``wait_dependency``, resumes when the ticket
  leaves them, is met on ``resolved`` (from a pause too: the paused time is never counted), and
  resumes with its elapsed time kept when the ticket is reopened;
- canceling the ticket cancels the clocks not yet met;
- a change of priority, category or kind selects the policy again: elapsed time is kept and the
  new targets apply from then on.

A breach is a fact of the clock, not of the timer: when a clock stops or is re-anchored after its
target passed, ``breached_at`` is the exact instant the target passed, whether or not the timer
has fired yet; a breached clock stays breached (``met_at`` is still recorded).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from shared.kernel.ids import uuid7
from shared.sla.calendar import Calendar
from shared.sla.model import METRICS, CompiledPolicy, ScheduleStep

PAUSED_STATES = frozenset({"wait_requester", "wait_dependency"})
STOPPED_STATES = frozenset({"resolved", "closed", "canceled"})
# A change of these selects the policy again.
SELECTING_FIELDS = ("priority", "category", "kind")


@dataclass(frozen=True, slots=True)
class Clock:
    metric: str
    policy_id: str
    policy_version: int
    calendar_id: str
    target_s: int
    at_risk_s: int
    steps: tuple[ScheduleStep, ...]
    started_at: datetime
    elapsed: timedelta = timedelta(0)
    running_since: datetime | None = None
    breached_at: datetime | None = None
    met_at: datetime | None = None
    canceled_at: datetime | None = None
    fired: tuple[str, ...] = ()
    id: UUID = field(default_factory=uuid7)
    generation: int = 1
    next_step: str | None = None
    next_due_at: datetime | None = None
    enqueued_generation: int | None = None

    @property
    def state(self) -> str:
        if self.canceled_at is not None:
            return "canceled"
        if self.breached_at is not None:
            return "breached"
        if self.met_at is not None:
            return "met"
        return "running" if self.running_since is not None else "paused"

    @property
    def running(self) -> bool:
        return self.running_since is not None

    @property
    def stopped(self) -> bool:
        return self.met_at is not None or self.canceled_at is not None

    def elapsed_at(self, calendar: Calendar, now: datetime) -> timedelta:
        if self.running_since is None or now <= self.running_since:
            return self.elapsed
        return self.elapsed + calendar.between(self.running_since, now)

    def instant_of(self, calendar: Calendar, at_s: int) -> datetime | None:
        """When ``at_s`` seconds of business time will have elapsed (None while paused or
        stopped); a threshold already passed gives the anchor (it is due now)."""
        if self.running_since is None:
            return None
        left = timedelta(seconds=at_s) - self.elapsed
        if left <= timedelta(0):
            return self.running_since
        return calendar.add(self.running_since, left)

    def due_at(self, calendar: Calendar) -> datetime | None:
        """When the target passes; once it has, the instant it passed (the breach)."""
        if self.running_since is None:
            return None
        return self.breached_at or self.instant_of(calendar, self.target_s)

    def at_risk_at(self, calendar: Calendar) -> datetime | None:
        return self.instant_of(calendar, self.at_risk_s)

    def remaining_s(self) -> int:
        """Business seconds left before the target (negative once passed), as of the anchor."""
        return self.target_s - int(self.elapsed.total_seconds())

    # ---- changes (each returns the new clock) ------------------------------------------------------

    def anchored(self, calendar: Calendar, now: datetime) -> Clock:
        """Elapsed time brought up to ``now`` (the clock keeps running from there), and the breach
        recorded at its exact instant if the target passed on the way."""
        if self.running_since is None or now <= self.running_since:
            return self
        elapsed = self.elapsed_at(calendar, now)
        breached_at = self.breached_at
        target = timedelta(seconds=self.target_s)
        if breached_at is None and self.met_at is None and elapsed >= target > self.elapsed:
            breached_at = calendar.add(self.running_since, target - self.elapsed)
        return replace(self, elapsed=elapsed, running_since=now, breached_at=breached_at)

    def paused(self, calendar: Calendar, now: datetime) -> Clock:
        return replace(self.anchored(calendar, now), running_since=None)

    def resumed(self, now: datetime) -> Clock:
        if self.running_since is not None or self.stopped:
            return self
        return replace(self, running_since=now)

    def met(self, calendar: Calendar, now: datetime) -> Clock:
        return replace(self.anchored(calendar, now), running_since=None, met_at=now)

    def reopened(self, now: datetime) -> Clock:
        return replace(self, met_at=None, running_since=now)

    def canceled(self, calendar: Calendar, now: datetime) -> Clock:
        return replace(self.anchored(calendar, now), running_since=None, canceled_at=now)

    def retargeted(self, policy: CompiledPolicy, calendar: Calendar, now: datetime) -> Clock:
        """The new policy's target and schedule from ``now``; elapsed time kept; steps already
        fired stay fired (an at-risk or breach is reported once per clock)."""
        kept = self.anchored(calendar, now)
        return replace(
            kept,
            policy_id=policy.id,
            policy_version=policy.version,
            calendar_id=policy.calendar_id,
            target_s=policy.targets[self.metric],
            at_risk_s=policy.at_risk_s(self.metric),
            steps=policy.schedule(self.metric),
        )

    def fired_step(self, step: str, due_at: datetime) -> Clock:
        """``step`` fired; a breach is recorded at its due instant."""
        breached_at = self.breached_at
        if step == "breach" and breached_at is None:
            breached_at = due_at
        return replace(self, fired=(*self.fired, step), breached_at=breached_at)

    # ---- the timer's schedule -----------------------------------------------------------------------

    def upcoming(self, calendar: Calendar) -> tuple[str, datetime] | None:
        """The next step to fire and its instant (None while paused or stopped)."""
        if self.running_since is None or self.stopped:
            return None
        for step in self.steps:
            if step.name in self.fired:
                continue
            if step.name == "at_risk" and self.breached_at is not None:
                continue  # a breach already passed it: at risk is no news any more
            instant = self.instant_of(calendar, step.at_s)
            if instant is None:
                return None
            # A passed step keeps the instant it was due at (a re-anchor must not hide lateness).
            if self.next_step == step.name and self.next_due_at is not None and self.next_due_at < instant:
                instant = self.next_due_at
            return step.name, instant
        return None

    def rescheduled(self, calendar: Calendar) -> Clock:
        """``next_step`` / ``next_due_at`` from the schedule; the generation moves when they do."""
        upcoming = self.upcoming(calendar)
        step, due = upcoming if upcoming else (None, None)
        if step == self.next_step and due == self.next_due_at:
            return self
        return replace(self, next_step=step, next_due_at=due, generation=self.generation + 1)


def start(policy: CompiledPolicy, metric: str, now: datetime) -> Clock:
    return Clock(
        metric=metric,
        policy_id=policy.id,
        policy_version=policy.version,
        calendar_id=policy.calendar_id,
        target_s=policy.targets[metric],
        at_risk_s=policy.at_risk_s(metric),
        steps=policy.schedule(metric),
        started_at=now,
        running_since=now,
    )


# ---- what a change means ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Happened:
    """One SLA event of a change: its type (``sla.paused``...), the clock's metric and details."""

    type: str
    metric: str | None
    details: Mapping[str, Any]


def is_relevant(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> bool:
    """Whether a change can move a clock at all (most edits cannot: nothing is read for them)."""
    if before is None:
        return True
    return (
        before["state"] != after["state"]
        or before["first_response_at"] != after["first_response_at"]
        or any(before[name] != after[name] for name in SELECTING_FIELDS)
    )


def select_policy(ticket: Mapping[str, Any], policies: Any) -> tuple[CompiledPolicy | None, str]:
    """The ticket's policy and why: a routing rule's choice wins over matching
    (``policies`` is a ``shared.sla.config.SlaConfig``)."""
    chosen = ticket.get("sla_policy")
    if chosen:
        found = policies.policy(chosen)
        if found is not None and found.targets:
            return found, "routing"
    matched = policies.select(ticket)
    return matched, ("match" if matched is not None else "none")


def _targets(clocks: Mapping[str, Clock]) -> dict[str, Any]:
    return {m: {"policy": c.policy_id, "target_s": c.target_s} for m, c in clocks.items()}


def apply(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any],
    clocks: Mapping[str, Clock],
    policies: Any,
    now: datetime,
) -> tuple[dict[str, Clock], list[Happened]]:
    """The ticket's clocks after the change ``before`` → ``after`` (``before`` None: it was just
    opened), and what happened to them. Pure."""
    result = dict(clocks)
    happened: list[Happened] = []

    def calendar(clock: Clock) -> Calendar:
        cal: Calendar = policies.calendar(clock.calendar_id)
        return cal

    if before is None:
        policy, why = select_policy(after, policies)
        if policy is not None:
            for metric in METRICS:
                if metric in policy.targets:
                    result[metric] = start(policy, metric, now)
            happened.append(
                Happened(
                    "sla.applied",
                    None,
                    {"policy": policy.id, "chosen_by": why, "calendar": policy.calendar_id},
                )
            )
        return result, happened

    if any(before[name] != after[name] for name in SELECTING_FIELDS):
        policy, why = select_policy(after, policies)
        current = {c.policy_id for c in result.values() if c.canceled_at is None}
        old_targets = _targets({m: c for m, c in result.items() if c.canceled_at is None})
        if policy is None:
            for metric, clock in list(result.items()):
                if not clock.stopped:
                    result[metric] = clock.canceled(calendar(clock), now)
            if current:
                happened.append(
                    Happened("sla.retargeted", None, {"targets": {"old": old_targets, "new": {}}})
                )
        elif current != {policy.id} or any(c.policy_version != policy.version for c in result.values()):
            open_ticket = after["state"] not in STOPPED_STATES
            for metric in METRICS:
                existing = result.get(metric)
                if metric not in policy.targets:
                    if existing is not None and not existing.stopped:
                        result[metric] = existing.canceled(calendar(existing), now)
                elif existing is None or existing.canceled_at is not None:
                    if open_ticket and not (metric == "first_response" and after["first_response_at"]):
                        result[metric] = start(policy, metric, now)
                else:
                    result[metric] = existing.retargeted(policy, policies.calendar(policy.calendar_id), now)
            new_targets = _targets({m: c for m, c in result.items() if c.canceled_at is None})
            happened.append(
                Happened(
                    "sla.retargeted" if current else "sla.applied",
                    None,
                    {
                        "policy": {"old": sorted(current)[0] if current else None, "new": policy.id},
                        "chosen_by": why,
                    }
                    | ({"targets": {"old": old_targets, "new": new_targets}} if current else {}),
                )
            )

    first = result.get("first_response")
    if (
        first is not None
        and not first.stopped
        and before["first_response_at"] is None
        and after["first_response_at"]
    ):
        result["first_response"] = first.met(calendar(first), now)
        happened.append(Happened("sla.met", "first_response", {}))

    old_state, new_state = before["state"], after["state"]
    resolution = result.get("resolution")
    if old_state != new_state and resolution is not None:
        cal = calendar(resolution)
        if new_state == "canceled":
            for metric, clock in list(result.items()):
                if not clock.stopped:
                    result[metric] = clock.canceled(calendar(clock), now)
                    happened.append(Happened("sla.canceled", metric, {}))
        elif new_state == "resolved":
            if not resolution.stopped:
                result["resolution"] = resolution.met(cal, now)
                happened.append(Happened("sla.met", "resolution", {"from_pause": not resolution.running}))
        elif old_state in ("resolved", "closed") and new_state not in STOPPED_STATES:
            if resolution.canceled_at is None:
                result["resolution"] = resolution.reopened(now)
                happened.append(Happened("sla.resumed", "resolution", {"reopened": True}))
        elif new_state in PAUSED_STATES and resolution.running and not resolution.stopped:
            result["resolution"] = resolution.paused(cal, now)
            happened.append(Happened("sla.paused", "resolution", {"state": new_state}))
        elif old_state in PAUSED_STATES and new_state not in PAUSED_STATES and not resolution.stopped:
            result["resolution"] = resolution.resumed(now)
            happened.append(Happened("sla.resumed", "resolution", {"state": new_state}))
    elif old_state != new_state and new_state == "canceled":
        for metric, clock in list(result.items()):
            if not clock.stopped:
                result[metric] = clock.canceled(calendar(clock), now)
                happened.append(Happened("sla.canceled", metric, {}))
    return result, happened
