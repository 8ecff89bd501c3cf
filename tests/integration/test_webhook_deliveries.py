"""Webhook deliveries (issue 12 §2-§5): ticket changes fanned out to endpoints, signed (verified
with the ``standardwebhooks`` library), POSTed to a real receiver on loopback, retried on the
schedule, dead-lettered and re-driven, held while an endpoint is paused or disabled, replayed,
retried one by one, tested; the delivery log; endpoint health; tenant scoping of what is sent.

The dispatcher runs as in AWS: its handler gets real SQS events of the messages the functions
(and the dispatcher itself) sent to moto's webhook queue."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook

from functions.webhook_dispatch import handler as dispatcher
from local.events import LambdaContext, sqs_event_of
from shared import aws, db, outbox
from shared.auth import Principal
from shared.runtime import entrypoints
from shared.webhooks import deliveries
from tests.conftest import Bus, Database
from tests.integration.conftest import ADMIN, ALICE, ANNA, GREG, OPS, Caller, create_ticket

GINA = Caller("gina", "globex", ["tenant_admin"])


# ---- a receiver on loopback --------------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str
    at: float


@dataclass
class Receiver:
    """Records every request; answers each path from its script (then 200), optionally slowly."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    scripts: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    delay_s: float = 0.0
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *answers: int | tuple[int, dict[str, str]]) -> None:
        self.scripts[path] = [a if isinstance(a, tuple) else (a, {}) for a in answers]

    def at(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            with state.lock:
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
                state.requests.append(Received(self.path, dict(self.headers.items()), body, time.time()))
                script = state.scripts.get(self.path) or []
                status, headers = script.pop(0) if script else (200, {})
            if state.delay_s:
                time.sleep(state.delay_s)
            payload = b"ok" if status < 300 else b'{"error": "nope"}' + b"x" * 2000
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            with state.lock:
                state.in_flight -= 1

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def hooks(api: Any, event_bus: Bus, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Bus:
    """The API and the dispatcher, delivering to loopback (as ``make run``), retrying after 1 s."""
    monkeypatch.setenv("WEBHOOK_REQUIRE_HTTPS", "false")
    monkeypatch.setenv("WEBHOOK_ALLOW_LOOPBACK", "127.0.0.1")
    monkeypatch.setenv("WEBHOOK_RETRY_SCHEDULE", "1,1")
    entrypoints.reset()
    return event_bus


def register(api: Any, url: str, caller: Caller = ANNA, **body: Any) -> dict[str, Any]:
    """An endpoint for ``ticket.created`` (opening a ticket also applies its SLA: ``sla.applied``),
    unless ``event_types`` says otherwise."""
    body = {"url": url, "event_types": ["ticket.created"], **body}
    result = api("POST", "/webhooks", caller=caller, body=body)
    assert result.status == 201, result.body
    created: dict[str, Any] = result.body
    return created


def pump(bus: Bus, *, until: Any = None, timeout_s: float = 15.0) -> list[dict[str, Any]]:
    """Run the dispatcher over its queue's visible messages until it is empty (and ``until()``
    holds, waiting for delayed messages); the batch results."""
    sqs = aws.client("sqs")
    results: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        messages = sqs.receive_message(
            QueueUrl=bus.webhook_queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            if until is None or until():
                return results
            time.sleep(0.2)
            continue
        result = dispatcher.handler(sqs_event_of(messages), LambdaContext(function_name="webhook_dispatch"))
        results.append(result)
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=bus.webhook_queue_url, ReceiptHandle=message["ReceiptHandle"])
    raise AssertionError("the webhook queue did not settle in time")


def verify(endpoint: dict[str, Any], request: Received) -> dict[str, Any]:
    """The body, verified as a Standard Webhooks receiver does (raises if the signature is wrong)."""
    verified: dict[str, Any] = StandardWebhook(endpoint["secret"]).verify(request.body, request.headers)
    return verified


def log(api: Any, endpoint: dict[str, Any], caller: Caller = ANNA, query: str = "") -> list[dict[str, Any]]:
    result = api("GET", f"/webhooks/{endpoint['id']}/deliveries{query}", caller=caller)
    assert result.status == 200, result.body
    items: list[dict[str, Any]] = result.body["items"]
    return items


def admin_sql(database: Database, statement: str, params: Any = None) -> list[dict[str, Any]]:
    with database.admin() as conn:
        return list(conn.execute(statement, params).fetchall())


# ---- fan-out, signing, bodies ------------------------------------------------------------------------------


def test_a_new_ticket_reaches_its_tenants_endpoint_signed_and_no_other_tenants(
    api: Any, hooks: Bus, receiver: Receiver
) -> None:
    acme = register(api, receiver.url("/acme"))
    globex = register(api, receiver.url("/globex"), caller=GINA)
    platform = register(api, receiver.url("/platform"), caller=ADMIN)
    ticket = create_ticket(ALICE)
    pump(hooks)
    (request,) = receiver.at("/acme")
    body = verify(acme, request)
    assert body["type"] == "ticket.created"
    assert body["data"]["id"] == ticket["id"] and body["data"]["version"] == ticket["version"]
    assert body["data"]["key"] == ticket["key"] and body["data"]["tenant_id"] == "acme"
    datetime.fromisoformat(body["timestamp"])
    assert request.headers["webhook-id"].startswith("msg_")
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
    assert request.headers["Content-Type"] == "application/json"
    assert receiver.at("/globex") == []  # another tenant's ticket
    assert [verify(platform, r)["type"] for r in receiver.at("/platform")] == ["ticket.created"]
    # The log shows it: one attempt, 200, its latency and body.
    (delivery,) = log(api, acme)
    assert delivery["status"] == "succeeded" and delivery["msg_id"] == request.headers["webhook-id"]
    assert delivery["event_type"] == "ticket.created" and delivery["ticket_id"] == ticket["id"]
    (attempt,) = delivery["attempts"]
    assert (
        attempt["status"] == 200 and attempt["outcome"] == "succeeded" and attempt["trigger"] == "scheduled"
    )
    assert attempt["response_body"] == "ok" and attempt["latency_ms"] >= 0 and attempt["error"] is None
    assert log(api, globex, caller=GINA) == []
    # A second ticket of globex's reaches globex only.
    create_ticket(GREG)
    pump(hooks)
    assert len(receiver.at("/globex")) == 1 and len(receiver.at("/acme")) == 1


def test_internal_comments_and_platform_only_tickets_never_reach_a_tenant(
    api: Any, hooks: Bus, receiver: Receiver
) -> None:
    acme = register(api, receiver.url("/acme"), event_types=["ticket.commented", "ticket.created"])
    platform = register(api, receiver.url("/platform"), caller=ADMIN, event_types=["ticket.commented"])
    ticket = create_ticket(ALICE)
    pump(hooks)
    assert len(receiver.at("/acme")) == 1  # ticket.created
    for visibility, body in (("internal", "root cause: the ops runbook was wrong"), ("public", "On it.")):
        result = api(
            "POST",
            f"/tickets/{ticket['id']}/comments",
            caller=OPS,
            body={"body": body, "visibility": visibility},
        )
        assert result.status == 201, result.body
    pump(hooks)
    tenant_seen = [verify(acme, r) for r in receiver.at("/acme")][1:]
    assert [(b["type"], b["data"]["body"]) for b in tenant_seen] == [("ticket.commented", "On it.")]
    assert (
        tenant_seen[0]["data"]["ticket_id"] == ticket["id"] and tenant_seen[0]["data"]["ticket_version"] >= 1
    )
    assert "root cause" not in "".join(r.body for r in receiver.at("/acme"))
    platform_seen = sorted(verify(platform, r)["data"]["visibility"] for r in receiver.at("/platform"))
    assert platform_seen == ["internal", "public"]
    # A platform-only ticket: the platform's endpoint only.
    register(api, receiver.url("/acme-all"))
    create_ticket(OPS, visibility="platform_only", tenant_id="acme")
    pump(hooks)
    assert receiver.at("/acme-all") == []


def test_event_types_filter_and_an_assignment_is_its_own_type(
    api: Any, hooks: Bus, receiver: Receiver
) -> None:
    states = register(api, receiver.url("/states"), event_types=["ticket.state_changed"])
    assigned = register(
        api, receiver.url("/assigned"), caller=ADMIN, event_types=["ticket.assigned", "ticket.updated"]
    )
    ticket = create_ticket(ALICE)
    result = api(
        "PATCH",
        f"/tickets/{ticket['id']}",
        caller=OPS,
        body={"assignee": "olga", "priority": "critical"},
    )
    assert result.status == 200, result.body
    result = api("POST", f"/tickets/{ticket['id']}/transitions", caller=OPS, body={"to": "ack"})
    assert result.status == 200, result.body
    pump(hooks)
    assert [verify(states, r)["data"]["state"] for r in receiver.at("/states")] == ["ack"]
    seen = sorted(verify(assigned, r)["type"] for r in receiver.at("/assigned"))
    assert seen == ["ticket.assigned", "ticket.updated"]
    # Both carry the ticket's version, so a receiver can order them.
    versions = {verify(assigned, r)["data"]["version"] for r in receiver.at("/assigned")}
    assert versions and all(isinstance(v, int) for v in versions)


# ---- retries, dead letters, re-drive -----------------------------------------------------------------------


def test_a_failed_attempt_is_retried_with_the_same_webhook_id_and_a_fresh_signature(
    api: Any, hooks: Bus, receiver: Receiver
) -> None:
    endpoint = register(api, receiver.url("/flaky"))
    receiver.script("/flaky", 500)
    create_ticket(ALICE)
    pump(hooks, until=lambda: len(receiver.at("/flaky")) >= 2)
    first, second = receiver.at("/flaky")
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    verify(endpoint, first), verify(endpoint, second)
    (delivery,) = log(api, endpoint)
    assert delivery["status"] == "succeeded" and delivery["attempt_count"] == 2
    failed, ok = delivery["attempts"]
    assert failed["status"] == 500 and failed["outcome"] == "failed"
    assert len(failed["response_body"]) == 1024  # the first 1 KB only
    assert ok["status"] == 200
    got = api("GET", f"/webhooks/{endpoint['id']}", caller=ANNA).body
    assert got["failing_since"] is None  # the success cleared it
    assert api("GET", "/webhooks?failing=true", caller=OPS).body["items"] == []


def test_exhausted_retries_fail_the_delivery_onto_the_dlq_and_a_redrive_sends_it_again(
    api: Any, hooks: Bus, receiver: Receiver
) -> None:
    endpoint = register(api, receiver.url("/down"))
    receiver.script("/down", 500, 503, (404, {}))  # the first attempt and both retries (schedule 1,1)
    create_ticket(ALICE)
    pump(hooks, until=lambda: len(receiver.at("/down")) >= 3)
    pump(hooks)
    (delivery,) = log(api, endpoint, query="?status=failed")
    assert [a["status"] for a in delivery["attempts"]] == [500, 503, 404]
    failing = api("GET", "/webhooks?failing=true", caller=OPS).body["items"]
    assert [w["id"] for w in failing] == [endpoint["id"]] and failing[0]["failing_since"]
    assert delivery["next_attempt_at"] is None
    sqs = aws.client("sqs")
    (dead,) = sqs.receive_message(
        QueueUrl=hooks.webhook_dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    letter = json.loads(dead["Body"])
    assert (
        letter["delivery_id"] == delivery["id"]
        and letter["reason"] == "3 attempts failed; the last: HTTP 404"
    )
    # ticketing-replay-dlq puts it back on the webhook queue: the schedule starts over.
    sqs.send_message(QueueUrl=hooks.webhook_queue_url, MessageBody=dead["Body"])
    pump(hooks)
    assert len(receiver.at("/down")) == 4
    (delivery,) = log(api, endpoint)
    assert delivery["status"] == "succeeded" and delivery["attempts"][-1]["trigger"] == "redrive"
    assert len({r.headers["webhook-id"] for r in receiver.at("/down")}) == 1
    # The same dead letter again finds nothing to do.
    sqs.send_message(QueueUrl=hooks.webhook_queue_url, MessageBody=dead["Body"])
    pump(hooks)
    assert len(receiver.at("/down")) == 4


def test_throttling_honours_retry_after(api: Any, hooks: Bus, receiver: Receiver) -> None:
    endpoint = register(api, receiver.url("/busy"))
    receiver.script("/busy", (429, {"Retry-After": "120"}))
    create_ticket(ALICE)
    pump(hooks)
    (delivery,) = log(api, endpoint)
    assert delivery["status"] == "pending" and delivery["attempts"][0]["outcome"] == "throttled"
    due = datetime.fromisoformat(delivery["next_attempt_at"])
    assert timedelta(seconds=110) < due - datetime.now(UTC) <= timedelta(seconds=121)


def test_a_retry_beyond_fifteen_minutes_waits_for_the_sweeper(
    api: Any, hooks: Bus, receiver: Receiver, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_RETRY_SCHEDULE", "7200")
    entrypoints.reset()
    endpoint = register(api, receiver.url("/later"))
    receiver.script("/later", 500)
    create_ticket(ALICE)
    pump(hooks)
    (row,) = admin_sql(database, "SELECT id, next_attempt_at, enqueued_at FROM webhook_delivery")
    assert row["enqueued_at"] is None  # nothing on the queue: SQS delays 15 minutes at most
    assert row["next_attempt_at"] - datetime.now(UTC) > timedelta(minutes=100)
    with db.transaction(Principal.system("test")) as uow:
        early = deliveries.sweep(uow, now=datetime.now(UTC))
    assert early.enqueued == 0
    # Two hours later (the row says so): the sweeper sends it.
    admin_sql(database, "UPDATE webhook_delivery SET next_attempt_at = now() RETURNING id")
    with db.transaction(Principal.system("test")) as uow:
        swept = deliveries.sweep(uow, now=datetime.now(UTC))
    assert swept.enqueued == 1
    outbox.publish_committed(outbox.take_committed(), entrypoints.services(dispatcher.SPEC).publishers)
    with db.transaction(Principal.system("test")) as uow:
        assert deliveries.sweep(uow, now=datetime.now(UTC)).enqueued == 0  # its message is on the way
    pump(hooks)
    (delivery,) = log(api, endpoint)
    assert delivery["status"] == "succeeded" and [a["status"] for a in delivery["attempts"]] == [500, 200]


# ---- endpoint state and health -----------------------------------------------------------------------------


def test_a_paused_endpoints_deliveries_wait_and_go_out_on_resume(
    api: Any, hooks: Bus, receiver: Receiver
) -> None:
    endpoint = register(api, receiver.url("/paused"))
    assert api("POST", f"/webhooks/{endpoint['id']}/pause", caller=ANNA, body={}).status == 200
    create_ticket(ALICE)
    create_ticket(ALICE)
    pump(hooks)
    assert receiver.at("/paused") == []
    waiting = log(api, endpoint)
    assert len(waiting) == 2 and all(d["waiting"] and d["status"] == "pending" for d in waiting)
    assert api("POST", f"/webhooks/{endpoint['id']}/resume", caller=ANNA).status == 200
    pump(hooks)
    assert len(receiver.at("/paused")) == 2
    assert all(d["status"] == "succeeded" for d in log(api, endpoint))
    assert {d["attempts"][0]["trigger"] for d in log(api, endpoint)} == {"resume"}


def test_410_disables_the_endpoint_announces_it_and_resume_sends_what_waited(
    api: Any, hooks: Bus, receiver: Receiver, database: Database
) -> None:
    endpoint = register(api, receiver.url("/gone"))
    receiver.script("/gone", 410)
    create_ticket(ALICE)
    pump(hooks)
    got = api("GET", f"/webhooks/{endpoint['id']}", caller=ANNA).body
    assert got["state"] == "disabled" and "410" in got["state_reason"]
    (delivery,) = log(api, endpoint)
    assert delivery["waiting"] and delivery["attempts"][0]["outcome"] == "gone"
    outbox.relay(entrypoints.services(dispatcher.SPEC).publishers)
    disabled = [e["detail"] for e in hooks.received() if e["detail-type"] == "Webhook Endpoint Disabled"]
    assert [d["webhook_id"] for d in disabled] == [endpoint["id"]]
    assert disabled[0]["reason"].startswith("The endpoint answered 410") and disabled[0]["owner"] == "anna"
    changes = admin_sql(
        database,
        "SELECT action, actor FROM config_change WHERE entity_id = %s ORDER BY id",
        (endpoint["id"],),
    )
    assert changes[-1] == {"action": "disable", "actor": "system:webhook_dispatch"}
    assert api("POST", f"/webhooks/{endpoint['id']}/resume", caller=ANNA).status == 200
    pump(hooks)
    assert len(receiver.at("/gone")) == 2
    assert log(api, endpoint)[0]["status"] == "succeeded"


def test_an_endpoint_failing_for_five_days_is_disabled(
    api: Any, hooks: Bus, receiver: Receiver, database: Database
) -> None:
    endpoint = register(api, receiver.url("/sick"))
    receiver.script("/sick", 500)
    admin_sql(
        database,
        "UPDATE webhook_endpoint SET failing_since = now() - interval '5 days 1 hour'"
        " WHERE id = %s RETURNING id",
        (endpoint["id"],),
    )
    create_ticket(ALICE)
    pump(hooks)
    got = api("GET", f"/webhooks/{endpoint['id']}", caller=ANNA).body
    assert got["state"] == "disabled" and "5 days" in got["state_reason"]
    # The sweeper disables one that has no attempt to make, too.
    other = register(api, receiver.url("/quiet"))
    admin_sql(
        database,
        "UPDATE webhook_endpoint SET failing_since = now() - interval '6 days' WHERE id = %s RETURNING id",
        (other["id"],),
    )
    with db.transaction(Principal.system("test")) as uow:
        assert deliveries.sweep(uow, now=datetime.now(UTC)).disabled == 1
    assert api("GET", f"/webhooks/{other['id']}", caller=ANNA).body["state"] == "disabled"


def test_the_url_is_vetted_again_at_delivery(
    api: Any, hooks: Bus, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = register(api, receiver.url("/loop"))
    monkeypatch.setenv("WEBHOOK_ALLOW_LOOPBACK", "")  # as in AWS: loopback is never a receiver
    entrypoints.reset()
    create_ticket(ALICE)
    pump(hooks)
    assert receiver.at("/loop") == []
    (delivery,) = log(api, endpoint)
    attempt = delivery["attempts"][0]
    assert attempt["outcome"] == "refused" and attempt["status"] is None and "refused" in attempt["error"]


def test_one_endpoint_gets_at_most_four_requests_at_once(api: Any, hooks: Bus, receiver: Receiver) -> None:
    register(api, receiver.url("/slow"))
    receiver.delay_s = 0.5
    for _ in range(8):
        create_ticket(ALICE)
    pump(hooks, until=lambda: len(receiver.at("/slow")) >= 8, timeout_s=30)
    assert len(receiver.at("/slow")) == 8
    assert receiver.max_in_flight <= deliveries.DEFAULT_MAX_IN_FLIGHT


# ---- the log, retry, replay, test --------------------------------------------------------------------------


def test_the_log_pages_filters_and_is_scoped(api: Any, hooks: Bus, receiver: Receiver) -> None:
    endpoint = register(api, receiver.url("/log"))
    for _ in range(3):
        create_ticket(ALICE)
    pump(hooks)
    first = api("GET", f"/webhooks/{endpoint['id']}/deliveries?limit=2", caller=ANNA).body
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = api(
        "GET", f"/webhooks/{endpoint['id']}/deliveries?limit=2&cursor={first['next_cursor']}", caller=ANNA
    ).body
    ids = [d["id"] for d in first["items"] + rest["items"]]
    assert len(ids) == 3 and ids == sorted(ids, reverse=True) and rest["next_cursor"] is None
    assert log(api, endpoint, query="?status=failed") == []
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert log(api, endpoint, query=f"?since={future}") == []
    one = api("GET", f"/webhooks/{endpoint['id']}/deliveries/{ids[0]}", caller=OPS)
    assert one.status == 200 and one.body["body"]["type"] == "ticket.created"
    # Another tenant's admin, a tenant user: 404 and 403.
    assert api("GET", f"/webhooks/{endpoint['id']}/deliveries", caller=GINA).status == 404
    assert api("GET", f"/webhooks/{endpoint['id']}/deliveries/{ids[0]}", caller=GINA).status == 404
    assert api("GET", f"/webhooks/{endpoint['id']}/deliveries", caller=ALICE).status == 403
    assert api("GET", f"/webhooks/{endpoint['id']}/deliveries/not-a-uuid", caller=ANNA).status == 404
    bad = api("GET", f"/webhooks/{endpoint['id']}/deliveries?status=lost", caller=ANNA)
    assert bad.status == 400 and bad.content_type == "application/problem+json"


def test_retry_one_and_replay_a_range_resend_with_the_same_ids(
    api: Any, hooks: Bus, receiver: Receiver, database: Database
) -> None:
    endpoint = register(api, receiver.url("/replay"))
    since = datetime.now(UTC) - timedelta(seconds=1)
    for _ in range(3):
        create_ticket(ALICE)
    pump(hooks)
    sent = [r.headers["webhook-id"] for r in receiver.at("/replay")]
    assert len(sent) == 3
    newest = log(api, endpoint)[0]
    retried = api("POST", f"/webhooks/{endpoint['id']}/deliveries/{newest['id']}/retry", caller=ANNA)
    assert retried.status == 202 and retried.body["status"] == "pending"
    pump(hooks)
    assert receiver.at("/replay")[-1].headers["webhook-id"] == newest["msg_id"]
    job = api(
        "POST",
        f"/webhooks/{endpoint['id']}/replay",
        caller=OPS,
        body={"since": since.isoformat()},
        headers={"Idempotency-Key": "replay-1"},
    )
    assert job.status == 202, job.body
    assert job.headers["Location"] == f"/webhooks/{endpoint['id']}/replays/{job.body['id']}"
    assert job.body["state"] == "queued" and job.body["total"] == 3
    again = api(
        "POST",
        f"/webhooks/{endpoint['id']}/replay",
        caller=OPS,
        body={"since": since.isoformat()},
        headers={"Idempotency-Key": "replay-1"},
    )
    assert again.body["id"] == job.body["id"]
    pump(hooks)
    progress = api("GET", job.headers["Location"], caller=ANNA).body
    assert progress["state"] == "completed" and progress["replayed"] == 3 and progress["completed_at"]
    replayed = [r.headers["webhook-id"] for r in receiver.at("/replay")[4:]]
    assert sorted(replayed) == sorted(sent)
    assert all(d["attempts"][-1]["trigger"] == "replay" for d in log(api, endpoint))
    bad = api("POST", f"/webhooks/{endpoint['id']}/replay", caller=ANNA, body={"since": "yesterday"})
    assert bad.status == 422
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    backwards = api("POST", f"/webhooks/{endpoint['id']}/replay", caller=ANNA, body={"since": later})
    assert backwards.status == 422
    assert api("GET", f"/webhooks/{endpoint['id']}/replays/{job.body['id']}", caller=GINA).status == 404


def test_a_test_event_is_signed_and_logged(api: Any, hooks: Bus, receiver: Receiver) -> None:
    endpoint = register(api, receiver.url("/test"))
    result = api("POST", f"/webhooks/{endpoint['id']}/test", caller=ANNA)
    assert result.status == 202, result.body
    assert result.body["event_type"] == "webhook.test"
    pump(hooks)
    (request,) = receiver.at("/test")
    body = verify(endpoint, request)
    assert body["type"] == "webhook.test" and body["data"]["webhook_id"] == endpoint["id"]
    assert api("POST", f"/webhooks/{endpoint['id']}/test", caller=ALICE).status == 403


def test_both_secrets_sign_during_a_rotation(api: Any, hooks: Bus, receiver: Receiver) -> None:
    endpoint = register(api, receiver.url("/rotating"))
    rotated = api("POST", f"/webhooks/{endpoint['id']}/rotate-secret", caller=ANNA).body
    create_ticket(ALICE)
    pump(hooks)
    (request,) = receiver.at("/rotating")
    assert len(request.headers["webhook-signature"].split()) == 2
    verify(endpoint, request)  # the old secret still verifies
    verify(rotated, request)  # and the new one


def test_a_malformed_message_is_refused_not_retried(hooks: Bus, database: Database) -> None:
    aws.client("sqs").send_message(QueueUrl=hooks.webhook_queue_url, MessageBody='{"generation": 3}')
    results = pump(hooks)
    assert results[0]["batchItemFailures"] == []
    (refused,) = admin_sql(database, "SELECT reason FROM inbound_message WHERE status = 'refused'")
    assert "DispatchMessage" in refused["reason"]


def test_the_sweeper_forgets_deliveries_after_thirty_days(
    api: Any, hooks: Bus, receiver: Receiver, database: Database
) -> None:
    endpoint = register(api, receiver.url("/old"))
    create_ticket(ALICE)
    create_ticket(ALICE)
    pump(hooks)
    admin_sql(
        database,
        "UPDATE webhook_delivery SET created_at = now() - interval '31 days'"
        " WHERE id = (SELECT id FROM webhook_delivery ORDER BY id LIMIT 1) RETURNING id",
    )
    with db.transaction(Principal.system("test")) as uow:
        assert deliveries.sweep(uow, now=datetime.now(UTC)).purged == 1
    assert len(log(api, endpoint)) == 1
    assert admin_sql(database, "SELECT count(*) AS n FROM webhook_attempt")[0]["n"] == 1
