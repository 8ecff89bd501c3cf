"""A queue worker entry becomes queue + DLQ + mapping (+ rule); context switches reach the stack.

Synthesises its own app with one extra ``QueueWorker`` (an existing function folder stands in
for the worker's code) and deletion protection / Multi-AZ switched off by context.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from shared.runtime.catalog import SCHEDULED, WORKERS, FunctionSettings, QueueWorker
from tests.infra.conftest import (
    Synth,
    function_named,
    grants,
    of_type,
    rendered,
    role_statements,
    synthesize,
)

Resources = dict[str, dict[str, Any]]
FAKE = QueueWorker(
    function="healthz",
    summary="Stand-in worker",
    batch_size=7,
    max_receive_count=3,
    event_pattern={"source": ["ticketing"], "detail-type": ["ticket.created"]},
    settings=FunctionSettings(memory_mb=256, timeout_s=20),
)


@pytest.fixture(scope="module")
def worker_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    outdir: Path = tmp_path_factory.mktemp("cdk.out.workers")
    return synthesize(
        outdir,
        context={"deletionProtection": "false", "multiAz": "false", "alarmEmail": "oncall@example.com"},
        workers=(*WORKERS, FAKE),
    )


@pytest.fixture(scope="module")
def res(worker_synth: Synth) -> Resources:
    resources: Resources = worker_synth.raw["Resources"]
    return resources


def worker_queue(res: Resources) -> tuple[str, dict[str, Any]]:
    queues = [
        (logical_id, q["Properties"])
        for logical_id, q in of_type(res, "AWS::SQS::Queue").items()
        if q["Properties"].get("RedrivePolicy")
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
    assert rule["EventPattern"] == FAKE.event_pattern
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
    assert len([d for d in described if "source_function" in d]) == len(SCHEDULED)
    granted = grants(role_statements(res, replay["Role"]["Fn::GetAtt"][0]))
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"):
        assert f"arn:{dlq_id}" in granted[action], action
        assert f"arn:{queue_id}" not in granted[action], action
    assert granted["sqs:SendMessage"] == {f"arn:{queue_id}"}  # the source queue only, never a DLQ
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
