"""Due-date computations per second (issue 11 §6): a business calendar with holidays against the
24x7 calendar.

Each computation is what the SLA engine does for a clock: ``calendar.add(start, target)``. The
business calendar is Europe/Berlin, Monday to Friday 09:00-17:00, with Germany's (Bavaria's)
public holidays for 2026-2028 from the ``holidays`` package; targets are the seeded policies'
(30 min, 2 h, 4 h, 8 h, 24 h, 48 h, 72 h); start instants are spread over 2026-2027 (seeded, so
runs compare). The first pass over each calendar warms its per-day cache, as a warm Lambda's is;
``--cold`` clears it before each round to show the price of a cold one.

    .venv/bin/python -m bench.sla_due_dates [--n 50000] [--rounds 5] [--cold]
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta

from bench import common
from shared.sla import calendar as calendars

TARGETS_MIN = (30, 120, 240, 480, 1440, 2880, 4320)


def _business() -> calendars.Calendar:
    holidays = calendars.holidays_for("DE", "BY", range(2026, 2029))
    return calendars.build(
        "berlin-business",
        time_zone="Europe/Berlin",
        weekly={day: [["09:00", "17:00"]] for day in calendars.WEEKDAYS[:5]},
        holiday_dates=holidays,
    )


def _cases(n: int) -> list[tuple[datetime, timedelta]]:
    rng = random.Random(20261202)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        (
            base + timedelta(seconds=rng.randrange(0, 2 * 365 * 86400)),
            timedelta(minutes=rng.choice(TARGETS_MIN)),
        )
        for _ in range(n)
    ]


def _rate(calendar: calendars.Calendar, cases: list[tuple[datetime, timedelta]], *, cold: bool) -> float:
    if cold:
        calendars._day_intervals.cache_clear()
    started = time.perf_counter()
    for start, target in cases:
        calendar.add(start, target)
    return len(cases) / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=50_000, help="computations per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cold", action="store_true", help="clear the per-day cache before each round")
    args = parser.parse_args(argv)
    load = common.machine_load()
    print(f"load average before the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    cases = _cases(args.n)
    business, always = _business(), calendars.twenty_four_seven()
    _rate(business, cases, cold=False)  # warm-up: the per-day cache, as a warm function has it
    rows = []
    for name, calendar in (("24x7", always), ("Mon-Fri 09-17 Europe/Berlin + DE-BY holidays", business)):
        rates = [_rate(calendar, cases, cold=args.cold) for _ in range(args.rounds)]
        rows.append((name, f"{common.median(rates):,.0f}", f"{min(rates):,.0f}", f"{max(rates):,.0f}"))
    print(common.table(("calendar", "median /s", "min /s", "max /s"), rows))
    ratio = float(rows[1][1].replace(",", "")) / float(rows[0][1].replace(",", ""))
    print(f"business calendar / 24x7: {ratio:.3f} ({args.n:,} due dates per round, {args.rounds} rounds)")


if __name__ == "__main__":
    main()
