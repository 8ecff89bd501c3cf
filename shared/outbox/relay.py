"""Publishing what the outbox holds: right after commit (the finish step), and every minute
(the relay) for anything left behind.

Publishers are ports, handed in by the entrypoints: one per kind of destination (``bus`` for
EventBridge, ``queue`` for a worker's SQS queue; ``shared.aws.publishers``). A publisher takes
messages and answers, per message, ``None`` (accepted) or the reason it was refused; it raises
only when the destination itself failed (the network, a 5xx, throttling).

The relay claims pending rows with ``FOR UPDATE SKIP LOCKED`` and marks them only after the
destination accepted them: delivery is at least once, consumers dedupe on the event id. A row
that fails ``MAX_ATTEMPTS`` times (or can never be published) is parked with its reason, and
rows that fail are skipped for the rest of a run, so one poison event never holds back the
rows behind it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from shared.auth import Principal
from shared.db import transaction
from shared.observability import logger
from shared.outbox.messages import QUEUE_PREFIX, Message

SYSTEM = Principal.system("outbox")
# A row that failed this many times (or can never be published) is parked with its reason.
MAX_ATTEMPTS = 5
NEVER_PUBLISHABLE = frozenset({"EntryTooLarge", "UnknownDestination"})


class Publisher(Protocol):
    def __call__(self, messages: Sequence[Message]) -> list[str | None]: ...


Publishers = Mapping[str, Publisher]  # "bus" / "queue" → the publisher for that kind


CLAIM = """
SELECT id, event_id, detail_type, detail::text AS detail, destination, created_at, deliver_at FROM outbox
WHERE published_at IS NULL AND parked_at IS NULL AND id <> ALL(%(skip)s)
ORDER BY id
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED
"""
MARK_PUBLISHED = "UPDATE outbox SET published_at = now(), attempts = attempts + 1 WHERE id = ANY(%(ids)s)"
MARK_PUBLISHED_EVENTS = """
UPDATE outbox SET published_at = now(), attempts = attempts + 1
WHERE event_id = ANY(%(event_ids)s) AND published_at IS NULL
"""
MARK_FAILED = """
UPDATE outbox SET attempts = attempts + 1, last_error = %(error)s,
                  parked_at = CASE WHEN %(park)s OR attempts + 1 >= %(max_attempts)s THEN now() END
WHERE id = %(id)s
RETURNING parked_at IS NOT NULL AS parked
"""
PENDING_STATS = """
SELECT count(*) FILTER (WHERE parked_at IS NULL) AS pending,
       count(*) FILTER (WHERE parked_at IS NOT NULL) AS parked,
       coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE parked_at IS NULL)), 0)
           AS lag_seconds
FROM outbox WHERE published_at IS NULL
"""
UNPARK = """
WITH back AS (UPDATE outbox SET parked_at = NULL, attempts = 0
              WHERE parked_at IS NOT NULL AND published_at IS NULL RETURNING 1)
SELECT count(*) AS unparked FROM back
"""
PURGE_PUBLISHED = """
WITH gone AS (DELETE FROM outbox WHERE published_at < now() - make_interval(days => %(days)s) RETURNING 1)
SELECT count(*) AS purged FROM gone
"""


def publish(messages: Sequence[Message], publishers: Publishers) -> list[str | None]:
    """Each message to the publisher of its destination; per message None or why it failed."""
    results: list[str | None] = [None] * len(messages)
    by_kind: dict[str, list[int]] = {}
    for index, message in enumerate(messages):
        kind = "queue" if message.destination.startswith(QUEUE_PREFIX) else message.destination
        by_kind.setdefault(kind, []).append(index)
    for kind, indexes in by_kind.items():
        publisher = publishers.get(kind)
        if publisher is None:
            for i in indexes:
                results[i] = f"UnknownDestination: nothing publishes to {messages[i].destination!r} here"
            continue
        for i, result in zip(indexes, publisher([messages[i] for i in indexes]), strict=True):
            results[i] = result
    return results


def publish_committed(messages: Sequence[Message], publishers: Publishers) -> None:
    """The finish step: publish what an invocation committed, then mark what was accepted.
    Best effort: whatever fails stays pending for the relay; if the relay gets to a row first,
    the event goes out twice, which at-least-once delivery allows."""
    if not messages:
        return
    try:
        results = publish(messages, publishers)
        accepted = [m.event_id for m, error in zip(messages, results, strict=True) if error is None]
        if accepted:
            with transaction(SYSTEM) as uow:
                uow.execute(MARK_PUBLISHED_EVENTS, {"event_ids": accepted})
    except Exception:  # the change is committed; the relay publishes what this missed
        logger.warning(
            "outbox flush failed; the relay will publish", extra={"events": len(messages)}, exc_info=True
        )


@dataclass(frozen=True)
class BatchResult:
    published: int
    failed: list[int]  # outbox ids that failed this time
    parked: int


def publish_batch(
    publishers: Publishers,
    *,
    limit: int = 100,
    skip: list[int] | None = None,
) -> BatchResult:
    """Claim up to ``limit`` pending rows (never ``skip``), publish, mark. A row its destination
    refuses keeps its error and an attempt more, and is parked once it failed ``MAX_ATTEMPTS``
    times, or at once when it can never be published (too large, no such destination)."""
    with transaction(SYSTEM) as uow:
        rows = uow.execute(CLAIM, {"limit": limit, "skip": skip or []}).fetchall()
        if not rows:
            return BatchResult(0, [], 0)
        messages = [
            Message(
                r["event_id"],
                r["detail_type"],
                r["detail"],
                r["destination"],
                r["created_at"],
                r["deliver_at"],
            )
            for r in rows
        ]
        results = publish(messages, publishers)
        ok = [r["id"] for r, error in zip(rows, results, strict=True) if error is None]
        if ok:
            uow.execute(MARK_PUBLISHED, {"ids": ok})
        failed: list[int] = []
        parked = 0
        for row, error in zip(rows, results, strict=True):
            if error is None:
                continue
            failed.append(row["id"])
            code = error.split(":", 1)[0]
            marked = uow.execute(
                MARK_FAILED,
                {
                    "id": row["id"],
                    "error": error[:1000],
                    "park": code in NEVER_PUBLISHABLE,
                    "max_attempts": MAX_ATTEMPTS,
                },
            ).fetchone()
            if marked and marked["parked"]:
                parked += 1
                logger.error(
                    "outbox row parked",
                    extra={"outbox_id": row["id"], "event_id": str(row["event_id"]), "error": code},
                )
        return BatchResult(len(ok), failed, parked)


@dataclass(frozen=True)
class RelayResult:
    published: int
    failed: int
    pending: int
    lag_seconds: float
    parked: int = 0  # rows parked now (they failed MAX_ATTEMPTS times, or can never be published)
    parked_total: int = 0  # every parked row: an operator looks at them (runbook: outbox parked)


def relay(publishers: Publishers, *, max_batches: int = 50, batch_size: int = 100) -> RelayResult:
    """Publish everything pending (bounded), then report what is left and how old it is. Rows that
    fail are skipped for the rest of the run, so they never hold back the rows behind them."""
    published = parked = 0
    failed: list[int] = []
    for _ in range(max_batches):
        batch = publish_batch(publishers, limit=batch_size, skip=failed)
        published += batch.published
        parked += batch.parked
        failed += batch.failed
        if batch.published + len(batch.failed) < batch_size:
            break
    with transaction(SYSTEM) as uow:
        stats = uow.execute(PENDING_STATS).fetchone() or {"pending": 0, "parked": 0, "lag_seconds": 0}
    return RelayResult(
        published=published,
        failed=len(failed),
        pending=int(stats["pending"]),
        lag_seconds=float(stats["lag_seconds"]),
        parked=parked,
        parked_total=int(stats["parked"]),
    )


def unpark() -> int:
    """Put every parked row back in line, with its attempts reset (after the cause is fixed)."""
    with transaction(SYSTEM) as uow:
        row = uow.execute(UNPARK).fetchone()
        return int(row["unparked"]) if row else 0


def purge(*, published_older_than_days: int = 7) -> int:
    with transaction(SYSTEM) as uow:
        row = uow.execute(PURGE_PUBLISHED, {"days": published_older_than_days}).fetchone()
        return int(row["purged"]) if row else 0


def mark_published(event_ids: list[UUID]) -> None:
    with transaction(SYSTEM) as uow:
        uow.execute(MARK_PUBLISHED_EVENTS, {"event_ids": event_ids})
