"""Webhook endpoints on the local stack over HTTP (issue 12 §1): ``make run`` allows receivers on
127.0.0.1 over plain http (its allow-list), and still refuses private and metadata addresses."""

from __future__ import annotations

import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        type(self).received.append((dict(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_a_ticket_change_is_delivered_signed_to_a_local_receiver(stack: Stack, call: Call) -> None:
    """The whole path on ``make run``: the create's post-commit publish copies the event to the
    webhook queue, the dispatcher (polled as Lambda's event source mapping would) fans it out and
    POSTs it; the delivery log shows the attempt; a test event follows the same way."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        tenant = f"wh-{uuid.uuid4().hex[:8]}"
        admin = stack.token("anna", tenant=tenant, roles="tenant_admin")
        user = stack.token("alice", tenant=tenant, roles="tenant_user")
        port = server.server_address[1]
        made = call(
            "POST",
            "/webhooks",
            token=admin,
            json={"url": f"http://127.0.0.1:{port}/hooks", "event_types": ["ticket.created", "webhook.test"]},
        )
        assert made.status_code == 201, made.text
        endpoint = made.json()
        ticket = call(
            "POST",
            "/tickets",
            token=user,
            json={"title": "orders pipeline late", "category": "pipeline_failure", "priority": "high"},
        ).json()
        tested = call("POST", f"/webhooks/{endpoint['id']}/test", token=admin)
        assert tested.status_code == 202, tested.text
        deadline = time.monotonic() + 30
        while len(_Receiver.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        bodies = sorted(
            (Webhook(endpoint["secret"]).verify(body, headers) for headers, body in _Receiver.received),
            key=lambda b: b["type"],
        )
        assert [b["type"] for b in bodies] == ["ticket.created", "webhook.test"]
        assert bodies[0]["data"]["id"] == ticket["id"]
        logged = call("GET", f"/webhooks/{endpoint['id']}/deliveries", token=admin).json()["items"]
        assert {d["status"] for d in logged} == {"succeeded"}
        assert {d["attempts"][0]["status"] for d in logged} == {204}
    finally:
        server.shutdown()
        server.server_close()
