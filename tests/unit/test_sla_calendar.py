"""Business-time arithmetic (``shared.sla.calendar``): daylight-saving changes in Europe/Berlin and
America/New_York, holidays (explicit and a country's), intervals across midnight, validation, and
the round trip ``between(start, add(start, d)) == d`` as a property."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.sla.calendar import (
    Calendar,
    CalendarError,
    build,
    format_weekly,
    holidays_for,
    parse_weekly,
    twenty_four_seven,
    zone_of,
)

H = timedelta(hours=1)
WORKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
NINE_TO_FIVE = {day: [["09:00", "17:00"]] for day in WORKDAYS}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def berlin(holiday_dates: tuple[date, ...] = ()) -> Calendar:
    return build("berlin", time_zone="Europe/Berlin", weekly=NINE_TO_FIVE, holiday_dates=holiday_dates)


# ---- daylight-saving changes ---------------------------------------------------------------------


def test_berlin_march_change_moves_nine_oclock_from_08_to_07_utc() -> None:
    # Friday 27 March 2026 16:00 CET = 15:00 UTC; 3 h of work: 1 h on Friday, then Monday
    # 30 March (after the change on Sunday 29th) 09:00-11:00 CEST = 07:00-09:00 UTC.
    assert berlin().add(utc("2026-03-27T15:00"), 3 * H) == utc("2026-03-30T09:00")
    assert berlin().between(utc("2026-03-27T15:00"), utc("2026-03-30T09:00")) == 3 * H


def test_berlin_october_change_moves_nine_oclock_from_07_to_08_utc() -> None:
    # Friday 23 October 2026 16:00 CEST = 14:00 UTC; Monday 26 October 09:00 CET = 08:00 UTC.
    assert berlin().add(utc("2026-10-23T14:00"), 2 * H) == utc("2026-10-26T09:00")


def test_a_day_long_interval_is_as_long_as_the_wall_clock_says() -> None:
    new_york = build(
        "ny", time_zone="America/New_York", weekly={"sunday": [["00:00", "24:00"]]}, holiday_dates=[]
    )
    # 8 March 2026 (spring forward): 23 h; 1 November 2026 (fall back): 25 h.
    assert new_york.between(utc("2026-03-08T00:00"), utc("2026-03-10T00:00")) == 23 * H
    assert new_york.between(utc("2026-11-01T00:00"), utc("2026-11-03T00:00")) == 25 * H
    # Sunday 8 March starts at 05:00 UTC (EST); 23 h of work end at Monday 04:00 UTC (EDT midnight).
    assert new_york.add(utc("2026-03-08T05:00"), 23 * H) == utc("2026-03-09T04:00")


def test_round_the_clock_in_a_zone_with_dst_is_plain_absolute_time() -> None:
    always = build(
        "berlin-24x7",
        time_zone="Europe/Berlin",
        weekly={day: [["00:00", "24:00"]] for day in NINE_TO_FIVE | {"saturday": [], "sunday": []}},
        holiday_dates=[],
    )
    start = utc("2026-03-28T12:00")
    assert always.add(start, 24 * H) == start + 24 * H
    assert twenty_four_seven().add(start, 24 * H) == start + 24 * H


# ---- holidays, closed days, midnight ---------------------------------------------------------------


def test_explicit_holidays_skip_whole_days() -> None:
    calendar = berlin(holiday_dates=(date(2026, 12, 24), date(2026, 12, 25)))
    # Wednesday 23 December 16:00 CET: 1 h that day; Thursday and Friday are holidays; Monday 28th.
    assert calendar.add(utc("2026-12-23T15:00"), 2 * H) == utc("2026-12-28T09:00")


def test_a_countrys_holidays_come_from_the_holidays_package() -> None:
    found = holidays_for("DE", "BY", range(2026, 2028))
    assert date(2026, 12, 25) in found and date(2026, 1, 6) in found  # Epiphany in Bavaria
    assert date(2026, 1, 6) not in holidays_for("DE", "BE", range(2026, 2027))
    with pytest.raises(CalendarError) as unknown:
        holidays_for("XX", None, range(2026, 2027))
    assert unknown.value.errors[0]["loc"] == ["holidays", "country"]
    with pytest.raises(CalendarError) as subdivision:
        holidays_for("DE", "ZZ", range(2026, 2027))
    assert subdivision.value.errors[0]["loc"] == ["holidays", "subdivision"]
    with pytest.raises(CalendarError):
        holidays_for("DE", None, range(2000, 2100))


def test_an_interval_across_midnight_counts_into_the_next_morning() -> None:
    nights = build(
        "nights", time_zone="Europe/Berlin", weekly={"friday": [["22:00", "02:00"]]}, holiday_dates=[]
    )
    # Friday 4 December 2026 22:00 CET = 21:00 UTC; 3 h end at Saturday 01:00 CET = 00:00 UTC.
    assert nights.add(utc("2026-12-04T21:00"), 3 * H) == utc("2026-12-05T00:00")
    assert format_weekly(nights.weekly) == {"friday": [["22:00", "02:00"]]}


def test_counting_starts_at_the_next_working_instant() -> None:
    saturday = utc("2026-12-05T10:00")
    assert berlin().add(saturday, H) == utc("2026-12-07T09:00")  # Monday 10:00 CET
    inside = utc("2026-12-07T10:30")  # Monday 11:30 CET
    assert berlin().add(inside, H) == utc("2026-12-07T11:30")
    assert berlin().add(saturday, timedelta(0)) == saturday
    assert not berlin().is_working(saturday) and berlin().is_working(inside)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        berlin().add(datetime(2026, 12, 7, 9), H)


# ---- validation ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weekly", "loc"),
    [
        ({"monday": [["09:00", "17:00"], ["16:00", "18:00"]]}, ["weekly", "monday", 1]),
        ({"friday": [["22:00", "02:00"]], "saturday": [["01:00", "09:00"]]}, ["weekly", "saturday", 0]),
        ({"sunday": [["22:00", "02:00"]], "monday": [["01:00", "09:00"]]}, ["weekly", "monday", 0]),
        ({"monday": [["09:00", "09:00"]]}, ["weekly", "monday", 0]),
        ({"monday": [["25:00", "26:00"]]}, ["weekly", "monday", 0, 0]),
        ({"monday": [["9:00", "17:00"]]}, ["weekly", "monday", 0, 0]),
        ({"monday": [["24:00", "02:00"]]}, ["weekly", "monday", 0]),
        ({"someday": [["09:00", "17:00"]]}, ["weekly", "someday"]),
        ({}, ["weekly"]),
        ({"monday": []}, ["weekly"]),
    ],
)
def test_invalid_weeks_are_refused_with_where(weekly: dict[str, list[list[str]]], loc: list[object]) -> None:
    with pytest.raises(CalendarError) as refused:
        parse_weekly(weekly)
    assert loc in [e["loc"] for e in refused.value.errors]


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", "Local", "localtime", "Europe/"])
def test_unknown_zones_are_refused(name: str) -> None:
    with pytest.raises(CalendarError) as refused:
        zone_of(name)
    assert refused.value.errors[0]["loc"] == ["time_zone"]


def test_a_whole_day_and_an_interval_ending_at_midnight_are_fine() -> None:
    parsed = parse_weekly({"monday": [["00:00", "24:00"]], "tuesday": [["18:00", "24:00"]]})
    assert format_weekly(parsed) == {"monday": [["00:00", "24:00"]], "tuesday": [["18:00", "24:00"]]}


# ---- the round trip --------------------------------------------------------------------------------------

CALENDARS = [
    twenty_four_seven(),
    berlin(holiday_dates=(date(2026, 3, 30), date(2026, 10, 26))),
    build(
        "ny-shifts",
        time_zone="America/New_York",
        weekly={
            "friday": [["22:00", "02:00"]],
            "sunday": [["00:00", "24:00"]],
            "tuesday": [["08:30", "12:00"]],
        },
        holiday_dates=[date(2026, 11, 3)],
    ),
]


@settings(max_examples=300, deadline=None)
@given(
    calendar=st.sampled_from(CALENDARS),
    start=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    seconds=st.integers(min_value=0, max_value=200 * 3600),
    micro=st.integers(min_value=0, max_value=999_999),
)
def test_between_undoes_add_exactly(calendar: Calendar, start: datetime, seconds: int, micro: int) -> None:
    business = timedelta(seconds=seconds, microseconds=micro)
    due = calendar.add(start, business)
    assert due >= start
    assert calendar.between(start, due) == business
