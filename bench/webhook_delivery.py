"""Webhook deliveries on the local stack (issue 12 §7): latency, throughput, signatures.

Starts ``make run``'s stack (``python -m local.run``, its own embedded PostgreSQL) and a receiver on
loopback (a threaded HTTP server answering 204), registers a tenant admin's endpoint for
``ticket.created`` and ``ticket.updated``, and measures:

- **latency**: ``--changes`` ticket changes (``PATCH /tickets/{id}``, one every ``--pace`` seconds)
  from the moment the request is sent until the receiver has the delivery of that change (the
  ticket's version in the body tells which): p50, p99 and max. The path is the whole one: the
  change's post-commit publish copies the event to the webhook queue, the dispatcher fans it out,
  sends itself the attempt, and POSTs it;
- **throughput**: every delivery made so far (``--tickets`` new tickets and the changes) replayed
  at once (``POST /webhooks/{id}/replay``), deliveries per second from the replay's request to
  the last arrival, against a bare loop in this process that POSTs the same bodies (read from
  the database), with the same headers, to the same receiver, one after another on one kept-alive
  connection; the ratio dispatcher / bare loop;
- **signatures**: every request the receiver got, verified with the ``standardwebhooks`` library
  and the endpoint's secret; how many verified.

    .venv/bin/python -m bench.webhook_delivery [--tickets 500] [--changes 200] [--pace 0.05]
"""

from __future__ import annotations

import argparse
import http.client
import json
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from bench import common
from bench.enqueue_latency import local_stack, token

DATABASE = "bench_webhooks"
TENANT = "bench-hooks"
CLIENTS = 4


@dataclass
class Arrival:
    path: str
    at: float
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    arrivals: list[Arrival] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def count(self) -> int:
        with self.lock:
            return len(self.arrivals)

    def wait_for(self, total: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self.changed:
            while self.count() < total:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(min(left, 0.5))
        return True


def serve(receiver: Receiver) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            arrived = time.time()
            with receiver.lock:
                receiver.arrivals.append(Arrival(self.path, arrived, dict(self.headers.items()), body))
            with receiver.changed:
                receiver.changed.notify_all()
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def bare_loop(port: int, requests_to_send: list[tuple[dict[str, str], bytes]]) -> float:
    """The same bodies and headers POSTed one after another on one kept-alive connection: per second."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    started = time.perf_counter()
    for headers, body in requests_to_send:
        conn.request("POST", "/bare", body=body, headers={**headers, "Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        assert 200 <= response.status < 300
    elapsed = time.perf_counter() - started
    conn.close()
    return len(requests_to_send) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tickets", type=int, default=500)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--pace", type=float, default=0.05, help="seconds between two changes")
    args = parser.parse_args()

    common.configure_env()
    load = common.machine_load()
    admin_url, _ = common.prepare_database(DATABASE, fresh=True)
    print(f"load before: {load[0]:.2f}")
    receiver = Receiver()
    server = serve(receiver)
    port = server.server_address[1]
    with tempfile.TemporaryDirectory() as tmp, local_stack(Path(tmp), database_url=admin_url) as (url, env):
        admin = token(env, "anna", "tenant_admin", TENANT)
        user = token(env, "alice", "tenant_user", TENANT)
        ops = token(env, "olga", "platform_operator")
        http_session = requests.Session()

        def call(method: str, path: str, bearer: str, body: Any = None) -> Any:
            response = http_session.request(
                method, f"{url}{path}", json=body, headers={"Authorization": f"Bearer {bearer}"}, timeout=30
            )
            assert response.status_code < 300, (path, response.status_code, response.text)
            return response.json()

        endpoint = call(
            "POST",
            "/webhooks",
            admin,
            {"url": f"http://127.0.0.1:{port}/hooks", "event_types": ["ticket.created", "ticket.updated"]},
        )
        since = datetime.now(UTC) - timedelta(seconds=5)

        # Tickets to change (their ticket.created deliveries count for the throughput run).
        def open_one(i: int) -> dict[str, Any]:
            with requests.Session() as session:
                response = session.post(
                    f"{url}/tickets",
                    json={"title": f"bench ticket {i}", "category": "pipeline_failure", "priority": "low"},
                    headers={"Authorization": f"Bearer {user}"},
                    timeout=30,
                )
                assert response.status_code == 201, response.text
                opened: dict[str, Any] = response.json()
                return opened

        started = time.monotonic()
        with ThreadPoolExecutor(CLIENTS) as pool:
            tickets = list(pool.map(open_one, range(args.tickets)))
        print(f"opened {len(tickets)} tickets in {time.monotonic() - started:.1f} s")
        if not receiver.wait_for(len(tickets), 300):
            raise SystemExit(f"only {receiver.count()} of {len(tickets)} ticket.created deliveries arrived")

        # Latency: a change at a time, at an even pace, until its delivery arrives.
        sent_at: dict[tuple[str, int], float] = {}
        for i in range(args.changes):
            ticket = tickets[i % len(tickets)]
            version = ticket["version"] + 1
            sent_at[(ticket["id"], version)] = time.time()
            changed = call("PATCH", f"/tickets/{ticket['id']}", ops, {"title": f"bench ticket, change {i}"})
            ticket["version"] = changed["version"]
            assert changed["version"] == version
            time.sleep(args.pace)
        expected = len(tickets) + args.changes
        if not receiver.wait_for(expected, 120):
            raise SystemExit(f"only {receiver.count()} of {expected} deliveries arrived")
        latencies: list[float] = []
        for arrival in receiver.arrivals:
            body = json.loads(arrival.body)
            if body["type"] != "ticket.updated":
                continue
            key = (body["data"]["id"], body["data"]["version"])
            if key in sent_at:
                latencies.append((arrival.at - sent_at.pop(key)) * 1000)
        print(
            f"latency (change sent → delivery received), {len(latencies)} changes:"
            f" p50 {common.percentile(latencies, 50):.0f} ms, p99 {common.percentile(latencies, 99):.0f} ms,"
            f" max {max(latencies):.0f} ms (target p99 <= 1000 ms)"
        )

        # Throughput: everything replayed at once by the dispatcher, against a bare loop.
        before = receiver.count()
        replay_started = time.time()
        job = call("POST", f"/webhooks/{endpoint['id']}/replay", admin, {"since": since.isoformat()})
        total = job["total"]
        if not receiver.wait_for(before + total, 600):
            raise SystemExit(f"the replay delivered {receiver.count() - before} of {total}")
        with receiver.lock:
            replayed = receiver.arrivals[before : before + total]
        dispatcher_rate = total / (max(a.at for a in replayed) - replay_started)
        # The same bodies, with the headers each got from the dispatcher, one after another.
        same = [({k: v for k, v in a.headers.items() if k.startswith("webhook-")}, a.body) for a in replayed]
        bare_rate = bare_loop(port, same)
        print(
            f"throughput, {total} deliveries: dispatcher {dispatcher_rate:.0f}/s,"
            f" bare loop {bare_rate:.0f}/s, ratio {dispatcher_rate / bare_rate:.2f}"
        )

        # Signatures: every request the dispatcher made, verified as a receiver would.
        verifier = Webhook(endpoint["secret"])
        with receiver.lock:
            delivered = [a for a in receiver.arrivals if a.path == "/hooks"]
        verified = 0
        for arrival in delivered:
            try:
                verifier.verify(arrival.body, arrival.headers)
                verified += 1
            except WebhookVerificationError:
                pass
        print(f"signatures: {verified} of {len(delivered)} deliveries verified (standardwebhooks)")
    server.shutdown()


if __name__ == "__main__":
    main()
