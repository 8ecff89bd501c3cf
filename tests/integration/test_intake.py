"""Machine-event intake end to end (issue 10 §1, §2, §4, §6): events put on moto's EventBridge
buses reach the intake queue through the same rules the stack creates, and the intake worker's
handler takes the real SQS batches; what it did is read back through the HTTP API.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from functions.intake import handler as intake
from local.events import LambdaContext, sqs_event_of
from shared import aws
from shared.intake.model import ENQUEUED_DETAIL_TYPE
from shared.runtime import catalog
from tests.conftest import Bus, Database
from tests.integration.conftest import ALICE, GREG, OPS, Caller, invoke

FIXTURES = Path(__file__).parent.parent / "fixtures" / "events" / "intake"
PLATFORM_SOURCES = json.loads((Path(__file__).parents[2] / "cdk.json").read_text())["context"][
    "platformEventSources"
]
WORKER = next(w for w in catalog.WORKERS if w.function == "intake")
ACME_ACCOUNT = "210987654321"


class Intake:
    """The intake queue fed by the stack's rules on the ticket bus and the default bus."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        sqs, events = aws.client("sqs"), aws.client("events")
        self.url = sqs.create_queue(QueueName="ticketing-intake")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        for rule in WORKER.rules:
            pattern = dict(rule.pattern)
            if rule.sources_context:
                pattern["source"] = PLATFORM_SOURCES
            name = "default" if rule.bus == "default" else bus.name
            events.put_rule(Name=rule.id, EventBusName=name, EventPattern=json.dumps(pattern))
            events.put_targets(Rule=rule.id, EventBusName=name, Targets=[{"Id": "intake", "Arn": arn}])

    def put(
        self, source: str, detail_type: str, detail: dict[str, Any], *, bus: str | None = None, **extra: Any
    ) -> None:
        entry = {
            "Source": source,
            "DetailType": detail_type,
            "Detail": json.dumps(detail),
            "EventBusName": bus or self.bus.name,
            **extra,
        }
        result = aws.client("events").put_events(Entries=[entry])
        assert result["FailedEntryCount"] == 0, result

    def put_aws(self, fixture: str, **changes: Any) -> dict[str, Any]:
        """An AWS service's event (a documented sample) on the default bus."""
        event = json.loads((FIXTURES / fixture).read_text())
        detail = {**event["detail"], **changes}
        self.put(
            event["source"],
            event["detail-type"],
            detail,
            bus="default",
            Resources=event["resources"],
        )
        return event

    def send_raw(self, body: str, attributes: dict[str, Any] | None = None) -> None:
        aws.client("sqs").send_message(
            QueueUrl=self.url, MessageBody=body, MessageAttributes=attributes or {}
        )

    def receive(self) -> dict[str, Any]:
        sqs = aws.client("sqs")
        messages = sqs.receive_message(
            QueueUrl=self.url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=0
        ).get("Messages", [])
        return sqs_event_of(messages)

    def drain(self) -> list[dict[str, Any]]:
        """Run the worker over everything queued (batches of 10), deleting what it handled."""
        results: list[dict[str, Any]] = []
        sqs = aws.client("sqs")
        while True:
            event = self.receive()
            if not event["Records"]:
                return results
            result = intake.handler(event, LambdaContext(function_name="intake"))
            results.append(result)
            failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
            for record in event["Records"]:
                if record["messageId"] not in failed:
                    sqs.delete_message(QueueUrl=self.url, ReceiptHandle=record["receiptHandle"])
            if failed:
                return results


@pytest.fixture
def intake_queue(database: Database, event_bus: Bus, monkeypatch: pytest.MonkeyPatch) -> Intake:
    monkeypatch.setenv("INTAKE_ACCOUNT_TENANTS", json.dumps({ACME_ACCOUNT: "acme"}))
    monkeypatch.setenv("INTAKE_REOPEN_WINDOW_MINUTES", "10")
    return Intake(event_bus)


def by_key(key: str, caller: Caller = OPS) -> list[dict[str, Any]]:
    result = invoke("GET", "/tickets", caller=caller, query={"dedup_key": key})
    assert result.status == 200, result.body
    items: list[dict[str, Any]] = result.body["items"]
    return items


def occurrences(ticket: dict[str, Any], caller: Caller = OPS) -> list[dict[str, Any]]:
    result = invoke("GET", f"/tickets/{ticket['id']}/occurrences", caller=caller)
    assert result.status == 200, result.body
    items: list[dict[str, Any]] = result.body["items"]
    return items


def audit(ticket: dict[str, Any]) -> list[dict[str, Any]]:
    result = invoke("GET", f"/tickets/{ticket['id']}/events", caller=OPS)
    assert result.status == 200
    items: list[dict[str, Any]] = result.body["items"]
    return items


def health(key: str, *, action: str = "trigger", **detail: Any) -> dict[str, Any]:
    return {
        "action": action,
        "tenant_id": "acme",
        "dedup_key": key,
        "summary": "orders readiness failing",
        **detail,
    }


# ---- platform events ---------------------------------------------------------------------------


def test_a_platform_event_opens_one_classified_incident_in_its_tenant(intake_queue):
    intake_queue.put(
        "platform.health",
        "Readiness Check Failed",
        health("ready:orders", severity="critical", resource="dataset:orders", details={"check": "rows>0"}),
    )
    assert intake_queue.drain() == [{"batchItemFailures": []}]
    (ticket,) = by_key("ready:orders")
    assert ticket["tenant_id"] == "acme" and ticket["visibility"] == "tenant"
    assert (ticket["kind"], ticket["category"], ticket["priority"], ticket["state"]) == (
        "incident",
        "health",
        "critical",
        "new",
    )
    assert ticket["title"] == "orders readiness failing"
    assert ticket["source"] == ticket["requester"] == "platform.health"
    assert ticket["resources"] == ["dataset:orders"] and ticket["occurrence_count"] == 1
    assert ticket["first_seen_at"] is not None and ticket["dedup_key"] == "ready:orders"
    # The tenant sees it and its occurrence; another tenant does not.
    assert [t["id"] for t in by_key("ready:orders", ALICE)] == [ticket["id"]]
    assert by_key("ready:orders", GREG) == []
    (first,) = occurrences(ticket, ALICE)
    assert (first["action"], first["outcome"], first["severity"]) == ("trigger", "opened", "critical")
    assert first["details"] == {"check": "rows>0"}
    assert invoke("GET", f"/tickets/{ticket['id']}/occurrences", caller=GREG).status == 404


@pytest.mark.parametrize(
    ("source", "detail_type", "category"),
    [
        ("platform.health", "Data Late", "data_freshness"),
        ("platform.drr", "Dataset Late", "data_freshness"),
        ("platform.drr", "Schema Drift Detected", "schema_drift"),
        ("platform.runtime", "Job Failed", "pipeline_failure"),
        ("platform.runtime", "Job Stuck", "pipeline_failure"),
        ("platform.runtime", "Queue Backlog", "pipeline_failure"),
        ("platform.subscriptions", "Credits Exhausted", "cost_anomaly"),
        ("platform.subscriptions", "Cost Anomaly Detected", "cost_anomaly"),
        ("platform.security", "Security Finding", "security_finding"),
    ],
)
def test_the_classification_table(intake_queue, source, detail_type, category):
    intake_queue.put(source, detail_type, {"summary": f"{detail_type} on orders", "resource": "orders"})
    intake_queue.drain()
    (ticket,) = invoke("GET", "/tickets", caller=OPS).body["items"]
    assert (ticket["category"], ticket["kind"]) == (category, "incident")
    assert ticket["visibility"] == "platform_only" and ticket["tenant_id"] is None
    assert "unclassified" not in ticket["tags"]
    # no dedup key given: a fingerprint of source, detail-type, tenant and resource
    assert ticket["dedup_key"].startswith("fp:")


def test_an_unknown_detail_type_still_opens_an_incident_tagged_unclassified(intake_queue):
    intake_queue.put(
        "platform.runtime", "Executor Evicted", {"summary": "executor evicted", "tenant_id": "acme"}
    )
    intake_queue.drain()
    (ticket,) = invoke("GET", "/tickets", caller=OPS).body["items"]
    assert ticket["category"] == "pipeline_failure" and ticket["tags"] == ["unclassified"]


def test_repeats_are_occurrences_and_a_redelivery_adds_nothing(intake_queue, database):
    for _ in range(3):
        intake_queue.put("platform.health", "Readiness Check Failed", health("ready:orders"))
    intake_queue.drain()
    (ticket,) = by_key("ready:orders")
    assert ticket["occurrence_count"] == 3
    assert [o["outcome"] for o in occurrences(ticket)] == ["opened", "occurrence", "occurrence"]
    # EventBridge delivers at least once: the same event (same id) again, as a new SQS message.
    with database.admin() as conn:
        event_id = conn.execute("SELECT event_id FROM intake_event ORDER BY id LIMIT 1").fetchone()[
            "event_id"
        ]
    again = {
        "version": "0",
        "id": event_id,
        "detail-type": "Readiness Check Failed",
        "source": "platform.health",
        "account": "123456789012",
        "time": "2026-12-02T10:00:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": health("ready:orders"),
    }
    intake_queue.send_raw(json.dumps(again))
    assert intake_queue.drain() == [{"batchItemFailures": []}]
    (ticket,) = by_key("ready:orders")
    assert ticket["occurrence_count"] == 3 and len(occurrences(ticket)) == 3


def test_a_higher_severity_raises_the_priority_audited_and_a_lower_never_lowers_it(intake_queue):
    intake_queue.put("platform.health", "Readiness Check Failed", health("k", severity="warning"))
    intake_queue.drain()
    intake_queue.put("platform.health", "Readiness Check Failed", health("k", severity="critical"))
    intake_queue.drain()
    intake_queue.put("platform.health", "Readiness Check Failed", health("k", severity="info"))
    intake_queue.drain()
    (ticket,) = by_key("k")
    assert ticket["priority"] == "critical" and ticket["occurrence_count"] == 3
    raised = [e for e in audit(ticket) if e["type"] == "ticket.updated"]
    assert [e["changes"]["priority"] for e in raised] == [{"old": "medium", "new": "critical"}]
    assert raised[0]["actor"] == "system:intake"


def test_acknowledge_then_resolve_by_the_source(intake_queue):
    intake_queue.put("platform.health", "Readiness Check Failed", health("k"))
    intake_queue.drain()
    intake_queue.put("platform.health", "Readiness Check Failed", health("k", action="acknowledge"))
    intake_queue.drain()
    assert by_key("k")[0]["state"] == "ack"
    intake_queue.put(
        "platform.health", "Readiness Check Recovered", health("k", action="resolve", summary="rows back")
    )
    intake_queue.drain()
    (ticket,) = by_key("k")
    assert ticket["state"] == "resolved"
    assert ticket["resolution"] == "Resolved by platform.health: rows back"
    assert [o["outcome"] for o in occurrences(ticket)] == ["opened", "acknowledged", "resolved"]


def test_a_resolve_older_than_the_last_trigger_does_not_resolve(intake_queue):
    now = datetime.now(UTC)
    intake_queue.put("platform.health", "Readiness Check Failed", health("k", occurred_at=now.isoformat()))
    intake_queue.drain()
    late = (now - timedelta(minutes=5)).isoformat()
    intake_queue.put(
        "platform.health", "Readiness Check Failed", health("k", action="resolve", occurred_at=late)
    )
    intake_queue.drain()
    (ticket,) = by_key("k")
    assert ticket["state"] == "new"
    assert [o["outcome"] for o in occurrences(ticket)] == ["opened", "stale"]


def test_an_ack_or_resolve_without_an_open_ticket_is_recorded_and_ignored(intake_queue, database):
    intake_queue.put("platform.health", "Readiness Check Failed", health("nothing", action="resolve"))
    intake_queue.put("platform.health", "Readiness Check Failed", health("nothing", action="acknowledge"))
    assert intake_queue.drain() == [{"batchItemFailures": []}]
    assert by_key("nothing") == []
    with database.admin() as conn:
        rows = conn.execute("SELECT action, outcome, ticket_id FROM intake_event ORDER BY action").fetchall()
    assert rows == [
        {"action": "acknowledge", "outcome": "ignored", "ticket_id": None},
        {"action": "resolve", "outcome": "ignored", "ticket_id": None},
    ]


def test_a_trigger_within_the_reopen_window_reopens_later_opens_a_new_ticket(intake_queue, database):
    intake_queue.put("platform.health", "Readiness Check Failed", health("flap"))
    intake_queue.drain()
    intake_queue.put("platform.health", "Readiness Check Failed", health("flap", action="resolve"))
    intake_queue.drain()
    intake_queue.put("platform.health", "Readiness Check Failed", health("flap"))
    intake_queue.drain()
    (ticket,) = by_key("flap")
    assert ticket["state"] == "in_progress" and ticket["occurrence_count"] == 2
    reopened = [e for e in audit(ticket) if e["changes"].get("state", {}).get("new") == "in_progress"]
    assert "flap protection" in reopened[0]["changes"]["reason"]
    # Resolved again, and the next trigger comes after the window: a new ticket refers to it.
    intake_queue.put("platform.health", "Readiness Check Failed", health("flap", action="resolve"))
    intake_queue.drain()
    with database.admin() as conn:
        conn.execute("UPDATE ticket SET resolved_at = resolved_at - interval '11 minutes'")
    intake_queue.put("platform.health", "Readiness Check Failed", health("flap"))
    intake_queue.drain()
    newest, previous = by_key("flap")
    assert previous["id"] == ticket["id"] and previous["state"] == "resolved"
    assert newest["state"] == "new" and newest["previous_ticket_id"] == ticket["id"]


def test_dedup_is_scoped_by_tenant(intake_queue):
    for tenant in ("acme", "globex", None):
        intake_queue.put(
            "platform.runtime",
            "Job Failed",
            {"summary": "job failed", "dedup_key": "job:1", "tenant_id": tenant},
        )
    intake_queue.drain()
    tickets = by_key("job:1")
    assert sorted(str(t["tenant_id"]) for t in tickets) == ["None", "acme", "globex"]
    assert [t["tenant_id"] for t in by_key("job:1", ALICE)] == ["acme"]


def test_occurrences_reach_the_audit_trail_at_most_once_a_minute(intake_queue, database):
    intake_queue.put("platform.health", "Readiness Check Failed", health("storm"))
    intake_queue.drain()
    for _ in range(3):
        for _ in range(10):
            intake_queue.put("platform.health", "Readiness Check Failed", health("storm"))
        intake_queue.drain()
    (ticket,) = by_key("storm")
    assert ticket["occurrence_count"] == 31
    # within the first minute: no occurrence event yet (the SLA's follows the creation)
    assert [e["type"] for e in audit(ticket)] == ["ticket.created", "sla.applied"]
    # A minute on, the sweeper reports them all in one event (with its one outbox row).
    with database.admin() as conn:
        conn.execute(
            "UPDATE ticket SET occurrences_reported_at = occurrences_reported_at - interval '61 seconds'"
        )
    from functions.intake_sweep import handler as sweep

    assert sweep.handler({}, LambdaContext(function_name="intake_sweep")) == {"reported": 1}
    events = audit(ticket)
    assert [e["type"] for e in events] == ["ticket.created", "sla.applied", "ticket.occurrences_added"]
    assert events[2]["changes"]["occurrence_count"] == {"old": 1, "new": 31}
    published = [e for e in intake_queue.bus.received() if e["detail-type"] == "Occurrences Added"]
    assert len(published) == 1
    assert sweep.handler({}, LambdaContext(function_name="intake_sweep")) == {"reported": 0}


# ---- AWS's own events ----------------------------------------------------------------------------


def test_a_cloudwatch_alarm_triggers_and_ok_resolves(intake_queue):
    event = intake_queue.put_aws("cloudwatch-alarm-state-change.json")
    intake_queue.drain()
    arn = event["resources"][0]
    (ticket,) = by_key(arn)
    assert ticket["visibility"] == "platform_only" and ticket["category"] == "health"
    assert ticket["title"].startswith("ServerCpuTooHigh: Threshold Crossed")
    assert ticket["source"] == "aws.cloudwatch"
    ok = dict(event["detail"]["state"], value="OK", reason="back to normal")
    intake_queue.put_aws("cloudwatch-alarm-state-change.json", state=ok)
    intake_queue.drain()
    assert by_key(arn)[0]["state"] == "resolved"


def test_an_alarm_of_a_mapped_account_opens_in_that_tenant(intake_queue):
    event = json.loads((FIXTURES / "cloudwatch-alarm-state-change.json").read_text())
    intake_queue.put(
        "aws.cloudwatch", event["detail-type"], event["detail"], bus="default", Resources=event["resources"]
    )
    # moto sets the account of put events to its own; the map is keyed by the account id, so send
    # the mapped account's event as EventBridge would deliver it.
    body = {**event, "id": "acme-alarm-1", "account": ACME_ACCOUNT}
    body["resources"] = ["arn:aws:cloudwatch:us-east-1:210987654321:alarm:ServerCpuTooHigh"]
    intake_queue.send_raw(json.dumps(body))
    intake_queue.drain()
    (ticket,) = by_key(body["resources"][0])
    assert ticket["tenant_id"] == "acme" and ticket["visibility"] == "tenant"


def test_security_hub_findings_are_one_fingerprint_each(intake_queue):
    event = intake_queue.put_aws("securityhub-findings-imported.json")
    intake_queue.drain()
    s3, iam = event["detail"]["findings"]
    (bucket,) = by_key(s3["Id"])
    (root,) = by_key(iam["Id"])
    assert bucket["tenant_id"] == "acme"  # the resource's tenant tag
    assert root["tenant_id"] is None and root["priority"] == "critical"
    assert bucket["category"] == "security_finding" and bucket["priority"] == "high"
    resolved = dict(s3, Workflow={"Status": "RESOLVED"})
    passed = dict(iam, Compliance={"Status": "PASSED"})
    intake_queue.put_aws("securityhub-findings-imported.json", findings=[resolved, passed])
    intake_queue.drain()
    assert by_key(s3["Id"])[0]["state"] == "resolved" and by_key(iam["Id"])[0]["state"] == "resolved"


def test_a_guardduty_finding_counts_as_the_service_counts(intake_queue):
    event = intake_queue.put_aws("guardduty-finding.json")
    intake_queue.drain()
    finding = event["detail"]["id"]
    (ticket,) = by_key(finding)
    assert (
        ticket["occurrence_count"] == 3 and ticket["tenant_id"] == "globex" and ticket["priority"] == "high"
    )
    service = dict(event["detail"]["service"], count=9)
    intake_queue.put_aws("guardduty-finding.json", service=service)
    intake_queue.drain()
    assert by_key(finding)[0]["occurrence_count"] == 9


def test_an_aws_health_event_opens_and_closed_resolves(intake_queue):
    event = intake_queue.put_aws("aws-health-event.json")
    intake_queue.drain()
    arn = event["detail"]["eventArn"]
    (ticket,) = by_key(arn)
    assert ticket["title"].startswith("EC2 AWS_EC2_OPERATIONAL_ISSUE: We are investigating")
    assert ticket["priority"] == "high"
    intake_queue.put_aws("aws-health-event.json", statusCode="closed")
    intake_queue.drain()
    assert by_key(arn)[0]["state"] == "resolved"


# ---- /v2/enqueue's queue messages -----------------------------------------------------------------


def test_an_enqueued_pagerduty_event_opens_in_the_integrations_tenant(intake_queue):
    detail = {
        "event_id": "01939b7e-0000-7000-8000-000000000001",
        "integration": {
            "id": "int-1",
            "name": "grafana",
            "tenant_id": "acme",
            "category": "pipeline_failure",
            "queue": "data-eng",
            "tags": ["grafana"],
        },
        "received_at": "2026-12-02T10:00:00+00:00",
        "event": {
            "routing_key": "x" * 32,
            "event_action": "trigger",
            "dedup_key": "grafana:orders-lag",
            "payload": {
                "summary": "orders consumer lag above 10k",
                "source": "grafana.acme.internal",
                "severity": "error",
                "component": "orders-consumer",
                "custom_details": {"lag": 12000},
            },
            "links": [{"href": "https://grafana.example/d/1", "text": "dashboard"}],
        },
    }
    attributes = {
        "event_id": {"DataType": "String", "StringValue": detail["event_id"]},
        "detail_type": {"DataType": "String", "StringValue": ENQUEUED_DETAIL_TYPE},
    }
    intake_queue.send_raw(json.dumps(detail), attributes)
    intake_queue.send_raw(json.dumps(detail), attributes)  # the relay sent it again
    assert intake_queue.drain() == [{"batchItemFailures": []}]
    (ticket,) = by_key("grafana:orders-lag")
    assert ticket["tenant_id"] == "acme" and ticket["queue"] == "data-eng" and ticket["tags"] == ["grafana"]
    assert (ticket["category"], ticket["priority"], ticket["source"]) == (
        "pipeline_failure",
        "high",
        "integration:grafana",
    )
    (occurrence,) = occurrences(ticket)
    assert occurrence["details"]["custom_details"] == {"lag": 12000}


# ---- bad input and failure -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("detail", "reason"),
    [
        ({"action": "trigger", "tenant_id": "acme"}, "a trigger needs a summary"),
        ({"summary": "x", "tenant_id": "ACME!"}, "tenant_id: Value error, not a tenant id"),
        ({"summary": "x", "severity": "fatal"}, "severity: Input should be"),
        ({"summary": "x", "dedup_key": "k" * 256}, "dedup_key: String should have at most 255"),
        ({"summary": "x" * 1025}, "summary: String should have at most 1024"),
        ({"summary": "x", "details": {"blob": "y" * 33000}}, "details are at most 32768 bytes"),
        ({"summary": "x", "occurred_at": "yesterday"}, "occurred_at: Input should be a valid datetime"),
        ({"summary": "x", "action": "snooze"}, "action: Input should be"),
    ],
)
def test_an_event_that_fails_its_schema_is_recorded_and_not_retried(intake_queue, detail, reason):
    intake_queue.put("platform.drr", "Dataset Late", detail)
    intake_queue.put("platform.drr", "Dataset Late", {"summary": "fine", "dedup_key": "fine"})
    assert intake_queue.drain() == [{"batchItemFailures": []}]
    assert len(by_key("fine")) == 1  # the good one of the batch went through
    result = invoke("GET", "/intake/rejections", caller=OPS)
    assert result.status == 200
    (rejection,) = result.body["items"]
    assert reason in rejection["reason"], rejection["reason"]
    assert (rejection["source"], rejection["detail_type"]) == ("platform.drr", "Dataset Late")
    assert len(rejection["payload_sha256"]) == 64 and len(rejection["payload_head"].encode()) <= 4096
    assert rejection["payload_bytes"] >= len(rejection["payload_head"].encode())


def test_unparseable_and_unknown_records_are_rejections_too(intake_queue):
    intake_queue.send_raw("not json")
    intake_queue.send_raw(json.dumps({"hello": "world"}))
    intake_queue.put("aws.ec2", "EC2 Instance State-change Notification", {"state": "stopped"}, bus="default")
    intake_queue.send_raw(
        json.dumps(
            {
                "version": "0",
                "id": "x",
                "detail-type": "Something",
                "source": "aws.kms",
                "account": "1",
                "time": "2026-12-02T10:00:00Z",
                "region": "eu-west-1",
                "resources": [],
                "detail": {},
            }
        )
    )
    assert intake_queue.drain() == [{"batchItemFailures": []}]
    reasons = sorted(r["reason"] for r in invoke("GET", "/intake/rejections", caller=OPS).body["items"])
    assert len(reasons) == 3  # the EC2 event matches no rule: it never reached the queue
    assert any("Invalid JSON" in r for r in reasons)
    assert any("not an EventBridge event" in r for r in reasons)
    assert any("does not take aws.kms" in r for r in reasons)


def test_rejections_are_for_platform_roles(intake_queue):
    assert invoke("GET", "/intake/rejections", caller=ALICE).status == 403


def test_a_database_failure_is_retried_not_rejected(intake_queue, monkeypatch, database):
    import psycopg

    from shared.intake import service

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise psycopg.OperationalError("the database went away")

    intake_queue.put("platform.health", "Readiness Check Failed", health("k"))
    intake_queue.put("platform.health", "Readiness Check Failed", health("k2"))
    monkeypatch.setattr(intake, "ingest", broken)
    event = intake_queue.receive()
    with pytest.raises(Exception, match="All records failed"):
        intake.handler(event, LambdaContext(function_name="intake"))
    monkeypatch.setattr(intake, "ingest", service.ingest)
    assert invoke("GET", "/intake/rejections", caller=OPS).body["items"] == []
    assert intake_queue.drain() == [{"batchItemFailures": []}]  # redelivered: now they go through
    assert len(by_key("k")) == 1 and len(by_key("k2")) == 1


# ---- the database holds one open ticket per fingerprint -------------------------------------------


def test_the_partial_unique_index_refuses_a_second_open_ticket(intake_queue, database):
    intake_queue.put("platform.health", "Readiness Check Failed", health("one"))
    intake_queue.put("platform.health", "Readiness Check Failed", health("one", action="resolve"))
    intake_queue.drain()
    with database.admin() as conn:  # past the reopen window: the next trigger opens a new ticket
        conn.execute("UPDATE ticket SET resolved_at = resolved_at - interval '1 hour'")
    intake_queue.put("platform.health", "Readiness Check Failed", health("one"))
    intake_queue.drain()
    newer, older = by_key("one")
    assert (newer["state"], older["state"]) == ("new", "resolved")
    # A person reopening the older ticket while the fingerprint has an open one: 409, by name.
    result = invoke(
        "POST",
        f"/tickets/{older['id']}/transitions",
        caller=OPS,
        body={"to": "in_progress", "reason": "again"},
    )
    assert result.status == 409 and "dedup key" in result.body["detail"], result.body
    with database.admin() as conn, pytest.raises(Exception, match="ticket_open_dedup_idx"):
        conn.execute("UPDATE ticket SET state = 'new' WHERE id = %s", (older["id"],))


def test_a_redelivered_rejection_is_recorded_once(intake_queue):
    intake_queue.send_raw('{"version": "0"')
    event = intake_queue.receive()
    for _ in range(2):  # SQS delivered it again before the first delete
        assert intake.handler(event, LambdaContext(function_name="intake")) == {"batchItemFailures": []}
    assert len(invoke("GET", "/intake/rejections", caller=OPS).body["items"]) == 1
