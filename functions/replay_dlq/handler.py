"""Put the messages of the dead-letter queues back where they came from (runbook: dead letters).

Deployed as ``ticketing-replay-dlq`` (``<functionNamePrefix>-replay-dlq``); operators invoke it:

- ``{}``: every dead-letter queue of the stack;
- ``{"queue": "outbox_relay"}``: one of them, by its name in ``DEAD_LETTER_QUEUES`` (the worker's
  or scheduled function's name; the ``DlqDepth<Name>`` alarm names it too);
- ``{"dry_run": true}`` (with or without ``queue``): only count the messages waiting.

The queues come from the ``DeadLetterQueues()`` declaration, which the stack binds to every DLQ
it has (each scheduled function's, each worker's), so a worker added later is covered without a
change here. A worker's dead letters go back on its queue; a scheduled function's are the events
its invocations failed on, and it is invoked again with each (``shared.aws.dead_letters``).

It answers ``{dry_run, complete, found, moved, failed, queues: [{name, source, dlq_url, found,
moved, failed, complete, errors?}]}``. A message the source refused stays in the DLQ (``failed``,
with the reasons in ``errors``). The run stops before the function's timeout with
``complete: false``; invoking it again carries on. A run after a complete one moves nothing
(until something fails again). An unknown queue name or a malformed payload is answered with
``{"error": {...}}`` (nothing moves, nobody is paged).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from shared.aws import dead_letters
from shared.config.settings import DeadLetterQueue, DeadLetterSettings
from shared.observability import logger
from shared.runtime import entrypoints

# Stop starting batches when less than this is left of the invocation's time.
TIME_RESERVE_MS = 15_000
# Received messages stay hidden this much longer than the invocation may still run.
HOLD_MARGIN_S = 30


class ReplayRequest(BaseModel):
    """What an operator may ask for (unknown fields are refused, so a typo cannot widen a run)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    queue: str | None = Field(default=None, min_length=1, description="One queue, by its name")
    dry_run: StrictBool = Field(default=False, description="Only count the messages")


def run(request: ReplayRequest, services: entrypoints.Services, context: LambdaContext) -> dict[str, Any]:
    settings = services.settings
    assert isinstance(settings, DeadLetterSettings)  # the catalog entry declares DeadLetterQueues()
    queues = settings.dead_letter_queues
    if request.queue is not None:
        queues = [q for q in queues if q.name == request.queue]
        if not queues:
            known = sorted(q.name for q in settings.dead_letter_queues)
            result = entrypoints.error_result(
                "unknown_queue",
                f"No dead-letter queue named '{request.queue}'; known: {', '.join(known) or 'none'}.",
                known=known,
            )
            logger.warning("request refused", extra={"function": "replay_dlq", "error": result["error"]})
            return result

    def keep_going() -> bool:
        return context.get_remaining_time_in_millis() >= TIME_RESERVE_MS

    reports = []
    for queue in queues:
        if not keep_going():
            outcome = dead_letters.Outcome()
        elif request.dry_run:
            outcome = dead_letters.count(queue.dlq_url)
        else:
            hold_s = context.get_remaining_time_in_millis() // 1000 + HOLD_MARGIN_S
            outcome = _replay(queue, keep_going=keep_going, hold_s=hold_s)
        reports.append(_report(queue, outcome))
    summary = {
        "dry_run": request.dry_run,
        "complete": all(r["complete"] for r in reports),
        "found": sum(r["found"] for r in reports),
        "moved": sum(r["moved"] for r in reports),
        "failed": sum(r["failed"] for r in reports),
        "queues": reports,
    }
    failing = any(r["failed"] or r.get("errors") for r in reports)
    (logger.error if failing else logger.info)("dead-letter replay", extra=summary)
    return summary


def _replay(queue: DeadLetterQueue, *, keep_going: Callable[[], bool], hold_s: int) -> dead_letters.Outcome:
    if queue.source_queue_url is not None:
        return dead_letters.to_queue(
            queue.dlq_url, queue.source_queue_url, keep_going=keep_going, hold_s=hold_s
        )
    assert queue.source_function is not None  # one source or the other (DeadLetterQueue)
    return dead_letters.to_function(
        queue.dlq_url, queue.source_function, keep_going=keep_going, hold_s=hold_s
    )


def _report(queue: DeadLetterQueue, outcome: dead_letters.Outcome) -> dict[str, Any]:
    report: dict[str, Any] = {
        "name": queue.name,
        "source": "queue" if queue.source_queue_url is not None else "function",
        "dlq_url": queue.dlq_url,
        "found": outcome.found,
        "moved": outcome.moved,
        "failed": outcome.failed,
        "complete": outcome.complete,
    }
    if outcome.errors:
        report["errors"] = [{"message": text, "count": n} for text, n in outcome.errors.items()]
    return report


handler = entrypoints.operator("replay_dlq", run, ReplayRequest)
