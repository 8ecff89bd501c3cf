"""Webhook endpoints on the local stack over HTTP (issue 12 §1): ``make run`` allows receivers on
127.0.0.1 over plain http (its allow-list), and still refuses private and metadata addresses."""

from __future__ import annotations

import time
import uuid

import pytest
from standardwebhooks.webhooks import Webhook

from shared.webhooks import signing
from tests.e2e.conftest import Call, Stack

pytestmark = pytest.mark.e2e


def test_a_tenant_admin_registers_a_local_receiver(stack: Stack, call: Call) -> None:
    tenant = f"wh-{uuid.uuid4().hex[:8]}"
    admin = stack.token("anna", tenant=tenant, roles="tenant_admin")
    made = call(
        "POST",
        "/webhooks",
        token=admin,
        json={"url": "http://127.0.0.1:9/hooks", "event_types": ["ticket.created"]},
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["tenant_id"] == tenant and body["state"] == "enabled"
    headers = signing.headers([body["secret"]], "msg_e2e", int(time.time()), "{}")
    assert Webhook(body["secret"]).verify("{}", headers) == {}
    for url in ("http://10.0.0.1/hooks", "http://169.254.169.254/latest/meta-data/"):
        refused = call("POST", "/webhooks", token=admin, json={"url": url, "event_types": ["*"]})
        assert refused.status_code == 422, refused.text
        assert refused.headers["Content-Type"].startswith("application/problem+json")
        assert refused.json()["errors"][0]["loc"] == ["body", "url"]
    paused = call("POST", f"/webhooks/{body['id']}/pause", token=admin, json={"reason": "e2e"})
    assert paused.status_code == 200 and paused.json()["state"] == "paused"
    listed = call("GET", "/webhooks", token=admin).json()["items"]
    assert [w["id"] for w in listed] == [body["id"]] and "secret" not in listed[0]
