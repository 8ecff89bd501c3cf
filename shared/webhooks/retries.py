"""What an attempt's outcome means for its delivery: done, retried when, or given up (pure).

- 2xx is success; nothing else is (a 3xx is not followed: it is a failure).
- 410 Gone disables the endpoint at once; the delivery waits for it to be resumed.
- 429, 502, 503 and 504 are throttling: the next attempt waits ``Retry-After`` when the response
  gives one (at most 24 hours), else the schedule's next delay.
- Any other failure waits the schedule's next delay, with jitter (±10 %), so that an endpoint that
  comes back is not hit by every retry in the same second.
- After the schedule's last delay, the next failure is final: the delivery is failed and
  dead-lettered.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

THROTTLING = frozenset({429, 502, 503, 504})
GONE = 410
JITTER = 0.1
# Every attempt of an endpoint failing for this long disables it (as Svix does).
FAILING_DISABLES_AFTER = timedelta(days=5)

Kind = Literal["succeeded", "failed", "throttled", "gone", "refused"]


def classify(status: int | None, *, refused: bool = False) -> Kind:
    """The attempt's outcome kind from its response status (None: no response came)."""
    if refused:
        return "refused"
    if status is None:
        return "failed"
    if 200 <= status < 300:
        return "succeeded"
    if status == GONE:
        return "gone"
    if status in THROTTLING:
        return "throttled"
    return "failed"


@dataclass(frozen=True)
class Next:
    """After a failed attempt: retry in ``delay_s``, or (``None``) give up."""

    delay_s: float | None


def after_failure(
    schedule: Sequence[int],
    round_attempts: int,
    kind: Kind,
    retry_after_s: float | None,
    *,
    rng: random.Random | None = None,
) -> Next:
    """When to try again after the ``round_attempts``-th attempt of this round failed (1-based):
    the schedule's delay number ``round_attempts`` (Retry-After instead when throttled), or None
    once the schedule is exhausted."""
    if round_attempts < 1:
        raise ValueError("round_attempts counts the attempt that just failed (1 or more)")
    if round_attempts > len(schedule):
        return Next(None)
    if kind == "throttled" and retry_after_s is not None:
        return Next(max(1.0, retry_after_s))
    delay = float(schedule[round_attempts - 1])
    jitter = (rng or random).uniform(-JITTER, JITTER)
    return Next(max(1.0, delay * (1 + jitter)))
