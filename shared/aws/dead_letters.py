"""Dead-letter queues: how many messages wait in one, and putting them back where they came from.

A dead-letter queue's messages came from one of two kinds of source
(``shared.config.settings.DeadLetterQueue``):

- a worker's queue (``to_queue``): each message is sent back to that queue with its body and
  message attributes, and deleted from the DLQ only once the queue accepted it;
- a function's asynchronous invocations (``to_function``; a scheduled function's DLQ, which
  takes both its failed async invocations and the events its schedule could not deliver): the
  message's body is the event that failed, so the function is invoked with it again,
  asynchronously (``InvocationType="Event"``), and the message deleted once Lambda accepted it.

Receive-and-send rather than SQS's ``StartMessageMoveTask``: a move task only returns messages to
a queue (not to a function), it reports no per-message outcome, and moto does not implement it,
so neither the tests nor the local stack could run it. A message sent again also starts a new
retention period (a DLQ keeps the original enqueue time).

Every message received stays hidden for the rest of the run (``hold_s``), so one the source
refused is not tried again and again in the same run; when the queue is done those are made
visible again, for the next run. Delivery is at least once: if a delete fails after the source
accepted a message, the next run delivers it again (consumers dedupe).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.aws import SQS_MAX_BATCH, client, send_messages

# Long polling: an empty answer then means the queue has no visible message (a short poll samples
# only some of SQS's servers and may answer empty while messages wait).
RECEIVE_WAIT_S = 1
# Distinct error texts kept per queue (each with its count).
MAX_ERRORS = 10
# What SQS takes back of a received message attribute (the list values are reserved).
_ATTRIBUTE_FIELDS = ("DataType", "StringValue", "BinaryValue")

# One outcome per message, in order: None when the source accepted it, else why not.
Deliver = Callable[[list[dict[str, Any]]], list[str | None]]


@dataclass
class Outcome:
    """What happened to one dead-letter queue: messages found, moved back, left (failed)."""

    found: int = 0
    moved: int = 0
    failed: int = 0
    complete: bool = False  # the queue was emptied (or, for a count, counted)
    errors: dict[str, int] = field(default_factory=dict)  # error text → how many times

    def note(self, error: str, times: int = 1) -> None:
        if error in self.errors or len(self.errors) < MAX_ERRORS:
            self.errors[error] = self.errors.get(error, 0) + times


def count(dlq_url: str) -> Outcome:
    """The DLQ's ``ApproximateNumberOfMessages`` (visible ones), as ``found``; nothing moves."""
    outcome = Outcome()
    try:
        attributes = client("sqs").get_queue_attributes(
            QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
    except (ClientError, BotoCoreError) as exc:
        outcome.note(describe(exc))
        return outcome
    outcome.found = int(attributes.get("ApproximateNumberOfMessages", 0))
    outcome.complete = True
    return outcome


def to_queue(dlq_url: str, queue_url: str, *, keep_going: Callable[[], bool], hold_s: int) -> Outcome:
    """Send every message of the DLQ back to ``queue_url`` (body and message attributes)."""

    def deliver(messages: list[dict[str, Any]]) -> list[str | None]:
        results = send_messages(queue_url, [resend(m) for m in messages])
        return [None if r is None else f"{r.get('Code')}: {r.get('Message')}" for r in results]

    return _drain(dlq_url, deliver, keep_going=keep_going, hold_s=hold_s)


def to_function(dlq_url: str, function_name: str, *, keep_going: Callable[[], bool], hold_s: int) -> Outcome:
    """Invoke ``function_name`` asynchronously with each message's body (the event that failed)."""
    lambda_ = client("lambda")

    def deliver(messages: list[dict[str, Any]]) -> list[str | None]:
        outcomes: list[str | None] = []
        for message in messages:
            try:
                response = lambda_.invoke(
                    FunctionName=function_name,
                    InvocationType="Event",
                    Payload=str(message["Body"]).encode(),
                )
            except (ClientError, BotoCoreError) as exc:
                outcomes.append(describe(exc))
                continue
            status = response.get("StatusCode")
            outcomes.append(None if status == 202 else f"Lambda answered {status} to an async invoke")
        return outcomes

    return _drain(dlq_url, deliver, keep_going=keep_going, hold_s=hold_s)


def resend(message: dict[str, Any]) -> dict[str, Any]:
    """A received message as ``send_messages`` takes it again: its body and message attributes."""
    entry: dict[str, Any] = {"MessageBody": message["Body"]}
    attributes = {
        name: {k: v for k, v in value.items() if k in _ATTRIBUTE_FIELDS}
        for name, value in (message.get("MessageAttributes") or {}).items()
    }
    if attributes:
        entry["MessageAttributes"] = attributes
    return entry


def describe(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code') or type(exc).__name__}: {error.get('Message') or exc}"[:300]
    return f"{type(exc).__name__}: {exc}"[:300]


def _drain(dlq_url: str, deliver: Deliver, *, keep_going: Callable[[], bool], hold_s: int) -> Outcome:
    """Receive batches from the DLQ until it is empty or ``keep_going`` says stop; hand each batch
    to ``deliver`` and delete what the source accepted."""
    sqs = client("sqs")
    outcome = Outcome()
    refused: list[str] = []  # receipt handles of messages left in the DLQ
    try:
        while keep_going():
            batch: list[dict[str, Any]] = sqs.receive_message(
                QueueUrl=dlq_url,
                MaxNumberOfMessages=SQS_MAX_BATCH,
                WaitTimeSeconds=RECEIVE_WAIT_S,
                VisibilityTimeout=hold_s,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                outcome.complete = True
                break
            outcome.found += len(batch)
            try:
                results = deliver(batch)
            except (ClientError, BotoCoreError) as exc:  # the source's whole request failed
                outcome.failed += len(batch)
                outcome.note(describe(exc), len(batch))
                refused += [m["ReceiptHandle"] for m in batch]
                break
            delivered = []
            for message, error in zip(batch, results, strict=True):
                if error is None:
                    delivered.append(message)
                else:
                    outcome.failed += 1
                    outcome.note(error)
                    refused.append(message["ReceiptHandle"])
            outcome.moved += len(delivered)
            _delete(sqs, dlq_url, delivered, outcome)
    except (ClientError, BotoCoreError) as exc:  # the DLQ itself (receive, delete) failed
        outcome.complete = False
        outcome.note(describe(exc))
    finally:
        _release(sqs, dlq_url, refused, outcome)
    return outcome


def _delete(sqs: Any, dlq_url: str, messages: list[dict[str, Any]], outcome: Outcome) -> None:
    if not messages:
        return
    response = sqs.delete_message_batch(
        QueueUrl=dlq_url,
        Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
    )
    for failure in response.get("Failed", []):
        outcome.note(f"not deleted after delivery, so it will be delivered again: {failure.get('Code')}")


def _release(sqs: Any, dlq_url: str, handles: list[str], outcome: Outcome) -> None:
    """Make the messages left in the DLQ visible again at once (else they would be after
    ``hold_s``), so that the next run sees them."""
    for start in range(0, len(handles), SQS_MAX_BATCH):
        chunk = handles[start : start + SQS_MAX_BATCH]
        try:
            sqs.change_message_visibility_batch(
                QueueUrl=dlq_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                    for i, handle in enumerate(chunk)
                ],
            )
        except (ClientError, BotoCoreError) as exc:
            outcome.note(f"left hidden until the visibility timeout ends: {describe(exc)}")
