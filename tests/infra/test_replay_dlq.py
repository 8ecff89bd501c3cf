"""The dead-letter replay operator (``ticketing-replay-dlq``) in the synthesised stack: its fixed
name, the dead-letter queues it is told about, and a role that may touch exactly those queues and
their sources. The same with a queue worker added: tests/infra/test_workers.py."""

from __future__ import annotations

import json
from typing import Any

from shared.runtime.catalog import OPERATORS, SCHEDULED, WORKERS
from tests.infra.conftest import Synth, function_named, grants, of_type, rendered, role_statements

Resources = dict[str, dict[str, Any]]
(REPLAY,) = [o for o in OPERATORS if o.function == "replay_dlq"]
FUNCTION_NAME = "ticketing-replay-dlq"
CONSUME = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes")
# Everything the replay's role may do: its logs, X-Ray, consume DLQs, send to source queues,
# invoke source functions.
ALLOWED_ACTIONS = {
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    *CONSUME,
    "sqs:GetQueueUrl",
    "sqs:SendMessage",
    "sqs:GetQueueAttributes",
    "lambda:InvokeFunction",
}


def scheduled_functions(resources: Resources) -> dict[str, tuple[str, str]]:
    """Scheduled function folder → (its logical id, its DLQ's logical id)."""
    found = {}
    for logical_id, fn in of_type(resources, "AWS::Lambda::Function").items():
        props = fn["Properties"]
        name = props.get("Handler", "").split(".")[1] if "." in props.get("Handler", "") else ""
        if name in {s.function for s in SCHEDULED}:
            found[name] = (logical_id, props["DeadLetterConfig"]["TargetArn"]["Fn::GetAtt"][0])
    return found


def worker_queues(resources: Resources) -> dict[str, tuple[str, str]]:
    """Worker folder → (its queue's logical id, its DLQ's logical id), from the event source mappings."""
    by_function = {
        logical_id: fn["Properties"]["Handler"].split(".")[1]
        for logical_id, fn in of_type(resources, "AWS::Lambda::Function").items()
        if fn["Properties"].get("Handler", "").startswith("functions.")
    }
    found = {}
    for mapping in of_type(resources, "AWS::Lambda::EventSourceMapping").values():
        queue_id = mapping["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]
        name = by_function[mapping["Properties"]["FunctionName"]["Ref"]]
        dlq = resources[queue_id]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
        found[name] = (queue_id, dlq)
    return found


def every_dlq(resources: Resources) -> set[str]:
    """Every queue something dead-letters into: redrive policies, async-invoke and target DLQs."""
    dlqs: set[str] = set()
    for resource in resources.values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in props:
            dlqs.add(props["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0])
        if resource["Type"] == "AWS::Lambda::Function" and "DeadLetterConfig" in props:
            dlqs.add(props["DeadLetterConfig"]["TargetArn"]["Fn::GetAtt"][0])
        if resource["Type"] == "AWS::Events::Rule":
            dlqs.update(
                t["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
                for t in props.get("Targets", [])
                if "DeadLetterConfig" in t
            )
    return dlqs


def test_it_is_deployed_under_its_fixed_name_outside_the_vpc(resources: Resources) -> None:
    _, props = function_named(resources, FUNCTION_NAME)
    assert props["Handler"] == "functions.replay_dlq.handler.handler"
    assert props["Timeout"] == REPLAY.settings.timeout_s == 300
    assert props["MemorySize"] == REPLAY.settings.memory_mb
    assert props.get("ReservedConcurrentExecutions") == REPLAY.settings.reserved_concurrency
    assert "VpcConfig" not in props  # no database: SQS and Lambda are reached directly
    assert "DB_SECRET_ARN" not in props["Environment"]["Variables"]


def test_its_variable_lists_every_scheduled_functions_dlq_with_the_function(resources: Resources) -> None:
    _, props = function_named(resources, FUNCTION_NAME)
    described = json.loads(rendered(props["Environment"]["Variables"]["DEAD_LETTER_QUEUES"]))
    expected = [
        {"name": name, "dlq_url": f"ref:{dlq}", "dlq_arn": f"arn:{dlq}", "source_function": f"ref:{fn}"}
        for name, (fn, dlq) in scheduled_functions(resources).items()
    ] + [
        {
            "name": name,
            "dlq_url": f"ref:{dlq}",
            "dlq_arn": f"arn:{dlq}",
            "source_queue_url": f"ref:{queue}",
            "source_queue_arn": f"arn:{queue}",
        }
        for name, (queue, dlq) in worker_queues(resources).items()
    ]
    assert sorted(described, key=lambda d: d["name"]) == sorted(expected, key=lambda d: d["name"])
    assert {d["name"] for d in described} == {s.function for s in (*SCHEDULED, *WORKERS)}
    assert {d["dlq_url"].removeprefix("ref:") for d in described} == every_dlq(resources)


def test_its_role_consumes_every_dlq_and_sends_only_to_their_sources(resources: Resources) -> None:
    _, props = function_named(resources, FUNCTION_NAME)
    granted = grants(role_statements(resources, props["Role"]["Fn::GetAtt"][0]))
    dlq_arns = {f"arn:{dlq}" for dlq in every_dlq(resources)}
    assert dlq_arns
    queue_arns = {f"arn:{queue}" for queue, _ in worker_queues(resources).values()}
    for action in CONSUME:
        # GetQueueAttributes on the source queues too (the replay reads their ARNs)
        expected = dlq_arns | queue_arns if action == "sqs:GetQueueAttributes" else dlq_arns
        assert granted[action] == expected, action
    assert granted["lambda:InvokeFunction"] == {
        f"arn:{fn}" for fn, _ in scheduled_functions(resources).values()
    }
    # back on the workers' own queues, and nowhere else
    assert granted["sqs:SendMessage"] == {f"arn:{queue}" for queue, _ in worker_queues(resources).values()}
    assert set(granted) <= ALLOWED_ACTIONS


def test_its_errors_are_alarmed_and_its_name_is_an_output(synth: Synth, resources: Resources) -> None:
    logical_id, _ = function_named(resources, FUNCTION_NAME)
    assert REPLAY.errors_alarm is not None
    (alarm,) = [
        a["Properties"]
        for a in of_type(resources, "AWS::CloudWatch::Alarm").values()
        if a["Properties"]["AlarmName"] == f"Ticketing-dev-{REPLAY.errors_alarm.id}"
    ]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Lambda", "Errors")
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": logical_id}}]
    assert alarm["Threshold"] == 1
    assert REPLAY.output == "ReplayDlqFunctionName"
    assert synth.raw["Outputs"]["ReplayDlqFunctionName"]["Value"] == {"Ref": logical_id}
