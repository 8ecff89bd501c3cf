"""Thin boto3 clients, created on first use (never at import time) and reused, and the few
calls the service makes through them (PutEvents, SendMessageBatch) with AWS's limits applied.
The outbox's publishers (``publishers``) and the dead-letter replay (``dead_letters``) are built
on these.

boto3 honours ``AWS_ENDPOINT_URL`` itself, which is how the local stack points every client
at its moto server.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=5)


@cache
def client(service: str) -> Any:
    return boto3.session.Session().client(service, config=_CONFIG)  # type: ignore[call-overload]


# EventBridge's limit on one PutEvents entry, and on all the entries of one request, in bytes.
EVENTBRIDGE_MAX_ENTRY_BYTES = 256 * 1024
EVENTBRIDGE_MAX_ENTRIES = 10


def eventbridge_entry_size(entry: dict[str, Any]) -> int:
    """An entry's size as EventBridge counts it ("Calculating PutEvents event entry size")."""
    size = 14 if entry.get("Time") is not None else 0
    for key in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(key) or "").encode())
    return size + sum(len(str(r).encode()) for r in entry.get("Resources") or ())


def put_events(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """PutEvents, one result per entry, in order.

    Entries go in requests of at most 10 entries and 256 KB. An entry EventBridge could never
    take (larger than 256 KB) is not sent: its result is an ``EntryTooLarge`` error. When
    EventBridge refuses a whole request as invalid (a 4xx other than throttling), its entries are
    sent one by one, so that the one at fault gets the error and the others go out. Anything
    else (the network, a 5xx, throttling) raises: it is about EventBridge, not about an entry.
    """
    from botocore.exceptions import ClientError

    events = client("events")
    results: list[dict[str, Any] | None] = [None] * len(entries)

    def send(indexes: list[int]) -> None:
        try:
            response = events.put_events(Entries=[entries[i] for i in indexes])
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 500)
            if status >= 500 or status == 429 or "Throttl" in str(error.get("Code")):
                raise
            if len(indexes) > 1:
                for i in indexes:
                    send([i])
                return
            results[indexes[0]] = {
                "ErrorCode": str(error.get("Code") or "ValidationException"),
                "ErrorMessage": str(error.get("Message") or exc)[:500],
            }
            return
        for i, result in zip(indexes, response["Entries"], strict=True):
            results[i] = result

    sizes = [eventbridge_entry_size(entry) for entry in entries]
    for index in _too_large(sizes, EVENTBRIDGE_MAX_ENTRY_BYTES):
        results[index] = {
            "ErrorCode": "EntryTooLarge",
            "ErrorMessage": f"{sizes[index]} bytes; EventBridge takes at most {EVENTBRIDGE_MAX_ENTRY_BYTES}",
        }
    for chunk in _batches(sizes, max_count=EVENTBRIDGE_MAX_ENTRIES, max_bytes=EVENTBRIDGE_MAX_ENTRY_BYTES):
        send(chunk)
    return [r if r is not None else {"ErrorCode": "NotSent"} for r in results]


def _too_large(sizes: list[int], max_bytes: int) -> list[int]:
    return [index for index, size in enumerate(sizes) if size > max_bytes]


def _batches(sizes: list[int], *, max_count: int, max_bytes: int) -> list[list[int]]:
    """The indexes of the items that fit ``max_bytes`` alone, in order, in batches of at most
    ``max_count`` items and ``max_bytes`` in all (AWS's limits on one batch request)."""
    batches: list[list[int]] = []
    batch: list[int] = []
    total = 0
    for index, size in enumerate(sizes):
        if size > max_bytes:
            continue
        if batch and (len(batch) == max_count or total + size > max_bytes):
            batches.append(batch)
            batch, total = [], 0
        batch.append(index)
        total += size
    if batch:
        batches.append(batch)
    return batches


# SQS's limits on one SendMessageBatch request.
SQS_MAX_BATCH = 10
SQS_MAX_MESSAGE_BYTES = 256 * 1024


def send_messages(queue_url: str, messages: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
    """SendMessageBatch to one queue, one result per message, in order: None when accepted, else
    ``{"Code", "Message"}``. Messages are ``{"MessageBody", "MessageAttributes"?, "DelaySeconds"?}``.
    A message larger than SQS takes is not sent (``MessageTooLong``); a failure of the request
    itself (the network, a 5xx, throttling) raises."""
    sqs = client("sqs")
    results: list[dict[str, Any] | None] = [None] * len(messages)

    def send(indexes: list[int]) -> None:
        entries = [{"Id": str(i), **messages[i]} for i in indexes]
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        for failure in response.get("Failed", []):
            results[int(failure["Id"])] = {"Code": failure.get("Code"), "Message": failure.get("Message")}

    sizes = [len(str(message["MessageBody"]).encode()) for message in messages]
    for index in _too_large(sizes, SQS_MAX_MESSAGE_BYTES):
        results[index] = {"Code": "MessageTooLong", "Message": f"{sizes[index]} bytes"}
    for chunk in _batches(sizes, max_count=SQS_MAX_BATCH, max_bytes=SQS_MAX_MESSAGE_BYTES):
        send(chunk)
    return results


def reset_clients() -> None:
    client.cache_clear()
