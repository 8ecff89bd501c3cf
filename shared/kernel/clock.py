"""The clock, as a port: the domain asks it for "now"; tests and replays hand in their own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The system clock, in UTC (always an aware datetime; never the process's TZ)."""
    return datetime.now(UTC)
