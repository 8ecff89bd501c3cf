"""The SLA on the local stack over HTTP (issue 11 §5): a policy with a 1-minute first-response
target, written through the API, breaches a new ticket on time; the timer queue's delay, the timer
worker and the sweeper are the local stack's own, and the events appear in the ticket's trail."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime
from typing import Any

import boto3
import pytest

from tests.e2e.conftest import Call, Stack

pytestmark = pytest.mark.e2e


def test_a_one_minute_first_response_target_breaches_on_time(stack: Stack, call: Call) -> None:
    admin = stack.token("pat", roles="platform_admin")
    olga = stack.token("olga", roles="platform_operator")
    tenant = f"sla-{uuid.uuid4().hex[:8]}"
    # The embedded database outlives a run: an earlier run's policy may hold the first position.
    for old in call("GET", "/sla-policies", token=admin).json()["items"]:
        if old["id"].startswith("sla-"):
            assert call("DELETE", f"/sla-policies/{old['id']}", token=admin).status_code == 200
    policy = call(
        "POST",
        "/sla-policies",
        token=admin,
        json={
            "id": tenant,
            "position": 1,
            "name": "One minute",
            "match": {"tenant_id": [tenant]},
            "first_response_minutes": 1,
            "escalation": [{"at": "breach", "notify": ["role:platform_operator"]}],
        },
    )
    assert policy.status_code == 201, policy.text
    time.sleep(1.1)  # other warm handlers see a policy change within a second
    created = call(
        "POST",
        "/tickets",
        token=olga,
        json={"title": "Orders late", "category": "data_freshness", "tenant_id": tenant},
    )
    assert created.status_code == 201, created.text
    ticket = created.json()
    first = ticket["sla"]["first_response"]
    assert ticket["sla"]["policy_id"] == tenant and first["state"] == "running"
    due = datetime.fromisoformat(first["due_at"])
    assert (due - datetime.fromisoformat(ticket["created_at"])).total_seconds() == 60

    deadline = time.monotonic() + 90
    while True:
        trail = call("GET", f"/tickets/{ticket['id']}/events", token=olga).json()["items"]
        types = [e["type"] for e in trail]
        if "sla.breached" in types or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert types[:2] == ["ticket.created", "sla.applied"], stack.console_tail()
    assert "sla.at_risk" in types and "sla.breached" in types and "sla.escalated" in types, types
    breached = next(e for e in trail if e["type"] == "sla.breached")
    at_risk = next(e for e in trail if e["type"] == "sla.at_risk")
    # On time: the local stack honours the queue's delay and polls its worker every tenth of a second.
    assert breached["changes"]["late_s"] <= 2.5 and at_risk["changes"]["late_s"] <= 2.5, breached
    assert datetime.fromisoformat(breached["changes"]["breached_at"]) == due
    read: dict[str, Any] = call("GET", f"/tickets/{ticket['id']}", token=olga).json()
    assert read["sla"]["status"] == "breached" and read["sla_escalation_level"] == 1
    listed = call("GET", f"/tickets?tenant_id={tenant}&sla_status=breached", token=olga).json()["items"]
    assert [t["id"] for t in listed] == [ticket["id"]]

    # The operator functions answer through the AWS CLI's protocol too.
    client = boto3.client(
        "lambda",
        endpoint_url=stack.url,
        region_name="eu-west-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    answer = client.invoke(
        FunctionName="ticketing-backfill-sla-timers", Payload=json.dumps({"dry_run": True})
    )
    assert "FunctionError" not in answer
    assert all(step["ticket"] != ticket["key"] for step in json.loads(answer["Payload"].read())["steps"])
    repaired = client.invoke(
        FunctionName="ticketing-sla-repair", Payload=json.dumps({"ticket": ticket["key"], "dry_run": True})
    )
    result = json.loads(repaired["Payload"].read())
    assert result["differing"] == 0, result["tickets"]
