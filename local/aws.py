"""The local stack's AWS: moto's server on a loopback port, in a process of its own
(``local/moto_server.py``), with the bus and queues the stack uses.

Every boto3 client in the process (``shared.aws``) reaches it through ``AWS_ENDPOINT_URL``.
Besides the ticket bus, a "tap" queue receives every event the service publishes (a rule on the
bus matching its source), so the developer can watch them in the console.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.runtime import catalog
from shared.runtime.catalog import WORKERS, QueueWorker

log = logging.getLogger("local.aws")

REGION = "eu-west-1"
TAP_QUEUE = "ticketing-local-tap"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def worker_queue_name(worker: QueueWorker) -> str:
    return f"ticketing-{worker.function.replace('_', '-')}"


def worker_queue_env(worker: QueueWorker) -> str:
    """The env var through which other functions find a worker's queue (e.g. SLA_TIMER_QUEUE_URL)."""
    return catalog.queue_env(worker.function)


@dataclass
class LocalAws:
    endpoint: str
    server: MotoProcess
    bus_name: str
    tap_queue_url: str = ""
    worker_queue_urls: dict[str, str] = field(default_factory=dict)
    dead_letter_queues: list[dict[str, str]] = field(default_factory=list)
    buckets: dict[str, str] = field(default_factory=dict)
    email_from_address: str = ""
    email_identity_arn: str = ""
    email_feedback_topic_arn: str = ""

    def stop(self) -> None:
        self.server.stop()


def _client(service: str, endpoint: str) -> Any:
    import boto3

    return boto3.session.Session().client(service, endpoint_url=endpoint, region_name=REGION)  # type: ignore[call-overload]


def _route_bus_to_queue(
    events: Any, sqs: Any, *, bus: str, rule: str, pattern: dict[str, Any], url: str
) -> None:
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps(pattern), State="ENABLED")
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])


class MotoProcess:
    """moto's server in a child process (``local/moto_server.py``), on a loopback port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local.moto_server", "--port", str(port)],
            cwd=Path(__file__).resolve().parent.parent,
        )
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto's server exited at start (code {self.process.returncode})")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"moto's server did not listen on port {port} within 60 s") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(*, bus_name: str, event_source: str) -> LocalAws:
    """Start moto, point this process's AWS config at it, create the bus, tap and worker queues."""
    port = free_port()
    server = MotoProcess(port)
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106 - moto's dummy credentials
        AWS_SESSION_TOKEN="testing",  # noqa: S106
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
    )
    aws = LocalAws(endpoint=endpoint, server=server, bus_name=bus_name)
    events, sqs = _client("events", endpoint), _client("sqs", endpoint)
    if bus_name != "default":
        events.create_event_bus(Name=bus_name)
    aws.tap_queue_url = sqs.create_queue(QueueName=TAP_QUEUE)["QueueUrl"]
    _route_bus_to_queue(
        events,
        sqs,
        bus=bus_name,
        rule="ticketing-local-tap",
        pattern={"source": [event_source]},
        url=aws.tap_queue_url,
    )
    for worker in WORKERS:
        name = worker_queue_name(worker)
        dlq_url = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        url = sqs.create_queue(
            QueueName=name,
            Attributes={
                "VisibilityTimeout": str(max(30, 6 * worker.settings.timeout_s)),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(worker.max_receive_count)}
                ),
            },
        )["QueueUrl"]
        aws.worker_queue_urls[worker.function] = url
        source_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        aws.dead_letter_queues.append(
            {
                "name": worker.function,
                "dlq_url": dlq_url,
                "dlq_arn": dlq_arn,
                "source_queue_url": url,
                "source_queue_arn": source_arn,
            }
        )
        for declared in worker.rules:
            pattern: dict[str, Any] = dict(declared.pattern)
            if declared.sources_context is not None:
                pattern["source"] = list(cdk_context().get(declared.sources_context) or [])
                if not pattern["source"]:
                    continue
            _route_bus_to_queue(
                events,
                sqs,
                bus=bus_name if declared.bus == "ticket" else "default",
                rule=f"{name}-{declared.id}",
                pattern=pattern,
                url=url,
            )
    # E-mail: moto's SES, the From address's domain verified (as cdk.json names it), and the
    # feedback topic the email_feedback worker's queue subscribes to (locally SES reports no
    # bounces: publish one to the topic to try it, runbook "E-mail notifications").
    context = cdk_context()
    domain = str(context.get("emailDomain") or "mail.platform.example.com")
    aws.email_from_address = str(context.get("emailFromAddress") or f"ticketing@{domain}")
    _client("ses", endpoint).verify_domain_identity(Domain=domain)
    aws.email_identity_arn = f"arn:aws:ses:{REGION}:123456789012:identity/{domain}"
    feedback_url = aws.worker_queue_urls.get(catalog.EMAIL_FEEDBACK)
    if feedback_url:
        sns = _client("sns", endpoint)
        aws.email_feedback_topic_arn = sns.create_topic(Name="ticketing-local-ses-feedback")["TopicArn"]
        feedback_arn = sqs.get_queue_attributes(QueueUrl=feedback_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=aws.email_feedback_topic_arn, Protocol="sqs", Endpoint=feedback_arn)
    s3 = _client("s3", endpoint)
    for bucket in ("attachments",):
        physical = f"ticketing-local-{bucket}"
        s3.create_bucket(Bucket=physical, CreateBucketConfiguration={"LocationConstraint": REGION})
        aws.buckets[bucket] = physical
    os.environ.update(declared_env(aws))
    return aws


def cdk_context() -> dict[str, Any]:
    """cdk.json's context: the local stack is configured like a deployment of this checkout."""
    path = Path(__file__).resolve().parent.parent / "cdk.json"
    context: dict[str, Any] = json.loads(path.read_text())["context"]
    return context


def declared_env(aws: LocalAws) -> dict[str, str]:
    """The local values of the variables every declared resource is told by (as
    ``infra/resources.py`` sets them in AWS): one process hosts every function here, so each
    variable is set once, for all of them."""
    env: dict[str, str] = {
        "EVENT_BUS_NAME": aws.bus_name,
        "EVENT_SOURCE": os.environ.get("EVENT_SOURCE", "ticketing"),
    }
    for worker, url in aws.worker_queue_urls.items():
        env[catalog.queue_env(worker)] = url
    for dead_letters in aws.dead_letter_queues:
        env[catalog.dead_letter_env(dead_letters["name"])] = dead_letters["dlq_url"]
    for name, physical in aws.buckets.items():
        (variable,) = catalog.Bucket(name).env_names()
        env[variable] = physical
    env["DEAD_LETTER_QUEUES"] = json.dumps(aws.dead_letter_queues)
    context = cdk_context()
    env["INTAKE_ACCOUNT_TENANTS"] = json.dumps(context.get("accountTenants") or {})
    env["INTAKE_REOPEN_WINDOW_MINUTES"] = str(context.get("intakeReopenWindowMinutes", 10))
    # Webhooks may go to receivers on this machine (plain http on loopback); in AWS never.
    env["WEBHOOK_REQUIRE_HTTPS"] = os.environ.get("WEBHOOK_REQUIRE_HTTPS", "false")
    env["WEBHOOK_ALLOW_LOOPBACK"] = os.environ.get("WEBHOOK_ALLOW_LOOPBACK", "127.0.0.1,localhost,::1")
    env["SES_FROM_ADDRESS"] = aws.email_from_address
    env["SES_IDENTITY_ARN"] = aws.email_identity_arn
    env["SES_CONFIGURATION_SET"] = ""  # moto's SES reports no bounces: nothing to route
    env["EMAIL_REPLY_DOMAIN"] = str(context.get("emailReplyDomain") or "")
    if os.environ.get("WEBHOOK_RETRY_SCHEDULE"):  # e.g. "1,2,4" to watch retries run out in seconds
        env["WEBHOOK_RETRY_SCHEDULE"] = os.environ["WEBHOOK_RETRY_SCHEDULE"]
    return env
