"""Business calendars, pure: working time between two instants, and the instant at which an amount
of working time has elapsed.

A calendar has an IANA time zone, weekly working intervals in that zone's wall time, and holidays
(local dates). Everything is computed on absolute instants: each working interval of a local date
is turned into UTC instants with ``zoneinfo`` (PEP 495, ``fold=0``), so an interval on a
daylight-saving day is as long as the wall clock says (``00:00-24:00`` is 23 h in spring, 25 h in
autumn) and nothing depends on the process's ``TZ``. An interval whose end is before its start
crosses midnight and belongs to the day it starts on (a holiday on that day removes it whole).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DAY = 24 * 60  # minutes
MAX_DAYS = 3700  # days walked at most for one computation (ten years)
MAX_HOLIDAY_YEARS = 50
_TIME = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
_ZONE = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$")
ZERO = timedelta(0)

Weekly = tuple[tuple[tuple[int, int], ...], ...]


class CalendarError(ValueError):
    """An invalid calendar: ``errors`` locate each problem (``{"loc": [...], "msg": ...}``)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors))
        self.errors = errors


def _aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime")


@dataclass(frozen=True, slots=True)
class Calendar:
    id: str
    zone: ZoneInfo
    weekly: Weekly  # per weekday (0 = Monday): sorted (start_minute, end_minute); end may pass 1440
    holidays: frozenset[date] = frozenset()
    version: int = 1

    @property
    def always_open(self) -> bool:
        return not self.holidays and all(day == ((0, DAY),) for day in self.weekly)

    def _intervals(self, start_day: date) -> Iterator[tuple[datetime, datetime]]:
        """Working intervals (UTC instants) of each local date from ``start_day`` on."""
        for offset in range(MAX_DAYS):
            day = start_day + timedelta(days=offset)
            if day not in self.holidays:
                yield from _day_intervals(self.zone, self.weekly[day.weekday()], day)
        raise CalendarError([{"loc": ["weekly"], "msg": f"no end within {MAX_DAYS} days of working time"}])

    def _first_day(self, at: datetime) -> date:
        # The day before too: its intervals may cross midnight into ``at``'s day.
        return at.astimezone(self.zone).date() - timedelta(days=1)

    def add(self, start: datetime, business: timedelta) -> datetime:
        """The instant at which ``business`` of working time has elapsed, counting from ``start``."""
        _aware(start, "start")
        start = start.astimezone(UTC)
        if business <= ZERO:
            return start
        if self.always_open:
            return start + business
        left = business
        for begin, finish in self._intervals(self._first_day(start)):
            if finish <= start:
                continue
            counted_from = max(begin, start)
            span = finish - counted_from
            if span >= left:
                return counted_from + left
            left -= span
        raise AssertionError("unreachable")  # _intervals raises first

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Working time in [start, end)."""
        _aware(start, "start")
        _aware(end, "end")
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if end <= start:
            return ZERO
        if self.always_open:
            return end - start
        total = ZERO
        for begin, finish in self._intervals(self._first_day(start)):
            if begin >= end:
                return total
            if finish <= start:
                continue
            total += min(finish, end) - max(begin, start)
        raise AssertionError("unreachable")

    def is_working(self, at: datetime) -> bool:
        _aware(at, "at")
        return self.between(at, at + timedelta(microseconds=1)) > ZERO


@lru_cache(maxsize=8192)
def _day_intervals(
    zone: ZoneInfo, intervals: tuple[tuple[int, int], ...], day: date
) -> tuple[tuple[datetime, datetime], ...]:
    """One local date's working intervals as UTC instants (remembered: every clock of a
    calendar asks for the same few weeks)."""
    midnight = datetime.combine(day, time(0))
    found = []
    for start, end in intervals:
        begin = (midnight + timedelta(minutes=start)).replace(tzinfo=zone).astimezone(UTC)
        finish = (midnight + timedelta(minutes=end)).replace(tzinfo=zone).astimezone(UTC)
        if finish > begin:
            found.append((begin, finish))
    return tuple(found)


def twenty_four_seven(calendar_id: str = "24x7", version: int = 1) -> Calendar:
    return Calendar(calendar_id, ZoneInfo("UTC"), tuple(((0, DAY),) for _ in WEEKDAYS), frozenset(), version)


# ---- definitions from clients ---------------------------------------------------------------------------


def zone_of(name: str) -> ZoneInfo:
    """The IANA zone ``name``; CalendarError for anything else."""
    error = CalendarError([{"loc": ["time_zone"], "msg": f"not an IANA time zone: {name!r}"}])
    if not isinstance(name, str) or not _ZONE.match(name) or name in ("Local", "localtime") or ".." in name:
        raise error
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise error from None


def _minutes(text: Any, loc: list[Any], errors: list[dict[str, Any]]) -> int | None:
    found = _TIME.match(text) if isinstance(text, str) else None
    if found is None or (found.group(1) == "24" and found.group(2) != "00"):
        errors.append({"loc": loc, "msg": "a time is HH:MM, from 00:00 to 24:00"})
        return None
    return int(found.group(1)) * 60 + int(found.group(2))


def parse_weekly(weekly: Mapping[str, Sequence[Sequence[str]]]) -> Weekly:
    """``{"monday": [["09:00", "17:00"]], ...}`` (a day left out is closed) as ``Calendar.weekly``.
    An interval whose end is before its start crosses midnight (``22:00``-``02:00``)."""
    errors: list[dict[str, Any]] = []
    days: list[list[tuple[int, int]]] = [[] for _ in WEEKDAYS]
    if not isinstance(weekly, Mapping):
        raise CalendarError([{"loc": ["weekly"], "msg": "an object of weekdays"}])
    for name, intervals in weekly.items():
        if name not in WEEKDAYS:
            errors.append({"loc": ["weekly", name], "msg": f"not a weekday: one of {', '.join(WEEKDAYS)}"})
            continue
        if not isinstance(intervals, Sequence) or isinstance(intervals, str):
            errors.append({"loc": ["weekly", name], "msg": "a list of [start, end] intervals"})
            continue
        for index, interval in enumerate(intervals):
            loc = ["weekly", name, index]
            if not isinstance(interval, Sequence) or isinstance(interval, str) or len(interval) != 2:
                errors.append({"loc": loc, "msg": "an interval is [start, end]"})
                continue
            start, end = _minutes(interval[0], [*loc, 0], errors), _minutes(interval[1], [*loc, 1], errors)
            if start is None or end is None:
                continue
            if start == DAY:
                errors.append({"loc": loc, "msg": "an interval cannot start at 24:00"})
                continue
            if end == start:
                errors.append({"loc": loc, "msg": "an interval cannot be empty (start = end)"})
                continue
            if end < start:
                end += DAY  # crosses midnight
            days[WEEKDAYS.index(name)].append((start, end))
    if errors:
        raise CalendarError(errors)
    # Overlaps, on the week's minutes (Sunday's night wraps into Monday morning).
    spans = sorted(
        (day * DAY + start, day * DAY + end, WEEKDAYS[day], index)
        for day, intervals in enumerate(days)
        for index, (start, end) in enumerate(intervals)
    )
    week = 7 * DAY
    for (_s1, e1, d1, i1), (s2, _e2, d2, i2) in pairwise(spans):
        if s2 < e1:
            errors.append({"loc": ["weekly", d2, i2], "msg": f"overlaps {d1}'s interval {i1}"})
    if spans and spans[-1][1] > week and spans[-1][1] - week > spans[0][0]:
        last, first = spans[-1], spans[0]
        errors.append(
            {"loc": ["weekly", first[2], first[3]], "msg": f"overlaps {last[2]}'s interval {last[3]}"}
        )
    if not spans:
        errors.append({"loc": ["weekly"], "msg": "a calendar needs some working time"})
    if errors:
        raise CalendarError(errors)
    return tuple(tuple(sorted(day)) for day in days)


def _text(minutes: int) -> str:
    minutes = minutes - DAY if minutes > DAY else minutes
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def format_weekly(weekly: Weekly) -> dict[str, list[list[str]]]:
    """``parse_weekly``'s inverse (closed days left out)."""
    return {
        WEEKDAYS[day]: [[_text(start), _text(end)] for start, end in intervals]
        for day, intervals in enumerate(weekly)
        if intervals
    }


def holidays_for(country: str, subdivision: str | None, years: range) -> dict[date, str]:
    """Public holidays of a country (and subdivision) from the ``holidays`` package."""
    if len(years) > MAX_HOLIDAY_YEARS or len(years) < 1:
        raise CalendarError([{"loc": ["holidays", "years"], "msg": f"1 to {MAX_HOLIDAY_YEARS} years"}])
    import holidays  # 70 ms to import: only where a calendar is written

    supported = holidays.list_supported_countries()
    if country not in supported:
        raise CalendarError([{"loc": ["holidays", "country"], "msg": f"no holidays known for {country!r}"}])
    if subdivision is not None and subdivision not in supported[country]:
        raise CalendarError(
            [{"loc": ["holidays", "subdivision"], "msg": f"{country} has no subdivision {subdivision!r}"}]
        )
    found = holidays.country_holidays(country, subdiv=subdivision, years=list(years))
    return {day: str(name) for day, name in sorted(found.items())}


def build(
    calendar_id: str,
    *,
    time_zone: str,
    weekly: Mapping[str, Sequence[Sequence[str]]],
    holiday_dates: Iterable[date],
    version: int = 1,
) -> Calendar:
    return Calendar(calendar_id, zone_of(time_zone), parse_weekly(weekly), frozenset(holiday_dates), version)
