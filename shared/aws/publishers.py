"""The outbox's publishers (``shared.outbox.Publisher``): EventBridge for the ticket bus, SQS
for a worker's queue. Built by the entrypoints from the function's settings."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared import aws
from shared.outbox.messages import QUEUE_PREFIX, Message


@dataclass(frozen=True)
class EventBridgePublisher:
    bus_name: str
    source: str

    def __call__(self, messages: Sequence[Message]) -> list[str | None]:
        entries = [
            {
                "Source": self.source,
                "DetailType": m.detail_type,
                "Detail": m.detail,
                "EventBusName": self.bus_name,
                "Resources": [],
                **({"Time": m.created_at} if m.created_at else {}),
            }
            for m in messages
        ]
        results = aws.put_events(entries)
        return [
            f"{r['ErrorCode']}: {r.get('ErrorMessage') or ''}" if r.get("ErrorCode") else None
            for r in results
        ]


@dataclass(frozen=True)
class SqsPublisher:
    """Sends ``queue:<worker>`` messages to that worker's queue; the body is the event's detail,
    with the event id and detail-type as message attributes (the worker dedupes on the id). A
    message with ``deliver_at`` is delayed until then, counted when it is sent (the relay's late
    publish delays it less). SQS delays by whole seconds, up to 15 minutes: the delay is rounded
    up, so a timer is never early and at most a second late."""

    queue_urls: Mapping[str, str] = field(default_factory=dict)  # worker → queue URL

    def __call__(self, messages: Sequence[Message]) -> list[str | None]:
        results: list[str | None] = [None] * len(messages)
        by_queue: dict[str, list[int]] = {}
        for index, message in enumerate(messages):
            worker = message.destination.removeprefix(QUEUE_PREFIX)
            if worker not in self.queue_urls:
                results[index] = f"UnknownDestination: this function may not send to {worker!r}"
                continue
            by_queue.setdefault(worker, []).append(index)
        for worker, indexes in by_queue.items():
            sent = aws.send_messages(self.queue_urls[worker], [_entry(messages[i]) for i in indexes])
            for i, failure in zip(indexes, sent, strict=True):
                if failure is not None:
                    results[i] = f"{failure.get('Code')}: {failure.get('Message') or ''}"
        return results


def _entry(message: Message) -> dict[str, Any]:
    return {
        "MessageBody": message.detail,
        "MessageAttributes": {
            "event_id": {"DataType": "String", "StringValue": str(message.event_id)},
            "detail_type": {"DataType": "String", "StringValue": message.detail_type},
        },
        **_delay(message.deliver_at),
    }


@dataclass(frozen=True)
class BusWithCopy:
    """The ticket bus, and a copy of the events of ``copied`` detail-types on a worker's queue (the
    webhook dispatcher's: it fans them out to endpoints). A message is published once both took
    it; if either refuses it, it stays pending and the relay sends it to both again (at least once:
    the dispatcher's fan-out, like every bus consumer, ignores a repeat)."""

    bus: Callable[[Sequence[Message]], list[str | None]]
    copy_queue_url: str
    copied: frozenset[str]

    def __call__(self, messages: Sequence[Message]) -> list[str | None]:
        results = self.bus(messages)
        wanted = [i for i, message in enumerate(messages) if message.detail_type in self.copied]
        if wanted:
            sent = aws.send_messages(self.copy_queue_url, [_entry(messages[i]) for i in wanted])
            for i, failure in zip(wanted, sent, strict=True):
                if failure is not None and results[i] is None:
                    results[i] = f"{failure.get('Code')}: {failure.get('Message') or ''}"
        return results


MAX_DELAY_S = 900  # SQS's longest message delay


def _delay(deliver_at: datetime | None) -> dict[str, int]:
    if deliver_at is None:
        return {}
    seconds = math.ceil((deliver_at - datetime.now(UTC)).total_seconds())
    return {"DelaySeconds": min(seconds, MAX_DELAY_S)} if seconds > 0 else {}
