"""The intake worker in the synthesised stack (issue 10 §1, §2, §6): its queue is fed by a rule on
the ticket bus for the platform sources of cdk.json and one on the default bus for AWS's own
events; its lag, rejections, dedup and errors are alarmed; it is told its intake settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.runtime.catalog import AWS_INTAKE_PATTERN, INTAKE_LAG_SECONDS
from tests.infra.conftest import of_type
from tests.infra.test_stack import functions_by_name, ref_id

Resources = dict[str, dict[str, Any]]
CONTEXT = json.loads((Path(__file__).parents[2] / "cdk.json").read_text())["context"]


def intake_queue(resources: Resources) -> str:
    intake = functions_by_name(resources)["intake"]
    (mapping,) = [
        m["Properties"]
        for m in of_type(resources, "AWS::Lambda::EventSourceMapping").values()
        if ref_id(m["Properties"]["FunctionName"])
        == next(k for k, v in of_type(resources, "AWS::Lambda::Function").items() if v is intake)
    ]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    return ref_id(mapping["EventSourceArn"])


def rules_to(resources: Resources, queue_id: str) -> list[dict[str, Any]]:
    return [
        r["Properties"]
        for r in of_type(resources, "AWS::Events::Rule").values()
        if any(t["Arn"] == {"Fn::GetAtt": [queue_id, "Arn"]} for t in r["Properties"].get("Targets", []))
    ]


def test_platform_sources_on_the_ticket_bus_and_aws_events_on_the_default_bus(resources: Resources) -> None:
    queue_id = intake_queue(resources)
    (bus_id,) = of_type(resources, "AWS::Events::EventBus")
    rules = {json.dumps(r["EventPattern"], sort_keys=True): r for r in rules_to(resources, queue_id)}
    platform = rules[json.dumps({"source": CONTEXT["platformEventSources"]}, sort_keys=True)]
    assert platform["EventBusName"] == {"Ref": bus_id}
    assert set(CONTEXT["platformEventSources"]) == {
        "platform.health",
        "platform.drr",
        "platform.runtime",
        "platform.subscriptions",
        "platform.security",
    }
    aws = rules[json.dumps(AWS_INTAKE_PATTERN, sort_keys=True)]
    assert aws["EventBusName"] == "default"
    # Undeliverable events go to the worker's DLQ, not nowhere.
    for rule in (platform, aws):
        (target,) = rule["Targets"]
        assert "DeadLetterConfig" in target


def test_the_queue_policy_lets_only_those_rules_send(resources: Resources) -> None:
    queue_id = intake_queue(resources)
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in of_type(resources, "AWS::SQS::QueuePolicy").values()
        if any(ref_id(q) == queue_id for q in p["Properties"]["Queues"])
    ]
    senders = [
        s
        for statements in policies
        for s in statements
        if s.get("Principal") == {"Service": "events.amazonaws.com"}
    ]
    assert len(senders) == 2 and all("aws:SourceArn" in json.dumps(s["Condition"]) for s in senders)


def test_intake_alarms(resources: Resources) -> None:
    queue_id = intake_queue(resources)
    alarms = {
        a["Properties"]["AlarmName"].split("-", 2)[-1]: a["Properties"]
        for a in of_type(resources, "AWS::CloudWatch::Alarm").values()
    }
    lag = alarms["IntakeLag"]
    assert lag["MetricName"] == "ApproximateAgeOfOldestMessage" and lag["Threshold"] == INTAKE_LAG_SECONDS
    assert any(ref_id(d["Value"]) == queue_id for d in lag["Dimensions"])
    assert alarms["IntakeRejections"]["MetricName"] == "IntakeRejected"
    assert alarms["DedupDisabled"]["MetricName"] == "FingerprintTicketsPerHour"
    assert alarms["IntakeErrors"]["MetricName"] == "Errors"
    for name in ("IntakeLag", "IntakeRejections", "DedupDisabled", "IntakeErrors"):
        assert "runbook:" in alarms[name]["AlarmDescription"], name


def test_the_worker_is_told_its_intake_settings(resources: Resources) -> None:
    env = functions_by_name(resources)["intake"]["Properties"]["Environment"]["Variables"]
    assert json.loads(env["INTAKE_ACCOUNT_TENANTS"]) == CONTEXT["accountTenants"]
    assert env["INTAKE_REOPEN_WINDOW_MINUTES"] == str(CONTEXT["intakeReopenWindowMinutes"])
    assert {"DB_SECRET_ARN", "EVENT_BUS_NAME"} <= set(env)
