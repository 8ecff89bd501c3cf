"""Recording events in a unit of work, and handing them to the finish step once it commits.

Any package records an event on the change's unit of work (``record``): any detail-type, any
aggregate, with its tenant, its visibility and its destination (the ticket bus, or a worker's
queue). The row is written in the change's transaction; once that commits, the message joins
this invocation's *committed* list, which the entrypoint's finish step publishes right away
(``shared.outbox.relay.publish_committed``) and the one-minute relay backs up.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb

from shared.db import UnitOfWork
from shared.kernel.ids import uuid7

BUS = "bus"
QUEUE_PREFIX = "queue:"
PUBLIC = "public"
INTERNAL = "internal"

# Details carry ids and what changed, never whole free-form blobs: a changed value larger than
# MAX_VALUE_BYTES is named but left out (read it from the API). Whatever an aggregate holds, its
# events stay far below EventBridge's 256 KB per entry and SQS's 256 KB per message.
MAX_VALUE_BYTES = 1024
MAX_DETAIL_BYTES = 64 * 1024

INSERT = """
INSERT INTO outbox (event_id, detail_type, tenant_id, aggregate_type, aggregate_id, visibility,
                    destination, detail, deliver_at)
VALUES (%(event_id)s, %(detail_type)s, %(tenant_id)s, %(aggregate_type)s, %(aggregate_id)s,
        %(visibility)s, %(destination)s, %(detail)s, %(deliver_at)s)
"""


def queue(worker: str) -> str:
    """The destination of a worker's queue (its QueueWorker's function name)."""
    return f"{QUEUE_PREFIX}{worker}"


@dataclass(frozen=True, slots=True)
class Message:
    """One event on its way out: what the outbox row holds and what a publisher sends."""

    event_id: UUID
    detail_type: str
    detail: str  # the JSON text, serialized once for the row and the publish
    destination: str = BUS
    created_at: datetime | None = None
    # A queue message not to be received before this instant (SQS DelaySeconds, up to 15 minutes).
    deliver_at: datetime | None = None


def _size(value: Any) -> int:
    return len(json.dumps(value, default=str, ensure_ascii=False).encode())


def _bound(value: Any, budget: int) -> int | None:
    """An upper bound of ``value``'s JSON size in bytes, or None once it may pass ``budget``,
    without serializing it: a character takes at most 6 bytes in JSON (an escape). Most changes
    are a state, a priority or a short title: they never reach ``json.dumps``. (This runs for
    every value of every event, on the create path: exact types are tested first, and the
    scalars inside a container are sized in its loop rather than by a call each.)"""
    kind = type(value)
    if kind is dict or kind is list or kind is tuple:
        size = 2
        if kind is dict:
            # ", " before an item, '"key": ' before a value (json.dumps' default separators)
            items: Any = value.items()
        else:
            items = ((None, item) for item in value)
        for key, item in items:
            size += 2 if key is None else 6 + (6 * len(key) if type(key) is str else 32)
            item_kind = type(item)
            if item_kind is str:
                size += 6 * len(item) + 2
            elif item is None or item_kind is bool or item_kind is float:
                size += 32
            elif item_kind is int:
                size += 32 if -(10**30) < item < 10**30 else len(str(item))
            else:
                inner = _bound(item, budget - size)
                if inner is None:
                    return None
                size += inner
            if size > budget:
                return None
        return size if size <= budget else None
    scalar = _scalar_bound(value, kind)
    return None if scalar is None or scalar > budget else scalar


def _scalar_bound(value: Any, kind: type) -> int | None:
    if kind is str or isinstance(value, str):
        return 6 * len(value) + 2
    if value is None or kind is bool or kind is float:
        return 32
    if kind is int:
        return 32 if -(10**30) < value < 10**30 else len(str(value))
    return None


def bounded_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """``changes`` with every value above ``MAX_VALUE_BYTES`` replaced by ``{"omitted": true}``."""
    return {
        name: change
        if _bound(change, MAX_VALUE_BYTES) is not None or _size(change) <= MAX_VALUE_BYTES
        else {"omitted": True}
        for name, change in changes.items()
    }


def prepare(
    *,
    detail_type: str,
    detail: dict[str, Any],
    aggregate_type: str,
    aggregate_id: str,
    tenant_id: str | None,
    visibility: str = PUBLIC,
    destination: str = BUS,
    event_id: UUID | None = None,
    deliver_at: datetime | None = None,
) -> tuple[Message, dict[str, Any]]:
    """The message and the parameters of ``INSERT`` for one event (for callers that write the row
    in a statement of their own, as the ticket write path does with its audit row).

    ``detail`` gets the event's id; its ``changes``, if any, are bounded. A detail that would
    still be larger than ``MAX_DETAIL_BYTES`` loses its ``changes`` values.
    """
    event_id = event_id or uuid7()
    detail = {"event_id": str(event_id), **detail}
    if "changes" in detail:
        detail["changes"] = bounded_changes(detail["changes"])
    text = json.dumps(detail, default=str)
    if len(text.encode()) > MAX_DETAIL_BYTES:  # cannot happen with today's bounds; stays publishable
        detail["changes"] = {name: {"omitted": True} for name in detail.get("changes") or {}}
        text = json.dumps(detail, default=str)
    message = Message(event_id, detail_type, text, destination, datetime.now(UTC), deliver_at)
    params = {
        "event_id": event_id,
        "detail_type": detail_type,
        "tenant_id": tenant_id,
        "aggregate_type": aggregate_type,
        "aggregate_id": aggregate_id,
        "visibility": visibility,
        "destination": destination,
        "detail": Jsonb(detail, dumps=lambda _: text),
        "deliver_at": deliver_at,
    }
    return message, params


def record(uow: UnitOfWork, **event: Any) -> Message:
    """Write one event's outbox row in ``uow``'s transaction; publish it once that commits.
    Takes the keyword arguments of ``prepare``."""
    message, params = prepare(**event)
    uow.execute(INSERT, params)
    remember(uow, message)
    return message


def remember(uow: UnitOfWork, message: Message) -> None:
    """Hand ``message`` (whose row ``uow`` wrote) to the finish step once ``uow`` commits."""
    uow.after_commit(lambda: _committed_list().append(message))


# What this invocation committed, for its finish step (one list per thread of execution).
_committed: ContextVar[list[Message] | None] = ContextVar("outbox_committed", default=None)


def _committed_list() -> list[Message]:
    committed = _committed.get()
    if committed is None:
        committed = []
        _committed.set(committed)
    return committed


def take_committed() -> list[Message]:
    """The messages committed since the last call (the finish step publishes them)."""
    committed = _committed.get() or []
    _committed.set([])
    return committed
