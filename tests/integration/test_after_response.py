"""The post-commit publish runs after the response: the Lambda internal extension's protocol.

The Lambda Extensions API is served here by a small HTTP server that speaks its wire format
(register → ``Lambda-Extension-Identifier``; ``event/next`` → an INVOKE event, blocking until
there is one), since no emulator of it exists for tests. What it records is what Lambda would
see: when the extension registered, and when it asked for its next event, i.e. when Lambda
would consider the invocation finished.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from local.events import LambdaContext, api_gateway_event, authorizer_context
from shared import aws, db
from shared.runtime import after_response
from tests.integration.conftest import ALICE, invoke

# The outbox, the audit chain and bounds are the subject here, not the SLA (test_sla.py).
pytestmark = pytest.mark.usefixtures("without_sla")

FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:ticketing-create-ticket"


class RuntimeApi:
    """The Extensions API endpoints an internal extension uses."""

    def __init__(self, *, register_status: int = 200) -> None:
        self.register_status = register_status
        self.registrations: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.next_calls: queue.Queue[float] = queue.Queue()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                assert self.path == "/2020-01-01/extension/register"
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                api.registrations.append((dict(self.headers.items()), body))
                self.send_response(api.register_status)
                if api.register_status == 200:
                    self.send_header("Lambda-Extension-Identifier", "ext-0001")
                self.send_header("Content-Type", "application/json")
                payload = json.dumps({"functionName": "ticketing-create-ticket"}).encode()
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                assert self.path == "/2020-01-01/extension/event/next"
                assert self.headers["Lambda-Extension-Identifier"] == "ext-0001"
                api.next_calls.put(time.monotonic())
                event = api.events.get()  # Lambda holds the call until the next invocation
                payload = json.dumps(event).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.address = f"127.0.0.1:{self.server.server_address[1]}"

    def invoke(self, request_id: str, *, timeout_s: float = 10.0) -> None:
        """Lambda starts an invocation: the extension's pending next call gets the INVOKE event."""
        self.events.put(
            {
                "eventType": "INVOKE",
                "deadlineMs": int((time.time() + timeout_s) * 1000),
                "requestId": request_id,
                "invokedFunctionArn": FUNCTION_ARN,
                "tracing": {"type": "X-Amzn-Trace-Id", "value": "Root=1-5f35ae5f-0c4e2b8e7f0a1b2c3d4e5f60"},
            }
        )

    def wait_next(self, timeout: float = 10.0) -> float:
        return self.next_calls.get(timeout=timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def runtime_api() -> Iterator[RuntimeApi]:
    api = RuntimeApi()
    try:
        yield api
    finally:
        extension = after_response._Registered.extension
        after_response._Registered.extension = None
        if extension is not None:
            db.close_all(every_thread=True)  # the extension thread's too, before that thread ends
            extension.stop()
            api.events.put({"eventType": "SHUTDOWN"})  # release its pending next call
        api.close()


def pending(database) -> int:
    with database.admin() as conn:
        return conn.execute("SELECT count(*) AS n FROM outbox WHERE published_at IS NULL").fetchone()["n"]


def create_event() -> dict[str, Any]:
    return api_gateway_event(
        method="POST",
        resource="/tickets",
        path="/tickets",
        body={"title": "Orders pipeline late", "category": "data_freshness", "priority": "high"},
        authorizer=authorizer_context(ALICE.sub, ALICE.tenant, ALICE.roles),
    )


def test_the_handler_returns_before_the_publish_and_lambda_waits_for_it(
    api, database, event_bus, runtime_api, monkeypatch
):
    from functions.create_ticket import handler as module

    assert after_response.start_extension(runtime_api.address)
    headers, body = runtime_api.registrations[0]
    assert headers["Lambda-Extension-Name"] == after_response.EXTENSION_NAME
    assert body == {"events": ["INVOKE"]}
    runtime_api.wait_next()  # registered and waiting, as at the end of init

    # EventBridge answers only when the test lets it: the handler must not be waiting for it.
    release, publishing = threading.Event(), threading.Event()
    real_put_events = aws.put_events

    def slow_put_events(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        publishing.set()
        assert release.wait(10)
        return real_put_events(entries)

    monkeypatch.setattr(aws, "put_events", slow_put_events)
    runtime_api.invoke("req-1")
    result = module.handler(
        create_event(), LambdaContext(function_name="create_ticket", aws_request_id="req-1")
    )

    assert result["statusCode"] == 201  # the response is back...
    assert publishing.wait(10)  # ...while the extension is publishing
    assert pending(database) == 1
    with pytest.raises(queue.Empty):
        runtime_api.wait_next(timeout=0.2)  # and Lambda still counts the invocation as running

    release.set()
    finished_at = runtime_api.wait_next()
    assert pending(database) == 0  # marked before the extension said it was done
    received = event_bus.received()
    assert [e["detail-type"] for e in received] == ["Ticket Created"]
    assert received[0]["detail"]["ticket_id"] == json.loads(result["body"])["id"]
    assert finished_at > 0


def test_an_invocation_that_defers_nothing_ends_at_once(api, database, event_bus, runtime_api):
    from functions.get_ticket import handler as module

    created = invoke("POST", "/tickets", caller=ALICE, body={"title": "Quota", "category": "quota"})
    assert after_response.start_extension(runtime_api.address)
    runtime_api.wait_next()
    runtime_api.invoke("req-2")
    event = api_gateway_event(
        method="GET",
        resource="/tickets/{ticket_id}",
        path=f"/tickets/{created.body['id']}",
        authorizer=authorizer_context(ALICE.sub, ALICE.tenant, ALICE.roles),
    )
    started = time.monotonic()
    assert module.handler(event, LambdaContext(aws_request_id="req-2"))["statusCode"] == 200
    assert runtime_api.wait_next() - started < 2


def test_a_publish_that_fails_after_the_response_is_left_to_the_relay(
    api, database, event_bus, runtime_api, monkeypatch
):
    from functions.create_ticket import handler as module

    assert after_response.start_extension(runtime_api.address)
    runtime_api.wait_next()

    def unreachable(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        raise ConnectionError("EventBridge unreachable")

    monkeypatch.setattr(aws, "put_events", unreachable)
    runtime_api.invoke("req-3")
    result = module.handler(create_event(), LambdaContext(aws_request_id="req-3"))
    assert result["statusCode"] == 201
    runtime_api.wait_next()  # the extension finished the invocation despite the failure
    assert pending(database) == 1  # committed, unpublished: the relay's to send


def test_the_extension_gives_up_waiting_before_the_deadline(runtime_api):
    extension = after_response.Extension(runtime_api.address, "ext-0001")
    started = time.monotonic()
    extension.serve_invocation("never-handed-over", time.time() + after_response._DEADLINE_MARGIN_S + 0.3)
    assert 0.2 < time.monotonic() - started < 2


def test_work_of_an_earlier_invocation_runs_before_the_current_one_ends(runtime_api):
    extension = after_response.Extension(runtime_api.address, "ext-0001")
    ran: list[str] = []

    def failing() -> None:
        raise RuntimeError("a task that fails")

    extension.hand_over("old", [lambda: ran.append("old")])
    extension.hand_over("new", [lambda: ran.append("new"), failing, lambda: ran.append("after")])
    extension.serve_invocation("new", time.time() + 5)
    assert ran == ["old", "new", "after"]  # a failing task is logged, the rest still run


def test_without_the_runtime_api_the_work_runs_before_the_handler_returns(api, database, event_bus):
    assert not after_response.start_extension(None)
    assert after_response.mode() is after_response.Mode.INLINE
    invoke("POST", "/tickets", caller=ALICE, body={"title": "Quota", "category": "quota"})
    assert pending(database) == 0
    assert [e["detail-type"] for e in event_bus.received()] == ["Ticket Created"]


def test_a_refused_registration_leaves_the_work_inline(runtime_api):
    runtime_api.register_status = 403
    assert not after_response.start_extension(runtime_api.address)
    assert after_response.mode() is after_response.Mode.INLINE


def test_a_host_runs_the_work_after_the_response(api, database, event_bus):
    after_response.host_this_thread()
    try:
        invoke("POST", "/tickets", caller=ALICE, body={"title": "Quota", "category": "quota"})
        assert pending(database) == 1  # the response is out; nothing published yet
        tasks = after_response.take_ready()
        assert len(tasks) == 1
        after_response.run(tasks)
    finally:
        after_response.host_this_thread(False)
    assert pending(database) == 0
    assert after_response.take_ready() == []
