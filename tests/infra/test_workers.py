"""A queue worker entry becomes queue + DLQ + mapping (+ rule); context switches reach the stack.

Synthesises its own app with one extra ``QueueWorker`` (an existing function folder stands in
for the worker's code) and deletion protection / Multi-AZ switched off by context.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from shared.runtime.catalog import (
    ROUTES,
    SCHEDULED,
    SLA_TIMER,
    WEBHOOK_DISPATCH,
    WORKERS,
    Bucket,
    BusRule,
    Database,
    DeadLetterQueues,
    FunctionSettings,
    FunctionSpec,
    Queue,
    QueueWorker,
    all_specs,
)
from tests.infra.conftest import (
    Synth,
    function_named,
    grants,
    of_type,
    rendered,
    role_statements,
    synthesize,
)
from tests.infra.test_stack import functions_by_name, ref_id

Resources = dict[str, dict[str, Any]]
FAKE = QueueWorker(
    function="healthz",
    summary="Stand-in worker",
    batch_size=7,
    max_receive_count=3,
    rules=(
        BusRule(
            id="Feed", bus="ticket", pattern={"source": ["ticketing"], "detail-type": ["ticket.created"]}
        ),
    ),
    settings=FunctionSettings(memory_mb=256, timeout_s=20),
)
# The stack's workers: the stand-in, the SLA timer (every function that changes tickets, and the
# SLA operators, send to its queue) and the webhook dispatcher (every function that publishes to
# the bus copies events to its queue).
STACK_WORKERS = (FAKE, *(w for w in WORKERS if w.function in (SLA_TIMER, WEBHOOK_DISPATCH)))


def _fits(spec: FunctionSpec) -> bool:
    """Whether every queue the function sends to is one of this stack's workers'."""
    names = {w.function for w in STACK_WORKERS}
    return all(isinstance(r, Queue) and r.worker in names for r in spec.settings.declared(Queue))


# A route that declares it sends to the worker's queue and writes the attachments bucket. Functions
# that send to the catalog's other workers (POST /v2/enqueue to intake, the relay) are left out.
SENDER = "readyz"
ROUTES_WITH_SENDER = tuple(
    dataclasses.replace(
        r,
        settings=dataclasses.replace(
            r.settings, resources=(Database(), Queue(FAKE.function), Bucket("attachments", write=True))
        ),
    )
    if r.function == SENDER
    else r
    for r in ROUTES
    if _fits(r)
)
SCHEDULED_HERE = tuple(s for s in SCHEDULED if _fits(s))


@pytest.fixture(scope="module")
def worker_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    outdir: Path = tmp_path_factory.mktemp("cdk.out.workers")
    return synthesize(
        outdir,
        context={"deletionProtection": "false", "multiAz": "false", "alarmEmail": "oncall@example.com"},
        workers=STACK_WORKERS,
        routes=ROUTES_WITH_SENDER,
        scheduled=SCHEDULED_HERE,
    )


@pytest.fixture(scope="module")
def res(worker_synth: Synth) -> Resources:
    resources: Resources = worker_synth.raw["Resources"]
    return resources


def worker_queue(res: Resources) -> tuple[str, dict[str, Any]]:
    queues = [
        (logical_id, q["Properties"])
        for logical_id, q in of_type(res, "AWS::SQS::Queue").items()
        if q["Properties"].get("RedrivePolicy") and logical_id.startswith("WorkersHealthz")
    ]
    (found,) = queues
    return found


def test_queue_visibility_is_six_function_timeouts_with_a_dlq(res: Resources) -> None:
    _, props = worker_queue(res)
    assert props["VisibilityTimeout"] == 6 * FAKE.settings.timeout_s
    assert props["SqsManagedSseEnabled"] is True
    assert props["RedrivePolicy"]["maxReceiveCount"] == FAKE.max_receive_count
    dlq_id = props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert res[dlq_id]["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert res[dlq_id]["Properties"]["SqsManagedSseEnabled"] is True


def test_mapping_reports_partial_batch_failures(res: Resources) -> None:
    queue_id, _ = worker_queue(res)
    (mapping,) = [
        m["Properties"]
        for m in of_type(res, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    ]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == FAKE.batch_size


def test_event_pattern_feeds_the_queue_from_the_ticket_bus(res: Resources) -> None:
    queue_id, _ = worker_queue(res)
    (bus_id,) = of_type(res, "AWS::Events::EventBus")
    (rule,) = [
        r["Properties"]
        for r in of_type(res, "AWS::Events::Rule").values()
        if any(t["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]} for t in r["Properties"]["Targets"])
    ]
    assert rule["EventPattern"] == FAKE.rules[0].pattern
    assert rule["EventBusName"] == {"Ref": bus_id}


def test_worker_dlq_is_alarmed(res: Resources) -> None:
    _, props = worker_queue(res)
    dlq_id = props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert any(
        a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
        and any(d["Value"] == {"Fn::GetAtt": [dlq_id, "QueueName"]} for d in a["Properties"]["Dimensions"])
        for a in of_type(res, "AWS::CloudWatch::Alarm").values()
    )


def test_replay_dlq_may_move_the_worker_dlq_back_to_its_queue(res: Resources) -> None:
    queue_id, props = worker_queue(res)
    dlq_id = props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    _, replay = function_named(res, "ticketing-replay-dlq")
    described = json.loads(rendered(replay["Environment"]["Variables"]["DEAD_LETTER_QUEUES"]))
    assert {
        "name": FAKE.function,
        "dlq_url": f"ref:{dlq_id}",
        "dlq_arn": f"arn:{dlq_id}",
        "source_queue_url": f"ref:{queue_id}",
        "source_queue_arn": f"arn:{queue_id}",
    } in described
    assert len([d for d in described if "source_function" in d]) == len(SCHEDULED_HERE)
    granted = grants(role_statements(res, replay["Role"]["Fn::GetAtt"][0]))
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"):
        assert f"arn:{dlq_id}" in granted[action], action
        assert f"arn:{queue_id}" not in granted[action], action
    sources = {
        f"arn:{k}" for k, q in of_type(res, "AWS::SQS::Queue").items() if q["Properties"].get("RedrivePolicy")
    }
    assert granted["sqs:SendMessage"] == sources  # the workers' queues only, never a DLQ
    assert not any(f":{queue_id}" in arn or f":{dlq_id}" in arn for arn in granted["lambda:InvokeFunction"])


def test_context_switches_deletion_protection_and_multi_az(res: Resources) -> None:
    (instance,) = of_type(res, "AWS::RDS::DBInstance").values()
    assert instance["Properties"]["DeletionProtection"] is False
    assert instance["Properties"]["MultiAZ"] is False


def test_alarm_email_subscribes_to_the_topic(res: Resources) -> None:
    (subscription,) = of_type(res, "AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == "oncall@example.com"


def test_worker_stack_is_still_nag_clean(worker_synth: Synth) -> None:
    assert worker_synth.validation_report is not None
    assert all(not r.get("violations") for r in worker_synth.validation_report["pluginReports"])


def statements_of(res: Resources, role_id: str) -> list[dict[str, Any]]:
    return role_statements(res, role_id)


def actions(statement: dict[str, Any]) -> list[str]:
    found = statement["Action"]
    return found if isinstance(found, list) else [found]


def test_grants_and_variables_follow_the_declarations(res: Resources) -> None:
    """Issue 9 §5: a declared queue or bucket is the function's grant and variable; nobody else's."""
    queue_id, _ = worker_queue(res)
    (attachments_id,) = [
        k
        for k, v in of_type(res, "AWS::S3::Bucket").items()
        if v["Properties"].get("VersioningConfiguration")
    ]
    functions = functions_by_name(res)
    sender = functions[SENDER]["Properties"]
    env = sender["Environment"]["Variables"]
    assert ref_id(env["HEALTHZ_QUEUE_URL"]) == queue_id
    assert ref_id(env["ATTACHMENTS_BUCKET_NAME"]) == attachments_id
    mine = statements_of(res, ref_id(sender["Role"]))
    sends = [s for s in mine if "sqs:SendMessage" in actions(s)]
    assert [ref_id(s["Resource"]) for s in sends] == [queue_id]
    writes = [s for s in mine if "s3:PutObject" in actions(s)]
    assert writes and all(attachments_id in str(s["Resource"]) for s in writes)
    # Only the sender (and the dead-letter replay, which puts messages back) may send to the queue.
    replayers = {spec.function for spec in all_specs() if spec.settings.declared(DeadLetterQueues)}
    assert replayers == {"replay_dlq"}
    for name, fn in functions.items():
        if name in (SENDER, *replayers):
            continue
        for statement in statements_of(res, ref_id(fn["Properties"]["Role"])):
            if "sqs:SendMessage" in actions(statement):
                assert queue_id not in str(statement["Resource"]), name
        assert "HEALTHZ_QUEUE_URL" not in fn["Properties"].get("Environment", {}).get("Variables", {}), name
