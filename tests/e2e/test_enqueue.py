"""The local stack over HTTP as a monitoring tool uses it: an integration made with a JWT, then
PagerDuty Events API v2 calls to POST /v2/enqueue without one, and the event on the intake queue."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import boto3
import pytest

from shared.intake.model import ENQUEUED_DETAIL_TYPE, EnqueuedEvent
from tests.e2e.conftest import Call, Stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def integration(stack: Stack, call: Call) -> dict[str, Any]:
    admin = stack.token("pat", roles="platform_admin")
    created = call(
        "POST",
        "/integrations",
        token=admin,
        json={"name": f"Alertmanager {uuid.uuid4().hex[:6]}", "tenant_id": "acme", "category": "health"},
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def intake_messages(stack: Stack, wait_s: float = 10.0) -> list[dict[str, Any]]:
    """What the intake queue holds (through the gateway: SigV4-signed calls go to the local AWS)."""
    sqs = boto3.session.Session().client(
        "sqs",
        endpoint_url=stack.url,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # moto's dummy credentials
    )
    url = sqs.get_queue_url(QueueName="ticketing-intake")["QueueUrl"]
    deadline = time.monotonic() + wait_s
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"]
        ).get("Messages", [])
        found.extend(batch)
        if found and not batch:
            break
    return found


def test_a_monitoring_tool_sends_an_event_without_a_token(stack: Stack, call: Call, integration) -> None:
    dedup_key = f"srv01/{uuid.uuid4().hex}"
    event = {
        "routing_key": integration["routing_key"],
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {"summary": "Disk full on db-1", "source": "db-1.example.com", "severity": "critical"},
    }
    # As curl sends it: -H 'Content-Type: application/json' -d '{...}', no Authorization.
    response = call(
        "POST", "/v2/enqueue", data=json.dumps(event), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 202, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {"status": "success", "message": "Event processed", "dedup_key": dedup_key}
    messages = [m for m in intake_messages(stack) if dedup_key in m["Body"]]
    assert len(messages) == 1, messages
    queued = EnqueuedEvent.model_validate_json(messages[0]["Body"])
    assert queued.integration.id == integration["id"] and queued.integration.tenant_id == "acme"
    assert queued.event["payload"]["summary"] == "Disk full on db-1"
    assert integration["routing_key"] not in messages[0]["Body"]
    assert messages[0]["MessageAttributes"]["detail_type"]["StringValue"] == ENQUEUED_DETAIL_TYPE


def test_a_bad_routing_key_is_refused_in_pagerdutys_shape(call: Call, integration) -> None:
    event = {"routing_key": "0" * 32, "event_action": "resolve", "dedup_key": "x"}
    if integration["routing_key"] == "0" * 32:
        event["routing_key"] = "1" * 32
    response = call("POST", "/v2/enqueue", json=event)
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json() == {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": ["Invalid routing key"],
    }
    malformed = call("POST", "/v2/enqueue", data="not json", headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400 and malformed.json()["errors"] == ["JSON parse error"]


def test_only_post_is_routed(call: Call) -> None:
    response = call("GET", "/v2/enqueue")
    assert response.status_code == 405 and response.headers["Allow"] == "POST"
