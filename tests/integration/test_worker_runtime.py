"""The worker runtime end to end (issue 9 §4), with a test-only worker and real SQS messages (moto).

The worker opens one ticket per message, as intake will. Messages go through moto's SQS, so the
records the handler gets are real SQS records (ids, receipt handles, attributes), and what the
local stack does with its answer (delete all but the failed records) is done here too.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import BaseModel, ConfigDict, Field

from local.events import LambdaContext, sqs_event_of
from shared import aws, db
from shared.runtime import catalog, workers
from shared.tickets import service
from shared.tickets.models import TicketCreate
from tests.conftest import Bus, Database

# The outbox, the audit chain and bounds are the subject here, not the SLA (test_sla.py).
pytestmark = pytest.mark.usefixtures("without_sla")

SPEC = catalog.QueueWorker(
    function="test_worker",
    summary="Opens a ticket per message (tests only)",
    settings=catalog.FunctionSettings(resources=(catalog.Database(), catalog.EventBus())),
)


class Job(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=300)
    fail: bool = False
    refuse: bool = False


def open_ticket(uow: db.UnitOfWork, job: Job, record: SQSRecord) -> None:
    if job.fail:
        raise RuntimeError("told to fail")
    created = service.create(
        uow,
        uow.principal,
        TicketCreate(title=job.title, kind="incident"),
        correlation_id=record.message_id,
        source="test_worker",
    )
    if job.refuse:  # a rule the model cannot see: the effect above is rolled back with it
        raise workers.Refused(f"{created.key} may not be opened by this worker")


handler = workers.worker(SPEC, open_ticket, Job)


@pytest.fixture
def queue(event_bus: Bus) -> str:
    url: str = aws.client("sqs").create_queue(QueueName="test-worker")["QueueUrl"]
    return url


def send(queue: str, *bodies: str, attributes: dict[str, Any] | None = None) -> None:
    for body in bodies:
        aws.client("sqs").send_message(QueueUrl=queue, MessageBody=body, MessageAttributes=attributes or {})


def receive(queue: str) -> dict[str, Any]:
    """A real SQS batch, as the event source mapping hands it to the function."""
    sqs = aws.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=0
    ).get("Messages", [])
    return sqs_event_of(messages)


def run(event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = handler(event, LambdaContext(function_name="test_worker"))
    return result


def tickets(database: Database) -> list[str]:
    with database.admin() as conn:
        return [r["title"] for r in conn.execute("SELECT title FROM ticket ORDER BY key_num").fetchall()]


def log(database: Database) -> list[dict[str, Any]]:
    with database.admin() as conn:
        return conn.execute(
            "SELECT message_id, status, reason, body FROM inbound_message ORDER BY received_at, status"
        ).fetchall()


def test_a_batch_with_a_failing_record_reports_only_that_one(database, event_bus, queue):
    send(
        queue,
        json.dumps({"title": "one"}),
        json.dumps({"title": "boom", "fail": True}),
        json.dumps({"title": "two"}),
    )
    event = receive(queue)
    failing = next(r["messageId"] for r in event["Records"] if "boom" in r["body"])
    result = run(event)
    assert result == {"batchItemFailures": [{"itemIdentifier": failing}]}
    assert sorted(tickets(database)) == ["one", "two"]  # the failure rolled back its own record only
    assert {r["status"] for r in log(database)} == {"processed"} and len(log(database)) == 2
    # The effects' events were published by the finish step, as a route's are.
    assert sorted(e["detail"]["ticket"]["title"] for e in event_bus.received()) == ["one", "two"]


def test_a_redelivered_message_has_no_second_effect(database, event_bus, queue):
    send(queue, json.dumps({"title": "once"}))
    event = receive(queue)
    assert run(event) == {"batchItemFailures": []}
    assert run(event) == {"batchItemFailures": []}  # SQS delivered it again (same message id)
    assert tickets(database) == ["once"]
    assert [r["status"] for r in log(database)] == ["processed"]


def test_an_outbox_event_sent_twice_is_handled_once(database, event_bus, queue):
    """The publisher's event_id attribute is the dedup key: the post-commit publish and the relay
    may both send the same outbox event, as two SQS messages with different message ids."""
    attributes = {"event_id": {"DataType": "String", "StringValue": "01a2f0c0-0000-7000-8000-000000000001"}}
    send(
        queue,
        json.dumps({"title": "published twice"}),
        json.dumps({"title": "published twice"}),
        attributes=attributes,
    )
    event = receive(queue)
    assert len({r["messageId"] for r in event["Records"]}) == 2
    assert run(event) == {"batchItemFailures": []}
    assert tickets(database) == ["published twice"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("not json at all", "Invalid JSON"),
        (json.dumps({"titel": "typo"}), "titel: Extra inputs are not permitted"),
        (json.dumps({"title": ""}), "title: String should have at least 1 character"),
        (json.dumps([1, 2]), "Input should be an object"),
    ],
)
def test_a_poison_record_is_refused_recorded_and_acknowledged(database, event_bus, queue, body, reason):
    send(queue, body, json.dumps({"title": "fine"}))
    event = receive(queue)
    assert run(event) == {"batchItemFailures": []}  # acknowledged: it would never succeed
    assert tickets(database) == ["fine"]
    refused = [r for r in log(database) if r["status"] == "refused"]
    assert len(refused) == 1 and reason in refused[0]["reason"] and refused[0]["body"] == body
    assert run(event) == {"batchItemFailures": []}  # redelivered: still one row, no retry cycle
    assert len([r for r in log(database) if r["status"] == "refused"]) == 1


def test_a_handler_refusing_a_record_rolls_its_effect_back(database, event_bus, queue):
    send(queue, json.dumps({"title": "not allowed", "refuse": True}))
    assert run(receive(queue)) == {"batchItemFailures": []}
    assert tickets(database) == []
    (row,) = log(database)
    assert row["status"] == "refused" and "may not be opened" in row["reason"]


def test_a_batch_where_every_record_fails_is_a_function_error(database, event_bus, queue):
    send(queue, json.dumps({"title": "a", "fail": True}), json.dumps({"title": "b", "fail": True}))
    with pytest.raises(Exception, match="All records failed"):
        run(receive(queue))
    assert tickets(database) == [] and log(database) == []


def test_the_worker_validates_its_settings_on_the_first_invocation(database, event_bus, queue, monkeypatch):
    from shared.config.settings import SettingsError
    from shared.runtime import entrypoints

    monkeypatch.delenv("EVENT_BUS_NAME")
    entrypoints.reset()
    send(queue, json.dumps({"title": "x"}))
    with pytest.raises(SettingsError, match="EVENT_BUS_NAME"):
        run(receive(queue))


def test_the_log_is_purged_after_sqs_could_no_longer_redeliver(database, event_bus, queue):
    send(queue, json.dumps({"title": "old"}))
    run(receive(queue))
    with database.admin() as conn:
        conn.execute("UPDATE inbound_message SET received_at = now() - interval '15 days'")
    assert workers.purge() == 1 and log(database) == []
