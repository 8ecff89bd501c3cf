"""One local endpoint for AWS calls: the real ``aws`` CLI (v1, from requirements-dev.txt) against
the stack's gateway URL, as a platform team would try an integration locally.

Requests signed with AWS Signature V4 reach moto's server through the gateway; Lambda's Invoke
API stays with the gateway. Calls that are not the point of a test (setting up a rule, a bucket,
a secret; a second look) go through boto3 at the same endpoint: each CLI call is a new process
of about a second, and the module should stay well under 30 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

AWS_CLI = Path(sys.executable).parent / "aws"
REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account

Aws = Callable[..., Any]


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Dummy credentials and nothing from the developer's own AWS configuration."""
    if not AWS_CLI.exists():
        pytest.fail(f"{AWS_CLI} is missing: `make install` (requirements-dev.txt has awscli)")
    home = tmp_path_factory.mktemp("aws-cli")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=str(home / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_RETRY_MODE="standard",
        AWS_MAX_ATTEMPTS="2",
    )
    return env


@pytest.fixture(scope="module")
def aws(stack: Stack, cli_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Aws:
    """``aws(service, operation, *args)``: the CLI against the gateway; its JSON output (or None)."""
    cwd = tmp_path_factory.mktemp("aws-cwd")

    def run(*args: str) -> Any:
        done = subprocess.run(
            [str(AWS_CLI), "--endpoint-url", stack.url, "--output", "json", *args],
            env=cli_env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"aws {' '.join(args)}: {done.returncode}\n{done.stderr}"
        return json.loads(done.stdout) if done.stdout.strip() else None

    return run


@pytest.fixture(scope="module")
def client(stack: Stack) -> Callable[[str], Any]:
    """boto3 clients at the same endpoint, for setup."""
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    return lambda service: session.client(service, endpoint_url=stack.url)


def receive(aws: Aws, queue_url: str, *, wait_s: int = 2, attempts: int = 3) -> list[dict[str, Any]]:
    for _ in range(attempts):
        answer = aws(
            "sqs",
            "receive-message",
            "--queue-url",
            queue_url,
            "--max-number-of-messages",
            "10",
            "--wait-time-seconds",
            str(wait_s),
        )
        messages: list[dict[str, Any]] = (answer or {}).get("Messages", [])
        if messages:
            return messages
    return []


def test_put_events_on_the_ticket_bus_arrive_on_queues(
    stack: Stack, aws: Aws, client: Callable[[str], Any]
) -> None:
    bus = stack.env.get("EVENT_BUS_NAME") or "ticketing"
    marker = uuid.uuid4().hex[:12]
    sqs, events = client("sqs"), client("events")
    queue_url = sqs.create_queue(QueueName=f"e2e-platform-{marker}")["QueueUrl"]
    assert queue_url.startswith(f"{stack.url}/"), queue_url  # moto names the gateway, not itself
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rule = f"e2e-platform-{marker}"
    pattern = {"source": ["platform.health"], "detail": {"marker": [marker]}}
    events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])

    entries = [
        {
            "Source": "platform.health",
            "DetailType": "Readiness Check Failed",
            "Detail": json.dumps({"marker": marker}),
            "EventBusName": bus,
        },
        # the service's own source: the stack's tap queue gets it and the console logs it
        {"Source": "ticketing", "DetailType": f"E2E Probe {marker}", "Detail": "{}", "EventBusName": bus},
    ]
    put = aws("events", "put-events", "--entries", json.dumps(entries))
    assert put["FailedEntryCount"] == 0, put

    messages = receive(aws, queue_url)
    assert len(messages) == 1, messages
    event = json.loads(messages[0]["Body"])
    assert event["source"] == "platform.health" and event["detail-type"] == "Readiness Check Failed"
    assert event["detail"] == {"marker": marker}

    deadline = time.monotonic() + 10
    while not any(f"E2E Probe {marker}" in line for line in stack.console_lines()):
        assert time.monotonic() < deadline, stack.console_tail()
        time.sleep(0.3)


def test_an_sqs_round_trip_through_the_gateway(stack: Stack, aws: Aws, client: Callable[[str], Any]) -> None:
    name = f"e2e-roundtrip-{uuid.uuid4().hex[:12]}"
    created = aws("sqs", "create-queue", "--queue-name", name)["QueueUrl"]
    assert created == f"{stack.url}/{ACCOUNT}/{name}"  # on the gateway's port, usable as is
    assert client("sqs").get_queue_url(QueueName=name)["QueueUrl"] == created  # = aws sqs get-queue-url
    sent = aws("sqs", "send-message", "--queue-url", created, "--message-body", "héllo from the CLI")
    [message] = receive(aws, created)
    assert message["MessageId"] == sent["MessageId"] and message["Body"] == "héllo from the CLI"


def test_lambda_invoke_audit_verify_writes_its_result(stack: Stack, aws: Aws, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    answer = aws("lambda", "invoke", "--function-name", "audit_verify", str(out))
    assert answer["StatusCode"] == 200 and "FunctionError" not in answer, answer
    result = json.loads(out.read_text())
    assert result["complete"] is True and result["broken_count"] == 0
    assert {"tickets", "events", "broken", "next_after"} <= result.keys()


def test_s3_and_secrets_manager_through_the_gateway(
    aws: Aws, client: Callable[[str], Any], tmp_path: Path
) -> None:
    marker = uuid.uuid4().hex[:12]
    bucket = f"e2e-{marker}"
    client("s3").create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    upload = tmp_path / "report.json"
    upload.write_bytes(json.dumps({"marker": marker}).encode() * 1000)
    aws("s3", "cp", str(upload), f"s3://{bucket}/reports/report.json", "--only-show-errors")
    head = client("s3").head_object(Bucket=bucket, Key="reports/report.json")
    assert head["ContentLength"] == upload.stat().st_size  # HEAD relays moto's Content-Length

    client("secretsmanager").create_secret(Name=f"e2e/{marker}", SecretString="s3cr3t")
    secret = aws("secretsmanager", "get-secret-value", "--secret-id", f"e2e/{marker}")
    assert secret["SecretString"] == "s3cr3t"


def test_put_events_open_incidents_through_the_intake_worker(stack: Stack, aws: Aws, call: Any) -> None:
    """Issue 10 §7: a platform event on the ticket bus and an AWS-shaped event on the default bus,
    put with the CLI, are tickets within a couple of seconds."""
    bus = stack.env.get("EVENT_BUS_NAME") or "ticketing"
    marker = uuid.uuid4().hex[:12]
    alarm_arn = f"arn:aws:cloudwatch:eu-west-1:{ACCOUNT}:alarm:e2e-{marker}"
    entries = [
        {
            "Source": "platform.runtime",
            "DetailType": "Job Failed",
            "EventBusName": bus,
            "Detail": json.dumps(
                {
                    "tenant_id": "acme",
                    "dedup_key": f"job:{marker}",
                    "summary": "Nightly job failed",
                    "severity": "error",
                }
            ),
        },
        {
            "Source": "aws.cloudwatch",
            "DetailType": "CloudWatch Alarm State Change",
            "Resources": [alarm_arn],
            "Detail": json.dumps(
                {"alarmName": f"e2e-{marker}", "state": {"value": "ALARM", "reason": "Threshold Crossed"}}
            ),
        },
    ]
    started = time.monotonic()
    put = aws("events", "put-events", "--entries", json.dumps(entries))
    assert put["FailedEntryCount"] == 0, put
    ops = stack.token("olga", roles="platform_operator")
    found: dict[str, Any] = {}
    while len(found) < 2:
        assert time.monotonic() - started < 15, (found, stack.console_tail())
        for key in (f"job:{marker}", alarm_arn):
            items = call("GET", "/tickets", ops, params={"dedup_key": key}).json()["items"]
            if items:
                found[key] = items[0]
        time.sleep(0.2)
    job, alarm = found[f"job:{marker}"], found[alarm_arn]
    assert (job["tenant_id"], job["category"], job["priority"]) == ("acme", "pipeline_failure", "high")
    assert alarm["visibility"] == "platform_only" and alarm["title"].startswith(f"e2e-{marker}")


def test_emails_go_out_through_local_ses_and_a_bounce_suppresses_the_address(
    stack: Stack, aws: Aws, call: Any, tmp_path: Path
) -> None:
    """Issue 12 §6 on ``make run``: a requester with an address gets the confirmation (moto's SES,
    listed by the sent-emails operator with the Message-ID SES used); a bounce published to the
    local feedback topic with the CLI suppresses the address, and the next e-mail is held back."""
    tenant = f"mail-{uuid.uuid4().hex[:8]}"
    address = f"requester@{tenant}.example"
    user = stack.token("alice", tenant=tenant, roles="tenant_user")
    saved = call("PUT", "/me/notification-preferences", user, json={"email": address, "opt_out": []})
    assert saved.status_code == 200, saved.text

    def sent_for(key: str) -> list[dict[str, Any]]:
        out = tmp_path / f"{key}.json"
        started = time.monotonic()
        while time.monotonic() - started < 20:
            answer = aws(
                "lambda",
                "invoke",
                "--function-name",
                "ticketing-sent-emails",
                "--payload",
                json.dumps({"ticket": key}),
                str(out),
            )
            assert "FunctionError" not in answer, answer
            messages: list[dict[str, Any]] = json.loads(out.read_text())["messages"]
            if messages:
                return messages
            time.sleep(0.3)
        raise AssertionError(stack.console_tail())

    body = {"title": "orders late", "category": "pipeline_failure", "priority": "high"}
    first = call("POST", "/tickets", user, json=body).json()
    (message,) = sent_for(first["key"])
    assert message["recipient"] == address and message["status"] == "sent"
    assert message["event_type"] == "ticket.created" and message["message_id_header"].endswith(
        "amazonses.com>"
    )
    bounce = {
        "notificationType": "Bounce",
        "bounce": {"bounceType": "Permanent", "bouncedRecipients": [{"emailAddress": address}]},
    }
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:ticketing-local-ses-feedback"
    aws("sns", "publish", "--topic-arn", topic, "--message", json.dumps(bounce))
    time.sleep(1.5)  # the feedback worker's poll
    second = call("POST", "/tickets", user, json=body).json()
    (held,) = sent_for(second["key"])
    assert held["status"] == "suppressed" and held["ses_message_id"] is None
