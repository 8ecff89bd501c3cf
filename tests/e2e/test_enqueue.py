"""The local stack over HTTP as a monitoring tool uses it: an integration made with a JWT, then
PagerDuty Events API v2 calls to POST /v2/enqueue without one, which the intake worker turns into
an incident of the integration's tenant (and resolves)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

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


def tickets_for(call: Call, token: str, dedup_key: str, wait_s: float = 30.0) -> list[dict[str, Any]]:
    """The tickets intake opened for ``dedup_key``, once there are any (the local stack's intake
    worker polls its queue)."""
    deadline = time.monotonic() + wait_s
    while True:
        found = call("GET", f"/tickets?dedup_key={dedup_key}", token=token)
        assert found.status_code == 200, found.text
        items: list[dict[str, Any]] = found.json()["items"]
        if items or time.monotonic() > deadline:
            return items
        time.sleep(0.5)


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
    # The intake worker turns it into an incident in the integration's tenant.
    olga = stack.token("olga", roles="platform_operator")
    (ticket,) = tickets_for(call, olga, dedup_key)
    assert (ticket["tenant_id"], ticket["kind"], ticket["category"]) == ("acme", "incident", "health")
    assert ticket["title"] == "Disk full on db-1" and ticket["priority"] == "critical"
    assert ticket["source"] == f"integration:{integration['name']}"
    resolve = {"routing_key": integration["routing_key"], "event_action": "resolve", "dedup_key": dedup_key}
    assert call("POST", "/v2/enqueue", json=resolve).status_code == 202
    deadline = time.monotonic() + 30
    while tickets_for(call, olga, dedup_key)[0]["state"] != "resolved":
        assert time.monotonic() < deadline, "the resolve event did not resolve the ticket"
        time.sleep(0.5)


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
