"""The dead-letter replay (functions/replay_dlq, ``ticketing-replay-dlq``) against moto's SQS and Lambda.

The handler is called as Lambda calls it, with ``DEAD_LETTER_QUEUES`` as the stack sets it: a
worker's queue whose redrive policy dead-letters into its DLQ, and a scheduled function whose
failed asynchronous invocations land in its own DLQ.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.stub import Stubber

from functions.replay_dlq import handler as replay
from local.events import LambdaContext, scheduled_event
from shared import aws
from shared.aws import dead_letters
from shared.config.settings import SettingsError
from shared.runtime import entrypoints

WORKER = "sla_timer"
SCHEDULED = "outbox_relay"
RELAY_FUNCTION = "Ticketing-dev-SchedulesOutboxRelayHandlerFunction-AbC123"
ATTRIBUTES = {
    "event_type": {"DataType": "String", "StringValue": "ticket.created"},
    "attempt": {"DataType": "Number", "StringValue": "3"},
    "digest": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xfe"},
}


@dataclass
class Queues:
    """The worker's queue and DLQ, the scheduled function's DLQ, and what was invoked."""

    source_url: str
    worker_dlq_url: str
    relay_dlq_url: str
    described: list[dict[str, str]]
    invoked: list[dict[str, Any]] = field(default_factory=list)

    def configure(self, described: list[dict[str, str]] | None = None) -> None:
        """Set DEAD_LETTER_QUEUES (the stack's JSON) and make the function read it again."""
        import os

        os.environ["DEAD_LETTER_QUEUES"] = json.dumps(self.described if described is None else described)
        entrypoints.reset()


@pytest.fixture
def queues(monkeypatch: pytest.MonkeyPatch) -> Iterator[Queues]:
    from moto import mock_aws

    # Short polls: moto answers a receive with every visible message, and a long poll of an
    # empty queue would only make each run wait a second.
    monkeypatch.setattr(dead_letters, "RECEIVE_WAIT_S", 0)
    monkeypatch.setenv("DEAD_LETTER_QUEUES", "[]")
    with mock_aws(config={"lambda": {"use_docker": False}}):
        aws.reset_clients()
        sqs = aws.client("sqs")
        worker_dlq_url = sqs.create_queue(QueueName="ticketing-sla-timer-dlq")["QueueUrl"]
        worker_dlq_arn = arn_of(worker_dlq_url)
        source_url = sqs.create_queue(
            QueueName="ticketing-sla-timer",
            Attributes={
                "VisibilityTimeout": "0",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": worker_dlq_arn, "maxReceiveCount": "1"}),
            },
        )["QueueUrl"]
        relay_dlq_url = sqs.create_queue(QueueName="ticketing-outbox-relay-dlq")["QueueUrl"]
        described = [
            {
                "name": SCHEDULED,
                "dlq_url": relay_dlq_url,
                "dlq_arn": arn_of(relay_dlq_url),
                "source_function": RELAY_FUNCTION,
            },
            {
                "name": WORKER,
                "dlq_url": worker_dlq_url,
                "dlq_arn": worker_dlq_arn,
                "source_queue_url": source_url,
                "source_queue_arn": arn_of(source_url),
            },
        ]
        setup = Queues(source_url, worker_dlq_url, relay_dlq_url, described)

        def record(params: dict[str, Any], **_: Any) -> None:
            setup.invoked.append(dict(params))

        aws.client("lambda").meta.events.register("provide-client-params.lambda.Invoke", record)
        setup.configure()
        yield setup
    aws.reset_clients()
    entrypoints.reset()


def arn_of(url: str) -> str:
    attributes = aws.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return str(attributes["Attributes"]["QueueArn"])


def run(event: Any, context: LambdaContext | None = None) -> dict[str, Any]:
    result: dict[str, Any] = replay.handler(
        event, context or LambdaContext(function_name="ticketing-replay-dlq", timeout_ms=300_000)
    )
    return result


def dead_letter_from_worker(queues: Queues, body: str) -> None:
    """What SQS does to a message the worker keeps failing on: past maxReceiveCount receives
    (1 here), the queue moves it to its DLQ."""
    sqs = aws.client("sqs")
    sqs.send_message(QueueUrl=queues.source_url, MessageBody=body, MessageAttributes=ATTRIBUTES)
    for _ in range(2):
        sqs.receive_message(QueueUrl=queues.source_url, MaxNumberOfMessages=10, VisibilityTimeout=0)


def dead_letter_from_schedule(queues: Queues) -> dict[str, Any]:
    """What Lambda puts in a scheduled function's DLQ when an async invocation kept failing: the
    event as the body, and why in the attributes."""
    event = scheduled_event()
    aws.client("sqs").send_message(
        QueueUrl=queues.relay_dlq_url,
        MessageBody=json.dumps(event),
        MessageAttributes={
            "RequestID": {"DataType": "String", "StringValue": "2c2b1a3e-0000-4000-8000-000000000001"},
            "ErrorCode": {"DataType": "Number", "StringValue": "200"},
            "ErrorMessage": {"DataType": "String", "StringValue": "Task timed out after 60.00 seconds"},
        },
    )
    return event


def receive_all(url: str) -> list[dict[str, Any]]:
    sqs = aws.client("sqs")
    found: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=30
        ).get("Messages", [])
        if not batch:
            return found
        found += batch


def depth(url: str) -> int:
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def counts(result: dict[str, Any]) -> dict[str, tuple[int, int, int]]:
    return {q["name"]: (q["found"], q["moved"], q["failed"]) for q in result["queues"]}


# ---- a worker's dead letters go back on its queue ----------------------------------------------------


def test_worker_dead_letters_go_back_to_their_queue_with_body_and_attributes(queues: Queues) -> None:
    bodies = [json.dumps({"ticket_id": f"T-{i}", "n": i}) for i in range(13)]
    for body in bodies:
        dead_letter_from_worker(queues, body)
    assert depth(queues.source_url) == 0 and depth(queues.worker_dlq_url) == 13

    result = run({"queue": WORKER})

    assert result == {
        "dry_run": False,
        "complete": True,
        "found": 13,
        "moved": 13,
        "failed": 0,
        "queues": [
            {
                "name": WORKER,
                "source": "queue",
                "dlq_url": queues.worker_dlq_url,
                "found": 13,
                "moved": 13,
                "failed": 0,
                "complete": True,
            }
        ],
    }
    assert depth(queues.worker_dlq_url) == 0
    back = receive_all(queues.source_url)
    assert sorted(m["Body"] for m in back) == sorted(bodies)
    for message in back:
        assert message["MessageAttributes"] == ATTRIBUTES


def test_a_second_run_moves_nothing(queues: Queues) -> None:
    dead_letter_from_worker(queues, '{"ticket_id": "T-1"}')
    dead_letter_from_schedule(queues)
    first = run({})
    assert counts(first) == {SCHEDULED: (1, 1, 0), WORKER: (1, 1, 0)}
    assert first["moved"] == 2 and first["complete"] is True

    second = run({})
    assert counts(second) == {SCHEDULED: (0, 0, 0), WORKER: (0, 0, 0)}
    assert second["moved"] == 0 and second["complete"] is True
    assert depth(queues.source_url) == 1  # once, not twice
    assert len(queues.invoked) == 1


def test_dry_run_counts_without_moving(queues: Queues) -> None:
    for i in range(3):
        dead_letter_from_worker(queues, f'{{"n": {i}}}')
    dead_letter_from_schedule(queues)

    result = run({"dry_run": True})

    assert result["dry_run"] is True and result["complete"] is True
    assert counts(result) == {SCHEDULED: (1, 0, 0), WORKER: (3, 0, 0)}
    assert (result["found"], result["moved"], result["failed"]) == (4, 0, 0)
    assert depth(queues.worker_dlq_url) == 3 and depth(queues.relay_dlq_url) == 1
    assert depth(queues.source_url) == 0 and queues.invoked == []
    assert counts(run({"dry_run": True, "queue": SCHEDULED})) == {SCHEDULED: (1, 0, 0)}


def test_one_queue_by_name_leaves_the_others(queues: Queues) -> None:
    dead_letter_from_worker(queues, '{"n": 1}')
    dead_letter_from_schedule(queues)

    result = run({"queue": SCHEDULED})

    assert [q["name"] for q in result["queues"]] == [SCHEDULED]
    assert counts(result) == {SCHEDULED: (1, 1, 0)}
    assert depth(queues.relay_dlq_url) == 0
    assert depth(queues.worker_dlq_url) == 1 and depth(queues.source_url) == 0


# ---- a scheduled function's dead letters: it is invoked again ----------------------------------------


def test_function_dead_letters_invoke_the_function_asynchronously_with_the_event(queues: Queues) -> None:
    events = [dead_letter_from_schedule(queues) for _ in range(2)]

    result = run({"queue": SCHEDULED})

    assert result["queues"] == [
        {
            "name": SCHEDULED,
            "source": "function",
            "dlq_url": queues.relay_dlq_url,
            "found": 2,
            "moved": 2,
            "failed": 0,
            "complete": True,
        }
    ]
    assert [(call["FunctionName"], call["InvocationType"]) for call in queues.invoked] == [
        (RELAY_FUNCTION, "Event")
    ] * 2
    assert sorted(json.loads(call["Payload"])["id"] for call in queues.invoked) == sorted(
        e["id"] for e in events
    )
    assert depth(queues.relay_dlq_url) == 0


def test_an_invocation_lambda_refuses_stays_in_the_dlq(queues: Queues) -> None:
    dead_letter_from_schedule(queues)
    dead_letter_from_schedule(queues)
    with Stubber(aws.client("lambda")) as stub:
        stub.add_response("invoke", {"StatusCode": 202})
        stub.add_client_error(
            "invoke",
            service_error_code="InvalidRequestContentException",
            service_message="Could not parse request body into json",
            http_status_code=400,
        )
        result = run({"queue": SCHEDULED})
        stub.assert_no_pending_responses()

    (report,) = result["queues"]
    assert (report["found"], report["moved"], report["failed"]) == (2, 1, 1)
    assert report["complete"] is True and result["failed"] == 1
    assert report["errors"] == [
        {"message": "InvalidRequestContentException: Could not parse request body into json", "count": 1}
    ]
    # The refused one is visible again at once, for the next run (which invokes moto's Lambda).
    assert counts(run({"queue": SCHEDULED})) == {SCHEDULED: (1, 1, 0)}
    assert depth(queues.relay_dlq_url) == 0


def test_a_source_queue_that_refuses_keeps_every_message_in_the_dlq(queues: Queues) -> None:
    for i in range(3):
        dead_letter_from_worker(queues, f'{{"n": {i}}}')
    broken = [
        {**q, "source_queue_url": q["source_queue_url"].replace("ticketing-sla-timer", "gone")}
        if q["name"] == WORKER
        else q
        for q in queues.described
    ]
    queues.configure(broken)

    result = run({"queue": WORKER})

    (report,) = result["queues"]
    assert (report["found"], report["moved"], report["failed"]) == (3, 0, 3)
    assert report["complete"] is False and result["complete"] is False
    assert (
        "NonExistentQueue" in report["errors"][0]["message"]
        or "QueueDoesNotExist" in (report["errors"][0]["message"])
    )
    assert depth(queues.worker_dlq_url) == 3

    queues.configure()
    assert counts(run({"queue": WORKER})) == {WORKER: (3, 3, 0)}
    assert depth(queues.worker_dlq_url) == 0 and depth(queues.source_url) == 3


# ---- time, requests, configuration -------------------------------------------------------------------


@dataclass
class RunningOut(LambdaContext):
    """A context whose time runs out once the first batch has been received."""

    out: bool = False

    def get_remaining_time_in_millis(self) -> int:
        return 1_000 if self.out else 300_000


def test_stops_before_the_timeout_and_the_next_run_carries_on(queues: Queues) -> None:
    for i in range(15):
        dead_letter_from_worker(queues, f'{{"n": {i}}}')
    dead_letter_from_schedule(queues)
    context = RunningOut(function_name="ticketing-replay-dlq")

    def first_batch_received(**_: Any) -> None:
        context.out = True

    sqs = aws.client("sqs")
    sqs.meta.events.register("after-call.sqs.ReceiveMessage", first_batch_received)
    try:
        result = run({}, context)
    finally:
        sqs.meta.events.unregister("after-call.sqs.ReceiveMessage", first_batch_received)

    assert result["complete"] is False
    # The first queue's first batch went out; the worker's queue was not reached.
    assert counts(result) == {SCHEDULED: (1, 1, 0), WORKER: (0, 0, 0)}
    assert [q["complete"] for q in result["queues"]] == [False, False]
    assert depth(queues.worker_dlq_url) == 15

    carried_on = run({})
    assert carried_on["complete"] is True
    assert counts(carried_on) == {SCHEDULED: (0, 0, 0), WORKER: (15, 15, 0)}


def test_a_batch_is_finished_when_time_runs_out_in_the_middle_of_a_queue(queues: Queues) -> None:
    for i in range(15):
        dead_letter_from_worker(queues, f'{{"n": {i}}}')
    context = RunningOut(function_name="ticketing-replay-dlq")

    def first_batch_received(**_: Any) -> None:
        context.out = True

    sqs = aws.client("sqs")
    sqs.meta.events.register("after-call.sqs.ReceiveMessage", first_batch_received)
    try:
        result = run({"queue": WORKER}, context)
    finally:
        sqs.meta.events.unregister("after-call.sqs.ReceiveMessage", first_batch_received)

    assert counts(result) == {WORKER: (10, 10, 0)}
    assert result["complete"] is False and result["queues"][0]["complete"] is False
    assert depth(queues.worker_dlq_url) == 5 and depth(queues.source_url) == 10
    assert counts(run({"queue": WORKER})) == {WORKER: (5, 5, 0)}


def test_unknown_queue_is_an_error_result_naming_the_known_ones(queues: Queues) -> None:
    dead_letter_from_worker(queues, '{"n": 1}')

    result = run({"queue": "sla-timer"})

    assert result == {
        "error": {
            "type": "unknown_queue",
            "message": "No dead-letter queue named 'sla-timer'; known: outbox_relay, sla_timer.",
            "known": ["outbox_relay", "sla_timer"],
        }
    }
    assert depth(queues.worker_dlq_url) == 1


MALFORMED: list[tuple[Any, str | None]] = [
    ({"dry_run": "maybe"}, "dry_run"),
    ({"dry_run": 1}, "dry_run"),
    ({"queue": WORKER, "dryrun": True}, "dryrun"),
    ({"queue": ""}, "queue"),
    ({"queue": [WORKER]}, "queue"),
    ([WORKER], None),
    ("replay", None),
]


def test_a_malformed_payload_is_an_error_result(queues: Queues) -> None:
    dead_letter_from_worker(queues, '{"n": 1}')
    for event, where in MALFORMED:
        result = run(event)

        assert set(result) == {"error"}, event
        assert result["error"]["type"] == "invalid_request", event
        if where is not None:
            assert where in result["error"]["message"], event
            assert [e["loc"] for e in result["error"]["errors"]] == [where], event
    assert depth(queues.worker_dlq_url) == 1 and depth(queues.source_url) == 0


def test_no_dead_letter_queues_answers_zero_counts(queues: Queues) -> None:
    queues.configure([])
    assert run({}) == {"dry_run": False, "complete": True, "found": 0, "moved": 0, "failed": 0, "queues": []}
    assert run({"dry_run": True})["queues"] == []
    assert run({"queue": WORKER})["error"]["known"] == []


@pytest.mark.parametrize(
    "described",
    [
        "not json",
        '[{"name": "x", "dlq_url": "https://sqs/x"}]',  # no source
        '[{"name": "x", "dlq_url": "u", "source_queue_url": "q", "source_function": "f"}]',  # both
        json.dumps([{"name": "x", "dlq_url": u, "source_function": "f"} for u in ("u", "v")]),  # twice
    ],
)
def test_a_malformed_dead_letter_queues_variable_is_a_function_error(
    monkeypatch: pytest.MonkeyPatch, described: str
) -> None:
    """A deployment bug, not an operator's typo: it raises (alarmed as ReplayDlqErrors)."""
    monkeypatch.setenv("DEAD_LETTER_QUEUES", described)
    entrypoints.reset()
    try:
        with pytest.raises(SettingsError, match="DEAD_LETTER_QUEUES"):
            run({})
    finally:
        entrypoints.reset()
