"""SLA policies and business calendars: what clients write and read, and what the engine computes
with (``CompiledPolicy``: a policy's targets and escalation chain as a schedule of steps in
elapsed business seconds).

A policy matches on kind, category, priority and tenant; a member left out (or ``"any"``)
matches any value. Targets are minutes of business time, counted on the policy's calendar. The
at-risk step comes when ``at_risk_percent`` of a target has elapsed (default 80: "near breach,
under 20% left"). The escalation chain is ordered steps, each at ``at_risk`` or ``breach``,
optionally later by ``+<n>m`` / ``+<n>h`` of business time (``breach+30m``); a step may notify
people, roles or queues, raise the ticket's priority and set its queue.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
)

from shared.auth import TENANT_ID_PATTERN
from shared.kernel.text import free_text, required_text, trimmed
from shared.tickets.models import Category, Cursor, Kind, Priority

ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"  # routing rules name policies so (shared.routing.rules)
MAX_POLICIES = 200
MAX_CALENDARS = 100
MAX_POSITION = 1_000_000
POSITION_STEP = 10
MAX_ESCALATION_STEPS = 10
MAX_NOTIFY = 20
MAX_TARGET_MINUTES = 366 * 24 * 60  # a year of business time
DEFAULT_AT_RISK_PERCENT = 80
DEFAULT_CALENDAR = "24x7"
METRICS = ("first_response", "resolution")
Metric = Literal["first_response", "resolution"]
PRIORITY_ORDER = ("low", "medium", "high", "critical")

STEP_PATTERN = r"^(at_risk|breach)(\+[1-9][0-9]{0,5}[mh])?$"
TIME_PATTERN = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
ZONE_PATTERN = r"^[A-Za-z][A-Za-z0-9_+/-]{0,63}$"
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
TimeOfDay = Annotated[str, StringConstraints(pattern=TIME_PATTERN), Field(description="HH:MM, 00:00-24:00")]
Interval = Annotated[list[TimeOfDay], Field(min_length=2, max_length=2, description="[start, end]")]
NOTIFY_PATTERN = r"^(role|queue|user):[A-Za-z0-9_.@:/-]{1,128}$"

EntityId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=ID_PATTERN),
    Field(description="Letters, digits and '_.:-', at most 64 characters."),
]
Name = Annotated[str, required_text(200), AfterValidator(trimmed)]
TenantId = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=TENANT_ID_PATTERN)]


def _json_integer(value: Any) -> Any:
    """A JSON integer (1 or 1.0), never a boolean or a string."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError("must be a JSON integer")
    return int(value)


# Field before the validator: the constraints then reach the JSON schema (the OpenAPI document).
Minutes = Annotated[
    int,
    Field(gt=0, le=MAX_TARGET_MINUTES, description="Minutes of business time (> 0)."),
    BeforeValidator(_json_integer),
]
Position = Annotated[
    int,
    Field(ge=1, le=MAX_POSITION, description="Policies are tried in ascending position; unique."),
    BeforeValidator(_json_integer),
]


def _any_or_list(value: Any) -> Any:
    """``"any"`` or null: no condition; one value: a list of one."""
    if value is None or value == "any":
        return None
    if isinstance(value, str):
        return [value]
    return value


def _unique(values: list[Any] | None) -> list[Any] | None:
    return list(dict.fromkeys(values)) if values is not None else None


class PolicyMatch(BaseModel):
    """What a ticket must have for the policy to apply; a member left out, null or ``"any"``
    matches any value, a list matches any of its values."""

    model_config = ConfigDict(extra="forbid")

    kind: Annotated[
        Annotated[list[Kind], Field(min_length=1)] | None,
        BeforeValidator(_any_or_list),
        AfterValidator(_unique),
    ] = None
    category: Annotated[
        Annotated[list[Category], Field(min_length=1, max_length=20)] | None,
        BeforeValidator(_any_or_list),
        AfterValidator(_unique),
    ] = None
    priority: Annotated[
        Annotated[list[Priority], Field(min_length=1)] | None,
        BeforeValidator(_any_or_list),
        AfterValidator(_unique),
    ] = None
    tenant_id: Annotated[
        Annotated[list[TenantId], Field(min_length=1, max_length=100)] | None,
        BeforeValidator(_any_or_list),
        AfterValidator(_unique),
    ] = None

    def stored(self) -> dict[str, list[str]]:
        return {k: [str(v) for v in vs] for k, vs in self.model_dump(mode="json").items() if vs is not None}


class EscalationStep(BaseModel):
    """One step of a policy's escalation chain."""

    model_config = ConfigDict(extra="forbid")

    at: Annotated[
        str,
        StringConstraints(pattern=STEP_PATTERN),
        Field(
            description="When: `at_risk`, `breach`, or either plus business time, e.g. `breach+30m`,"
            " `at_risk+2h`."
        ),
    ]
    metric: Metric | None = Field(
        default=None, description="The clock it applies to; null: both (first_response and resolution)."
    )
    notify: list[Annotated[str, StringConstraints(pattern=NOTIFY_PATTERN)]] = Field(
        default_factory=list,
        max_length=MAX_NOTIFY,
        description="Who is told, e.g. `role:platform_operator`, `queue:data-platform`, `user:olga`; the"
        " targets travel in the `SLA Escalated` event for Notifications to deliver.",
    )
    raise_priority: StrictBool = Field(default=False, description="Raise the ticket's priority one level.")
    queue: Annotated[str, required_text(200), AfterValidator(trimmed)] | None = Field(
        default=None, description="Move the ticket to this queue."
    )


class CalendarHolidays(BaseModel):
    """Holidays: explicit dates, and those of a country (ISO 3166 code, optional subdivision) for a
    range of years, generated with the ``holidays`` package when the calendar is written."""

    model_config = ConfigDict(extra="forbid")

    dates: list[Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")]] = Field(
        default_factory=list, max_length=1000, description="Explicit dates (YYYY-MM-DD, local)."
    )
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2,3}$")] | None = None
    subdivision: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{1,5}$")] | None = None
    years: list[Annotated[int, Field(ge=1970, le=2200), BeforeValidator(_json_integer)]] | None = Field(
        default=None,
        min_length=2,
        max_length=2,
        description="[first, last] year (inclusive) of the country's holidays; at most 50 years.",
    )


class CalendarWrite(BaseModel):
    """A calendar as clients write it (POST creates, PUT replaces)."""

    model_config = ConfigDict(extra="forbid")

    id: EntityId | None = Field(
        default=None, description="Chosen by the client on POST; generated if absent."
    )
    name: Name
    time_zone: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=ZONE_PATTERN)] = Field(
        description="An IANA time zone, e.g. `Europe/Berlin`; the working hours are its wall time."
    )
    weekly: dict[Weekday, Annotated[list[Interval], Field(max_length=24)]] = Field(
        description='Working intervals per weekday in local wall time, e.g. `{"monday": [["09:00",'
        ' "17:00"]]}`; a day left out is closed; `24:00` ends a day; an interval whose end is before its'
        " start crosses midnight (`22:00`-`02:00`)."
    )
    holidays: CalendarHolidays = Field(default_factory=CalendarHolidays)


class Calendar(CalendarWrite):
    id: EntityId
    holiday_dates: list[str] = Field(
        description="Every holiday the calendar counts (explicit and generated)."
    )
    version: int
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime

    @field_validator("holiday_dates", mode="before")
    @classmethod
    def _dates_as_text(cls, value: Any) -> Any:
        return [str(d) for d in value] if isinstance(value, list) else value


class SlaPolicyWrite(BaseModel):
    """An SLA policy as clients write it (POST creates, PUT replaces)."""

    model_config = ConfigDict(extra="forbid")

    id: EntityId | None = Field(
        default=None,
        description="Chosen by the client on POST (routing rules' `sla_policy` names it); generated if"
        " absent.",
    )
    position: Position | None = Field(
        default=None,
        description="Without one, a new policy goes after the last (at the next multiple of 10).",
    )
    name: Name
    description: Annotated[str, free_text(2000)] = ""
    enabled: StrictBool = True
    match: PolicyMatch = Field(default_factory=PolicyMatch)
    first_response_minutes: Minutes | None = None
    resolution_minutes: Minutes | None = None
    at_risk_percent: Annotated[int, Field(ge=1, le=99), BeforeValidator(_json_integer)] = Field(
        default=DEFAULT_AT_RISK_PERCENT, description="At risk once this share of a target has elapsed."
    )
    calendar_id: EntityId = Field(
        default=DEFAULT_CALENDAR, description="The business calendar (default 24x7)."
    )
    escalation: list[EscalationStep] = Field(default_factory=list, max_length=MAX_ESCALATION_STEPS)


class SlaPolicy(SlaPolicyWrite):
    id: EntityId
    position: Position
    version: int
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime


class SlaPolicyPage(BaseModel):
    items: list[SlaPolicy]
    next_cursor: Cursor | None


class CalendarPage(BaseModel):
    items: list[Calendar]
    next_cursor: Cursor | None


# ---- what the engine computes with ------------------------------------------------------------------

_OFFSET = re.compile(STEP_PATTERN)


def step_offset_s(at: str) -> tuple[str, int]:
    """``breach+30m`` → (``breach``, 1800)."""
    found = _OFFSET.match(at)
    if found is None:
        raise ValueError(f"not an escalation step: {at!r}")
    base, offset = found.group(1), found.group(2)
    if not offset:
        return base, 0
    amount = int(offset[1:-1])
    return base, amount * (60 if offset.endswith("m") else 3600)


@dataclass(frozen=True, slots=True)
class ScheduleStep:
    """A step of a clock's schedule: its name (``at_risk``, ``breach``, ``breach+30m``), when
    (elapsed business seconds) and the escalation chain entries it carries out (their indexes)."""

    name: str
    at_s: int
    escalations: tuple[int, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "at_s": self.at_s, "escalations": list(self.escalations)}

    @classmethod
    def of(cls, value: Mapping[str, Any]) -> ScheduleStep:
        escalations = tuple(int(i) for i in value.get("escalations", ()))
        return cls(str(value["name"]), int(value["at_s"]), escalations)


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """A policy as the engine uses it (from its row)."""

    id: str
    version: int
    position: int
    enabled: bool
    match: Mapping[str, frozenset[str]]
    targets: Mapping[str, int]  # metric → seconds (metrics without a target are absent)
    at_risk_percent: int
    calendar_id: str
    escalation: tuple[dict[str, Any], ...] = field(default=())

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> CompiledPolicy:
        targets = {
            metric: int(row[f"{metric}_minutes"]) * 60
            for metric in METRICS
            if row.get(f"{metric}_minutes") is not None
        }
        return cls(
            id=row["id"],
            version=int(row["version"]),
            position=int(row["position"]),
            enabled=bool(row["enabled"]),
            match={k: frozenset(v) for k, v in (row.get("match") or {}).items()},
            targets=targets,
            at_risk_percent=int(row["at_risk_percent"]),
            calendar_id=row["calendar_id"],
            escalation=tuple(row.get("escalation") or ()),
        )

    def matches(self, ticket: Mapping[str, Any]) -> bool:
        return all(ticket.get(name) in allowed for name, allowed in self.match.items())

    def at_risk_s(self, metric: str) -> int:
        return max(1, math.ceil(self.targets[metric] * self.at_risk_percent / 100))

    def schedule(self, metric: str) -> tuple[ScheduleStep, ...]:
        """The metric's steps in the order they come: at risk, breach, then the escalation steps
        that come later; escalation entries on the same instant are carried out by one step."""
        target = self.targets[metric]
        base = {"at_risk": self.at_risk_s(metric), "breach": target}
        steps: dict[str, tuple[int, list[int]]] = {"at_risk": (base["at_risk"], []), "breach": (target, [])}
        for index, entry in enumerate(self.escalation):
            if entry.get("metric") not in (None, metric):
                continue
            name, offset = step_offset_s(entry["at"])
            key = entry["at"] if offset else name
            steps.setdefault(key, (base[name] + offset, []))[1].append(index)
        ordered = sorted(steps.items(), key=lambda item: (item[1][0], item[0] != "at_risk"))
        return tuple(ScheduleStep(name, at_s, tuple(esc)) for name, (at_s, esc) in ordered)
