"""The transactional outbox: ticket events written with the change, published after commit.

``prepare`` gives an outbox row's parameters; the change's transaction inserts it (with its
audit event, see ``shared.tickets``). After commit, ``flush_after_commit`` publishes what this
thread just wrote, from memory, and marks it published: after the response where the host
allows (``shared.after_response``), else before the handler returns. The relay (``relay``, every minute)
claims whatever is left with ``FOR UPDATE SKIP LOCKED`` and marks rows only after EventBridge
accepted them. Delivery is at least once; consumers dedupe on ``event_id``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from shared import aws, db
from shared.auth import Principal
from shared.config.settings import get_settings
from shared.kernel.ids import uuid7
from shared.observability import logger
from shared.runtime import after_response

DETAIL_TYPES = {
    "ticket.created": "Ticket Created",
    "ticket.updated": "Ticket Updated",
    "ticket.state_changed": "Ticket State Changed",
    "comment.added": "Ticket Comment Added",
}

INSERT = """
INSERT INTO outbox (event_id, detail_type, tenant_id, ticket_id, detail)
VALUES (%(event_id)s, %(detail_type)s, %(tenant_id)s, %(ticket_id)s, %(detail)s)
"""

CLAIM = """
SELECT id, event_id, detail_type, detail, created_at FROM outbox
WHERE published_at IS NULL AND parked_at IS NULL AND id <> ALL(%(skip)s) {filter}
ORDER BY id
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED
"""
# A row that failed this many times (or can never be published) is parked with its reason.
MAX_ATTEMPTS = 5
NEVER_PUBLISHABLE = frozenset({"EntryTooLarge"})

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

# (event_id, PutEvents entry) of what this thread's current change wrote, for the post-commit flush.
_recorded: ContextVar[list[tuple[UUID, dict[str, Any]]] | None] = ContextVar("outbox_recorded", default=None)

SYSTEM = Principal.system("outbox")


# Event details carry ids, the ticket's summary and what changed, never whole free-form blobs:
# a changed value larger than this is named but left out (read it from the API), and a comment's
# body larger than this too. Whatever a ticket holds, its events stay far below EventBridge's
# 256 KB per entry.
MAX_VALUE_BYTES = 1024
MAX_DETAIL_BYTES = 64 * 1024


def _size(value: Any) -> int:
    return len(json.dumps(value, default=str, ensure_ascii=False).encode())


def bounded_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """``changes`` with every value above ``MAX_VALUE_BYTES`` replaced by ``{"omitted": true}``."""
    return {
        name: change if _size(change) <= MAX_VALUE_BYTES else {"omitted": True}
        for name, change in changes.items()
    }


def prepare(*, event_type: str, ticket: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """The parameters of ``INSERT`` for one ticket event; remembered for the post-commit flush."""
    event_id = uuid7()
    detail: dict[str, Any] = {
        "event_id": str(event_id),
        "type": event_type,
        "ticket_id": str(ticket["id"]),
        "ticket_key": ticket["key"],
        "tenant_id": ticket["tenant_id"],
        "visibility": ticket["visibility"],
        "ticket": {k: ticket[k] for k in _SUMMARY_FIELDS},
        **event,
    }
    if "changes" in detail:
        detail["changes"] = bounded_changes(detail["changes"])
    text = json.dumps(detail, default=str)  # once, for both the row and the PutEvents entry
    if len(text.encode()) > MAX_DETAIL_BYTES:  # cannot happen with today's bounds; stays publishable
        detail["changes"] = {name: {"omitted": True} for name in detail.get("changes") or {}}
        detail.pop("comment", None)
        text = json.dumps(detail, default=str)
    recorded = _recorded.get()
    if recorded is not None:
        recorded.append((event_id, _entry(DETAIL_TYPES[event_type], text, datetime.now(UTC))))
    return {
        "event_id": event_id,
        "detail_type": DETAIL_TYPES[event_type],
        "tenant_id": ticket["tenant_id"],
        "ticket_id": ticket["id"],
        "detail": Jsonb(detail, dumps=lambda _: text),
    }


_SUMMARY_FIELDS = (
    "id",
    "key",
    "tenant_id",
    "visibility",
    "kind",
    "category",
    "priority",
    "state",
    "title",
    "assignee",
    "queue",
    "version",
)


def start_recording() -> None:
    """Remember the event ids this thread adds from now on (for the post-commit flush)."""
    _recorded.set([])


def take_recorded() -> list[tuple[UUID, dict[str, Any]]]:
    recorded = _recorded.get() or []
    _recorded.set(None)
    return recorded


@dataclass(frozen=True)
class RelayResult:
    published: int
    failed: int
    pending: int
    lag_seconds: float
    parked: int = 0  # rows parked now (they failed MAX_ATTEMPTS times, or can never be published)
    parked_total: int = 0  # every parked row: an operator looks at them (runbook: outbox parked)


Publisher = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


def _entry(detail_type: str, detail: dict[str, Any] | str, time: datetime) -> dict[str, Any]:
    settings = get_settings()
    return {
        "Source": settings.event_source,
        "DetailType": detail_type,
        "Detail": detail if isinstance(detail, str) else json.dumps(detail, default=str),
        "EventBusName": settings.event_bus_name,
        "Time": time,
        "Resources": [],
    }


@dataclass(frozen=True)
class BatchResult:
    published: int
    failed: list[int]  # outbox ids that failed this time
    parked: int


def publish_batch(
    *,
    event_ids: list[UUID] | None = None,
    limit: int = 100,
    publisher: Publisher | None = None,
    skip: list[int] | None = None,
) -> BatchResult:
    """Claim up to ``limit`` pending rows (only ``event_ids`` if given; never ``skip``), publish,
    mark. A row EventBridge refuses keeps its error and an attempt more, and is parked once it
    failed ``MAX_ATTEMPTS`` times, or at once when it can never be published (too large)."""
    publish = publisher or aws.put_events
    row_filter = "AND event_id = ANY(%(event_ids)s)" if event_ids is not None else ""
    with db.transaction(SYSTEM) as conn:
        rows = conn.execute(
            CLAIM.format(filter=row_filter), {"limit": limit, "event_ids": event_ids, "skip": skip or []}
        ).fetchall()
        if not rows:
            return BatchResult(0, [], 0)
        results = publish([_entry(r["detail_type"], r["detail"], r["created_at"]) for r in rows])
        ok = [r["id"] for r, res in zip(rows, results, strict=True) if not res.get("ErrorCode")]
        if ok:
            conn.execute(MARK_PUBLISHED, {"ids": ok})
        failed: list[int] = []
        parked = 0
        for row, res in zip(rows, results, strict=True):
            code = res.get("ErrorCode")
            if not code:
                continue
            failed.append(row["id"])
            marked = conn.execute(
                MARK_FAILED,
                {
                    "id": row["id"],
                    "error": f"{code}: {res.get('ErrorMessage')}"[:1000],
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


def flush_after_commit(publisher: Publisher | None = None) -> None:
    """Publish what this thread's last change wrote, right after its commit. Best effort.

    The caller has committed; the publish is deferred to run after the response where the host
    allows it (``shared.after_response``), so the caller does not wait for EventBridge.
    """
    recorded = take_recorded()
    if recorded:
        after_response.defer(partial(publish_recorded, recorded, publisher))


def publish_recorded(recorded: list[tuple[UUID, dict[str, Any]]], publisher: Publisher | None = None) -> None:
    """One PutEvents call with the entries kept in memory, and one UPDATE that marks the accepted
    ones published. Whatever fails stays pending for the relay; if the relay gets to a row
    first, the event goes out twice, which at-least-once delivery allows.
    """
    publish = publisher or aws.put_events
    try:
        results = publish([entry for _, entry in recorded])
        accepted = [eid for (eid, _), res in zip(recorded, results, strict=True) if not res.get("ErrorCode")]
        if accepted:
            with db.transaction(SYSTEM) as conn:
                conn.execute(MARK_PUBLISHED_EVENTS, {"event_ids": accepted})
    except Exception:  # the change is committed; the relay publishes what this missed
        logger.warning(
            "outbox flush failed; the relay will publish", extra={"events": len(recorded)}, exc_info=True
        )


def relay(*, max_batches: int = 50, batch_size: int = 100, publisher: Publisher | None = None) -> RelayResult:
    """Publish everything pending (bounded), then report what is left and how old it is. Rows that
    fail are skipped for the rest of the run, so they never hold back the rows behind them."""
    published = parked = 0
    failed: list[int] = []
    for _ in range(max_batches):
        batch = publish_batch(limit=batch_size, publisher=publisher, skip=failed)
        published += batch.published
        parked += batch.parked
        failed += batch.failed
        if batch.published + len(batch.failed) < batch_size:
            break
    with db.transaction(SYSTEM) as conn:
        stats = conn.execute(PENDING_STATS).fetchone() or {"pending": 0, "parked": 0, "lag_seconds": 0}
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
    with db.transaction(SYSTEM) as conn:
        row = conn.execute(UNPARK).fetchone()
        return int(row["unparked"]) if row else 0


def purge(*, published_older_than_days: int = 7) -> int:
    with db.transaction(SYSTEM) as conn:
        row = conn.execute(PURGE_PUBLISHED, {"days": published_older_than_days}).fetchone()
        return int(row["purged"]) if row else 0
