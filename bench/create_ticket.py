"""POST /tickets through the Lambda handler vs the same rows written by raw SQL.

Both paths run on the one connection the handler uses (``shared.db.connection()``), as the
application role, with the same transaction-local scope (``set_config``), one transaction per
ticket. The raw path writes what ``tickets.create`` writes: the ticket row (with its SLA summary),
its hash-chained ``ticket_event`` rows (created, and since issue 11 the SLA applied) with an
``outbox`` row each, and the two SLA clocks, one statement per round trip (and, for
reference, pipelined: two round trips, as the handler's transaction). The handler path is the
whole Lambda: API Gateway event → powertools (logger context, routing, pydantic validation) →
transaction → response; then the work deferred until after the response (the post-commit
publish to EventBridge, moto in-process by default, and the update marking the rows published)
runs before the next invocation, as the after-response extension makes it in Lambda. Two
figures come out of it: the time until the response (what API Gateway and the client wait for;
the target's measure) and the whole invocation (what one Lambda environment spends per ticket).

Within each round the paths take turns in chunks of ``--chunk`` tickets (in a rotating order),
so load from anything else on the machine hits both alike; each round's rates are kept and the
report gives the median over rounds. ``--breakdown`` re-runs the handler with parts of the
path stubbed out (monkeypatched here, nothing in shared/ or functions/ changes) to show where the
time goes; ``--profile FILE`` writes a cProfile of handler calls; ``--event-bus server`` runs
moto's EventBridge in its own process, reached over HTTP.

    .venv/bin/python -m bench.create_ticket [--n 2000] [--rounds 5] [--chunk 100] [--breakdown]
                                            [--profile out.prof] [--event-bus in-process|server]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from bench import common

DB_NAME = "ticketing_bench_create"
BUS = "ticketing-bench"
TENANT = "tenant-bench"
SUB = "alice"

INSERT_TICKET = """
INSERT INTO ticket (id, tenant_id, visibility, kind, category, priority, state, title, description,
                    requester, assignee, queue, tags, fields, resources, source, correlation_id,
                    first_seen_at, last_seen_at, created_at, updated_at, public_updated_at, audit_seq,
                    audit_hash, audit_public_seq, sla, sla_status, sla_due_at)
VALUES (%(id)s, %(tenant_id)s, 'tenant', %(kind)s, %(category)s, %(priority)s, 'new', %(title)s,
        %(description)s, %(requester)s, NULL, NULL, %(tags)s, %(fields)s, '{}', 'api', %(correlation_id)s,
        %(now)s, %(now)s, %(now)s, %(now)s, %(now)s, 2, %(audit_hash)s, 2, %(sla)s, 'on_track',
        %(sla_due_at)s)
RETURNING key_num
"""
INSERT_EVENT = """
INSERT INTO ticket_event
    (ticket_id, seq, type, actor, at, changes, visibility, correlation_id, prev_hash, hash, public_seq)
VALUES (%(ticket_id)s, %(seq)s, %(type)s, %(actor)s, %(at)s, %(changes)s, 'public', %(correlation_id)s,
        %(prev_hash)s, %(hash)s, %(seq)s)
"""
INSERT_OUTBOX = """
INSERT INTO outbox (event_id, detail_type, tenant_id, aggregate_type, aggregate_id, visibility, destination,
                    detail)
VALUES (%(event_id)s, %(detail_type)s, %(tenant_id)s, 'ticket', %(ticket_id)s, 'public', 'bus', %(detail)s)
"""
# The SLA engine's part (since issue 11): a clock per metric of the matching policy (default-high:
# first response 2 h, resolution 24 h, on 24x7), written in the create's transaction.
INSERT_CLOCKS = """
INSERT INTO sla_clock (id, ticket_id, metric, state, policy_id, policy_version, calendar_id, target_s,
                       at_risk_s, steps, elapsed, running_since, started_at, due_at, at_risk_at, fired,
                       next_step, next_due_at, generation, updated_at)
VALUES (%(fr_id)s, %(ticket_id)s, 'first_response', 'running', 'default-high', 1, '24x7', 7200, 5760,
        %(fr_steps)s, '0', %(now)s, %(now)s, %(fr_due)s, %(fr_risk)s, '{}', 'at_risk', %(fr_risk)s, 2,
        %(now)s),
       (%(res_id)s, %(ticket_id)s, 'resolution', 'running', 'default-high', 1, '24x7', 86400, 69120,
        %(res_steps)s, '0', %(now)s, %(now)s, %(res_due)s, %(res_risk)s, '{}', 'at_risk', %(res_risk)s, 2,
        %(now)s)
"""


def _steps(target_s: int, at_risk_s: int) -> list[dict[str, Any]]:
    return [
        {"at_s": at_risk_s, "name": "at_risk", "escalations": [0]},
        {"at_s": target_s, "name": "breach", "escalations": [1]},
    ]


def _sla_clock(target_s: int, at_risk_s: int, at: datetime) -> dict[str, Any]:
    return {
        "state": "running",
        "due_at": (at + timedelta(seconds=target_s)).isoformat(),
        "met_at": None,
        "paused": False,
        "target_s": target_s,
        "policy_id": "default-high",
        "at_risk_at": (at + timedelta(seconds=at_risk_s)).isoformat(),
        "breached_at": None,
        "remaining_s": target_s,
    }


SET_SCOPE = (
    "SELECT set_config('app.tenant_id', %s, true), set_config('app.is_platform', %s, true),"
    " set_config('app.principal', %s, true), set_config('app.system', %s, true)"
)


def body(i: int) -> dict[str, Any]:
    """A realistic request: a tenant reports a failing pipeline."""
    return {
        "title": f"Nightly pipeline failing on orders (run {i})",
        "category": "pipeline_failure",
        "priority": "high",
        "description": "The orders pipeline failed at the load step after the upstream export timed out. "
        "Dashboards downstream show yesterday's figures.",
        "tags": ["etl", "prod"],
        "fields": {"pipeline": "orders_nightly", "run_id": f"run-{i}"},
    }


def make_events(start: int, n: int) -> list[dict[str, Any]]:
    from local.events import api_gateway_event, authorizer_context

    auth = authorizer_context(SUB, TENANT, ["tenant_user"])
    return [
        api_gateway_event(method="POST", resource="/tickets", path="/tickets", body=body(i), authorizer=auth)
        for i in range(start, start + n)
    ]


def run_handler(events: list[dict[str, Any]]) -> dict[str, float]:
    """Invoke the handler for each prebuilt event, as one Lambda environment would, one after the
    other: the handler returns its response, then the work it deferred until after the response
    (the post-commit publish) runs before the next invocation starts, as Lambda's extension
    makes it. Returns the seconds until the responses and the seconds of the whole invocations."""
    from functions.create_ticket import handler as module
    from local.events import LambdaContext
    from shared.runtime import after_response

    context = LambdaContext(function_name="create_ticket")
    after_response.host_this_thread()
    responding = 0.0
    started = time.perf_counter()
    for event in events:
        begun = time.perf_counter()
        result = module.handler(event, context)
        responding += time.perf_counter() - begun
        if result["statusCode"] != 201:
            raise RuntimeError(f"create failed: {result}")
        after_response.run(after_response.take_ready())
    invocation = time.perf_counter() - started
    _empty_worker_queues()  # untimed: in AWS the dispatcher drains it; moto's costs grow with its size
    return {"response": responding, "invocation": invocation}


def _empty_worker_queues() -> None:
    from shared import aws
    from shared.runtime.catalog import WORKERS, queue_env

    sqs = aws.client("sqs")
    for worker in WORKERS:
        url = os.environ.get(queue_env(worker.function))
        while url:  # (PurgeQueue is allowed once a minute)
            batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                break
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
            )


def run_raw(start: int, n: int, *, pipelined: bool = False) -> float:
    """Write the same rows per ticket with plain SQL, one statement per round trip (or, with
    ``pipelined``, in two round trips, as the handler's transaction does: the ticket's key comes
    back from the first insert and goes into the event); return the seconds."""
    from shared import audit, db
    from shared.kernel.ids import uuid7

    conn = db.connection()
    requests = [body(i) for i in range(start, start + n)]
    scope = (TENANT, "off", f"{TENANT}:{SUB}", "off")
    started = time.perf_counter()
    for i, req in enumerate(requests):
        at = datetime.now(UTC)
        ticket_id = uuid7()
        correlation_id = f"raw-{start + i}"
        values = {
            "tenant_id": TENANT,
            "visibility": "tenant",
            "kind": "incident",
            "category": req["category"],
            "priority": req["priority"],
            "title": req["title"],
            "description": req["description"],
            "requester": SUB,
            "tags": req["tags"],
            "fields": req["fields"],
            "source": "api",
        }
        changes = {"state": {"old": None, "new": "new"}} | {
            k: {"old": None, "new": v} for k, v in values.items()
        }
        event = audit.next_event(
            ticket_id=ticket_id,
            prev_seq=0,
            prev_hash=audit.GENESIS,
            type="ticket.created",
            actor=SUB,
            at=at,
            changes=changes,
            correlation_id=correlation_id,
        )
        clocks = {
            "first_response": _sla_clock(7200, 5760, at),
            "resolution": _sla_clock(86400, 69120, at),
        }
        sla_changes = {
            "policy": "default-high",
            "calendar": "24x7",
            "chosen_by": "match",
            **{m: {"due_at": c["due_at"], "target_s": c["target_s"]} for m, c in clocks.items()},
        }
        applied = audit.next_event(
            ticket_id=ticket_id,
            prev_seq=1,
            prev_hash=event.hash,
            type="sla.applied",
            actor=SUB,
            at=at,
            changes=sla_changes,
            correlation_id=correlation_id,
        )
        with conn.pipeline() if pipelined else nullcontext(), conn.transaction():
            conn.execute(SET_SCOPE, scope)
            row = conn.execute(
                INSERT_TICKET,
                {
                    **values,
                    "fields": Jsonb(values["fields"]),
                    "id": ticket_id,
                    "correlation_id": correlation_id,
                    "now": at,
                    "audit_hash": applied.hash,
                    "sla": Jsonb({"policy_id": "default-high", **clocks}),
                    "sla_due_at": at + timedelta(seconds=7200),
                },
            ).fetchone()
            assert row is not None
            conn.execute(
                INSERT_CLOCKS,
                {
                    "ticket_id": ticket_id,
                    "now": at,
                    "fr_id": uuid7(),
                    "fr_steps": Jsonb(_steps(7200, 5760)),
                    "fr_due": at + timedelta(seconds=7200),
                    "fr_risk": at + timedelta(seconds=5760),
                    "res_id": uuid7(),
                    "res_steps": Jsonb(_steps(86400, 69120)),
                    "res_due": at + timedelta(seconds=86400),
                    "res_risk": at + timedelta(seconds=69120),
                },
            )
            summary = {
                "id": str(ticket_id),
                "key": f"TCK-{row['key_num']}",
                "state": "new",
                "version": 1,
                "assignee": None,
                "queue": None,
                **{
                    k: values[k] for k in ("tenant_id", "visibility", "kind", "category", "priority", "title")
                },
            }
            for seq, written, detail_type, what in (
                (1, event, "Ticket Created", changes),
                (2, applied, "SLA Applied", sla_changes),
            ):
                conn.execute(
                    INSERT_EVENT,
                    {
                        "ticket_id": ticket_id,
                        "seq": seq,
                        "type": written.type,
                        "actor": SUB,
                        "at": at,
                        "changes": Jsonb(what),
                        "correlation_id": correlation_id,
                        "prev_hash": written.prev_hash,
                        "hash": written.hash,
                    },
                )
                event_id = uuid7()
                detail = {
                    "event_id": str(event_id),
                    "type": written.type,
                    "ticket_id": str(ticket_id),
                    "ticket_key": summary["key"],
                    "tenant_id": TENANT,
                    "visibility": "tenant",
                    "ticket": summary,
                    "seq": seq,
                    "actor": SUB,
                    "at": at.isoformat(),
                    "changes": what,
                    "event_visibility": "public",
                    "correlation_id": correlation_id,
                }
                conn.execute(
                    INSERT_OUTBOX,
                    {
                        "event_id": event_id,
                        "detail_type": detail_type,
                        "tenant_id": TENANT,
                        "ticket_id": str(ticket_id),
                        "detail": Jsonb(detail),
                    },
                )
    elapsed = time.perf_counter() - started
    relay_catch_up()
    return elapsed


def relay_catch_up() -> None:
    """Mark the raw path's outbox rows published, as the relay would, so they do not pile up as a
    pending backlog that the handler's flush then has to look past (untimed)."""
    with psycopg.connect(os.environ["BENCH_ADMIN_URL"], autocommit=True) as admin:
        admin.execute("UPDATE outbox SET published_at = now(), attempts = 1 WHERE published_at IS NULL")


@contextmanager
def offline_event_bus(where: str = "server") -> Iterator[None]:
    """moto's EventBridge with the bus the handler publishes to.

    ``server``: moto's server in its own process, reached over HTTP on loopback, as EventBridge is
    another machine's work in AWS. ``in-process``: moto's mock inside this process (no socket),
    which charges EventBridge's own work to the handler's process as well.
    """
    from shared import aws
    from shared.runtime import entrypoints
    from shared.runtime.catalog import WORKERS, dead_letter_env, queue_env

    os.environ["EVENT_BUS_NAME"] = BUS
    entrypoints.reset()
    with ExitStack() as stack:
        if where == "in-process":
            from moto import mock_aws

            stack.enter_context(mock_aws())
        else:
            stack.enter_context(moto_server_process())
        aws.reset_clients()
        aws.client("events").create_event_bus(Name=BUS)
        # Every worker's queue (and DLQ) a function may send to: the SLA timer's (the create path
        # sends to it when a new ticket's first step is due within 15 minutes; this benchmark's
        # policy, high: 2 hours, never does) and the webhook dispatcher's (the post-commit publish
        # copies the ticket's events to it, after the response).
        sqs = aws.client("sqs")
        for worker in WORKERS:
            name = f"ticketing-bench-{worker.function.replace('_', '-')}"
            os.environ[queue_env(worker.function)] = sqs.create_queue(QueueName=name)["QueueUrl"]
            os.environ[dead_letter_env(worker.function)] = sqs.create_queue(QueueName=f"{name}-dlq")[
                "QueueUrl"
            ]
        yield
    aws.reset_clients()


@contextmanager
def moto_server_process() -> Iterator[None]:
    from local.aws import free_port

    port = free_port()
    server = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's server did not start") from None
                time.sleep(0.1)
        previous = os.environ.get("AWS_ENDPOINT_URL")
        os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop("AWS_ENDPOINT_URL", None)
            else:
                os.environ["AWS_ENDPOINT_URL"] = previous
    finally:
        server.terminate()
        server.wait(timeout=10)


class Counter:
    def __init__(self) -> None:
        self.next = 0

    def take(self, n: int) -> int:
        start, self.next = self.next, self.next + n
        return start


# (first ticket number, count) -> elapsed seconds, or seconds per measure ("response", ...)
Runner = Callable[[int, int], float | dict[str, float]]


def handler_path(start: int, n: int) -> dict[str, float]:
    return run_handler(make_events(start, n))


def raw_pipelined(start: int, n: int) -> float:
    return run_raw(start, n, pipelined=True)


def interleaved(
    paths: dict[str, Runner], n: int, chunk: int, rounds: int, counter: Counter
) -> dict[str, list[float]]:
    """Per path (and measure), its rate (tickets/s) in each round.

    Within a round every path runs ``n`` tickets in chunks of ``chunk``, the paths taking turns
    (in a rotating order), so that load from anything else on the machine hits all paths alike.
    A path that returns several measures ({"response": s, "invocation": s}) is reported as
    "path: measure".
    """
    rates: dict[str, list[float]] = {}
    names = list(paths)
    for r in range(rounds):
        elapsed: dict[str, float] = {}
        done = 0
        turn = r
        while done < n:
            size = min(chunk, n - done)
            order = names[turn % len(names) :] + names[: turn % len(names)]
            for name in order:
                result = paths[name](counter.take(size), size)
                measures = result if isinstance(result, dict) else {"": result}
                for measure, seconds in measures.items():
                    key = f"{name}: {measure}" if measure else name
                    elapsed[key] = elapsed.get(key, 0.0) + seconds
            done += size
            turn += 1
        for key, seconds in elapsed.items():
            rates.setdefault(key, []).append(n / seconds)
        print(
            f"  round {r + 1}: "
            + "  ".join(f"{key} {n / seconds:.0f}/s" for key, seconds in elapsed.items()),
            flush=True,
        )
    return rates


@contextmanager
def patched(target: Any, name: str, value: Any) -> Iterator[None]:
    original = getattr(target, name)
    setattr(target, name, value)
    try:
        yield
    finally:
        setattr(target, name, original)


def _stub_put_events(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"EventId": "stub"} for _ in entries]


def _variant(**patches: tuple[Any, str, Any]) -> Callable[[Runner], Runner]:
    def wrap(path: Runner) -> Runner:
        def run(start: int, n: int) -> float | dict[str, float]:
            with ExitStack() as stack:
                for target, name, value in patches.values():
                    stack.enter_context(patched(target, name, value))
                return path(start, n)

        return run

    return wrap


def breakdown_paths() -> dict[str, Runner]:
    """The handler with parts stubbed out; the differences show what each part costs."""
    from functions.create_ticket import handler as module
    from local.events import LambdaContext
    from shared import aws
    from shared.runtime import entrypoints

    def bare_resolve(start: int, n: int) -> float:
        events = make_events(start, n)
        context = LambdaContext(function_name="create_ticket")
        started = time.perf_counter()
        for event in events:
            module.app.resolve(event, context)
        return time.perf_counter() - started

    from shared import routing

    no_routing = _variant(routing=(routing, "apply", lambda uow, values, **kwargs: (values, [])))
    no_put = _variant(put=(aws, "put_events", _stub_put_events))
    no_flush = _variant(flush=(entrypoints.outbox, "publish_committed", lambda messages, publishers: None))
    return {
        "handler": handler_path,
        "routing stubbed": no_routing(handler_path),
        "PutEvents stubbed": no_put(handler_path),
        "no publish at all": no_flush(handler_path),
        "... nor decorators": no_flush(bare_resolve),
        "raw SQL": run_raw,
        "raw SQL, pipelined": raw_pipelined,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=2000, help="tickets per path per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--chunk", type=int, default=100, help="tickets per turn when alternating paths")
    parser.add_argument("--breakdown", action="store_true", help="also time the handler with parts stubbed")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of --n handler calls to FILE")
    parser.add_argument(
        "--event-bus",
        choices=("server", "in-process"),
        default="in-process",
        help="moto's EventBridge mocked inside this process (default), or its server in its own process",
    )
    args = parser.parse_args(argv)
    load = common.machine_load()  # before this benchmark adds its own
    warning = common.busy_warning()

    common.configure_env()
    admin_url, _ = common.prepare_database(DB_NAME, fresh=True)
    os.environ["BENCH_ADMIN_URL"] = admin_url
    facts = common.server_facts(admin_url)
    print(f"PostgreSQL: {facts['postgres']}")
    print(
        f"synchronous_commit={facts['synchronous_commit']} fsync={facts['fsync']}"
        f" shared_buffers={facts['shared_buffers']}; Python {facts['python']}, {facts['cpus']} CPUs"
    )
    print(f"load average before the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if warning:
        print(warning)
    counter = Counter()
    print(f"EventBridge: moto, {args.event_bus}")
    with offline_event_bus(args.event_bus):
        # Lambda's init: import the handler; its entrypoint tunes the collector when it runs in Lambda.
        from functions.create_ticket import handler as _  # noqa: F401
        from shared.runtime import after_response

        after_response.tune_gc()
        # warm up: prepared statements, moto's first call
        handler_path(counter.take(args.warmup), args.warmup)
        run_raw(counter.take(args.warmup), args.warmup)
        print(
            f"create: {args.rounds} rounds x {args.n} tickets per path, alternating chunks of {args.chunk}"
            f" (after {args.warmup} warm-up each)"
        )
        rates = interleaved(
            {"handler": handler_path, "raw SQL": run_raw, "raw SQL, pipelined": raw_pipelined},
            args.n,
            args.chunk,
            args.rounds,
            counter,
        )
        medians = {key: common.median(values) for key, values in rates.items()}
        labels = {
            "handler: response": "handler, until its response (what API Gateway waits for)",
            "handler: invocation": "handler, whole invocation (+ the publish after the response)",
            "raw SQL": "raw SQL, same rows, same connection, a round trip per statement",
            "raw SQL, pipelined": "raw SQL, pipelined (two round trips, as the handler)",
        }
        print()
        print(
            common.table(
                ["path", "tickets/s (median of rounds)", "ms/ticket"],
                [[labels[key], rate, 1000 / rate] for key, rate in medians.items()],
            )
        )

        def ratio(of: str, to: str) -> tuple[float, list[float]]:
            per_round = [a / b for a, b in zip(rates[of], rates[to], strict=True)]
            return common.median(per_round), per_round

        target, per_round = ratio("handler: response", "raw SQL")
        verdict = "met" if target >= 0.8 else "MISSED"
        print(
            f"\nratio handler/raw SQL: {target:.2f} (median of per-round ratios;"
            f" range {min(per_round):.2f}..{max(per_round):.2f}); target >= 0.80: {verdict}"
        )
        for of, to, what in (
            ("handler: response", "raw SQL, pipelined", "until the response, against pipelined raw SQL"),
            ("handler: invocation", "raw SQL", "whole invocation, with its publish, against raw SQL"),
        ):
            value, values = ratio(of, to)
            print(f"  {what}: {value:.2f} (range {min(values):.2f}..{max(values):.2f})")
        load = common.machine_load()
        print(f"load average after the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        if args.breakdown:
            print("\nbreakdown: the handler with parts stubbed out (same interleaving):")
            variants = interleaved(breakdown_paths(), args.n, args.chunk, args.rounds, counter)
            raw_ms = 1000 / common.median(variants["raw SQL"])
            print(
                common.table(
                    ["variant", "ms/ticket (median)", "ratio to raw SQL"],
                    [
                        [name, 1000 / common.median(r), raw_ms / (1000 / common.median(r))]
                        for name, r in variants.items()
                    ],
                )
            )
        if args.profile:
            events = make_events(counter.take(args.n), args.n)
            profiler = cProfile.Profile()
            profiler.runcall(run_handler, events)
            profiler.dump_stats(args.profile)
            print(f"\ncProfile of {args.n} handler calls written to {args.profile}")


if __name__ == "__main__":
    main()
