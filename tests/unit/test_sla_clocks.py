"""The SLA clock rules (``shared.sla.clocks``), pure, with explicit instants: pauses, resolves
while paused, reopen, re-selection on a priority change, a policy that matches nothing, breaches
found by a change, schedules with escalation steps, and business calendars across DST."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.sla import calendar as calendars
from shared.sla.calendar import Calendar
from shared.sla.clocks import Clock, apply, is_relevant
from shared.sla.model import CompiledPolicy

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # a Wednesday
H = timedelta(hours=1)


def policy(pid: str = "p", *, fr: int | None = 60, res: int | None = 480, **extra: Any) -> CompiledPolicy:
    row = {
        "id": pid,
        "version": 1,
        "position": 10,
        "enabled": True,
        "match": extra.pop("match", {}),
        "first_response_minutes": fr,
        "resolution_minutes": res,
        "at_risk_percent": extra.pop("at_risk_percent", 80),
        "calendar_id": extra.pop("calendar_id", "24x7"),
        "escalation": extra.pop("escalation", []),
    }
    return CompiledPolicy.of(row)


@dataclass
class Config:
    """What ``apply`` asks of the configuration (``shared.sla.config.SlaConfig``'s surface)."""

    policies: tuple[CompiledPolicy, ...]
    calendars: dict[str, Calendar]

    def select(self, ticket: dict[str, Any]) -> CompiledPolicy | None:
        return next((p for p in self.policies if p.enabled and p.matches(ticket)), None)

    def policy(self, policy_id: str | None) -> CompiledPolicy | None:
        return next((p for p in self.policies if p.id == policy_id), None)

    def calendar(self, calendar_id: str) -> Calendar:
        return self.calendars[calendar_id]


def config(*policies: CompiledPolicy, **extra: Calendar) -> Config:
    return Config(policies, {"24x7": calendars.twenty_four_seven(), **extra})


def ticket(**values: Any) -> dict[str, Any]:
    base = {
        "id": "t",
        "kind": "incident",
        "category": "health",
        "priority": "high",
        "tenant_id": "acme",
        "sla_policy": None,
        "state": "new",
        "first_response_at": None,
    }
    return base | values


def opened(cfg: Config, at: datetime = T0, **values: Any) -> tuple[dict[str, Any], dict[str, Clock]]:
    row = ticket(**values)
    clocks, happened = apply(None, row, {}, cfg, at)
    assert [h.type for h in happened] == (["sla.applied"] if clocks else [])
    return row, clocks


def move(
    cfg: Config, row: dict[str, Any], clocks: dict[str, Clock], at: datetime, **changes: Any
) -> tuple[dict[str, Any], dict[str, Clock], list[str]]:
    after = row | changes
    new, happened = apply(row, after, clocks, cfg, at)
    return after, new, [f"{h.type}:{h.metric}" for h in happened]


def due(cfg: Config, clock: Clock) -> datetime | None:
    return clock.due_at(cfg.calendar(clock.calendar_id))


def test_a_new_ticket_gets_a_running_clock_per_target_from_its_creation() -> None:
    cfg = config(policy())
    _, clocks = opened(cfg)
    assert set(clocks) == {"first_response", "resolution"}
    assert due(cfg, clocks["first_response"]) == T0 + H
    assert due(cfg, clocks["resolution"]) == T0 + 8 * H
    assert clocks["resolution"].at_risk_at(cfg.calendar("24x7")) == T0 + timedelta(minutes=384)  # 80%
    assert all(c.state == "running" for c in clocks.values())


def test_a_policy_that_matches_nothing_gives_no_clocks() -> None:
    cfg = config(policy(match={"priority": ["critical"]}))
    _, clocks = opened(cfg, priority="low")
    assert clocks == {}


def test_the_first_matching_policy_wins_and_a_routing_choice_wins_over_matching() -> None:
    cfg = config(policy("first", fr=10), policy("second", fr=20), policy("routed", fr=30))
    assert opened(cfg)[1]["first_response"].policy_id == "first"
    assert opened(cfg, sla_policy="routed")[1]["first_response"].policy_id == "routed"
    # a routing choice naming a policy that is gone falls back to matching
    assert opened(cfg, sla_policy="gone")[1]["first_response"].policy_id == "first"


def test_waiting_pauses_resolution_and_paused_time_never_counts() -> None:
    cfg = config(policy())
    row, clocks = opened(cfg)
    row, clocks, what = move(cfg, row, clocks, T0 + H, state="wait_requester", first_response_at=T0 + H)
    assert what == ["sla.met:first_response", "sla.paused:resolution"]
    assert clocks["resolution"].state == "paused" and due(cfg, clocks["resolution"]) is None
    row, clocks, what = move(cfg, row, clocks, T0 + 3 * H, state="in_progress")
    assert what == ["sla.resumed:resolution"]
    assert due(cfg, clocks["resolution"]) == T0 + 10 * H  # 8 h target + 2 h paused


def test_resolving_straight_from_a_pause_keeps_the_pause() -> None:
    cfg = config(policy())
    row, clocks = opened(cfg)
    row, clocks, _ = move(cfg, row, clocks, T0 + 2 * H, state="wait_dependency", first_response_at=T0 + H)
    row, clocks, what = move(cfg, row, clocks, T0 + 20 * H, state="resolved")
    assert what == ["sla.met:resolution"]
    resolution = clocks["resolution"]
    assert resolution.state == "met" and resolution.met_at == T0 + 20 * H
    assert resolution.elapsed == 2 * H and resolution.breached_at is None  # 18 h paused, not counted


def test_reopening_resumes_resolution_with_its_elapsed_time() -> None:
    cfg = config(policy())
    row, clocks = opened(cfg)
    row, clocks, _ = move(cfg, row, clocks, T0 + 3 * H, state="resolved", first_response_at=T0 + 3 * H)
    row, clocks, _ = move(cfg, row, clocks, T0 + 5 * H, state="closed")
    row, clocks, what = move(cfg, row, clocks, T0 + 30 * H, state="in_progress")
    assert what == ["sla.resumed:resolution"]
    resolution = clocks["resolution"]
    assert resolution.state == "running" and resolution.met_at is None
    assert due(cfg, resolution) == T0 + 35 * H  # 3 h counted before, 5 h left from the reopen


def test_a_priority_change_selects_the_policy_again_and_keeps_elapsed_time() -> None:
    cfg = config(policy("high", res=480, match={"priority": ["high"]}), policy("crit", res=240))
    row, clocks = opened(cfg)
    row, clocks, what = move(cfg, row, clocks, T0 + H, priority="critical")
    assert what == ["sla.retargeted:None"]
    resolution = clocks["resolution"]
    assert (resolution.policy_id, resolution.target_s, resolution.elapsed) == ("crit", 240 * 60, H)
    assert due(cfg, resolution) == T0 + 4 * H


def test_a_change_after_the_due_instant_finds_the_breach_at_its_exact_instant() -> None:
    cfg = config(policy())
    row, clocks = opened(cfg)
    # The first response comes 90 minutes in: 30 minutes after its 60-minute target.
    row, clocks, what = move(
        cfg, row, clocks, T0 + 90 * timedelta(minutes=1), state="ack", first_response_at=T0
    )
    first = clocks["first_response"]
    assert first.state == "breached" and first.breached_at == T0 + H and first.met_at is not None
    assert what == ["sla.met:first_response"]  # the engine reports the breach (settle), once


def test_canceling_cancels_the_clocks_not_met() -> None:
    cfg = config(policy())
    row, clocks = opened(cfg)
    row, clocks, _ = move(cfg, row, clocks, T0 + H / 2, state="ack", first_response_at=T0 + H / 2)
    row, clocks, what = move(cfg, row, clocks, T0 + H, state="canceled")
    assert what == ["sla.canceled:resolution"]
    assert clocks["first_response"].state == "met" and clocks["resolution"].state == "canceled"


def test_edits_that_cannot_move_a_clock_are_not_looked_at() -> None:
    row = ticket()
    assert not is_relevant(row, row | {"title": "new title", "tags": ["x"]})
    assert is_relevant(row, row | {"priority": "low"})
    assert is_relevant(None, row)


def test_the_schedule_orders_at_risk_breach_and_escalations() -> None:
    escalation = [
        {"at": "breach+30m", "notify": ["role:platform_admin"]},
        {"at": "at_risk", "notify": ["role:platform_operator"]},
        {"at": "breach", "notify": ["queue:data-platform"], "raise_priority": True, "metric": "resolution"},
    ]
    compiled = policy(fr=60, res=100, escalation=escalation)
    assert [(s.name, s.at_s, s.escalations) for s in compiled.schedule("resolution")] == [
        ("at_risk", 80 * 60, (1,)),
        ("breach", 100 * 60, (2,)),
        ("breach+30m", 130 * 60, (0,)),
    ]
    assert [s.name for s in compiled.schedule("first_response")] == ["at_risk", "breach", "breach+30m"]


def test_the_next_step_moves_the_generation_and_a_pause_clears_it() -> None:
    cfg = config(policy())
    calendar = cfg.calendar("24x7")
    _, clocks = opened(cfg)
    clock = clocks["resolution"].rescheduled(calendar)
    assert (clock.next_step, clock.next_due_at, clock.generation) == (
        "at_risk",
        T0 + timedelta(minutes=384),
        2,
    )
    assert clock.rescheduled(calendar) is clock  # nothing moved: same generation
    paused = clock.paused(calendar, T0 + H).rescheduled(calendar)
    assert (paused.next_step, paused.next_due_at, paused.generation) == (None, None, 3)


def test_a_business_calendar_counts_working_hours_across_the_march_dst_change() -> None:
    berlin = calendars.build(
        "berlin",
        time_zone="Europe/Berlin",
        weekly={
            day: [["09:00", "17:00"]] for day in ("monday", "tuesday", "wednesday", "thursday", "friday")
        },
        holiday_dates=[],
    )
    cfg = config(policy(fr=120, res=None, calendar_id="berlin"), berlin=berlin)
    # Friday 27 March 2026, 16:00 CET (15:00 UTC): 1 h counts on Friday; the clocks change on
    # Sunday 29 March; the second hour is Monday 09:00-10:00 CEST = 07:00-08:00 UTC.
    friday = datetime(2026, 3, 27, 15, 0, tzinfo=UTC)
    _, clocks = opened(cfg, at=friday)
    assert due(cfg, clocks["first_response"]) == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)
    assert "resolution" not in clocks


@pytest.mark.parametrize("state", ["wait_requester", "wait_dependency"])
def test_a_breached_clock_stays_breached_once_met(state: str) -> None:
    cfg = config(policy(fr=60, res=60))
    row, clocks = opened(cfg)
    row, clocks, _ = move(cfg, row, clocks, T0 + 2 * H, state=state, first_response_at=T0 + 2 * H)
    row, clocks, _ = move(cfg, row, clocks, T0 + 3 * H, state="resolved")
    resolution = clocks["resolution"]
    assert resolution.state == "breached" and resolution.breached_at == T0 + H
    assert resolution.met_at == T0 + 3 * H
