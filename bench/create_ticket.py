"""POST /tickets through the Lambda handler vs the same rows written by raw SQL.

Both paths run on the one connection the handler uses (``shared.db.connection()``), as the
application role, with the same transaction-local scope (``set_config``), one transaction per
ticket. The raw path writes what ``tickets.create`` writes: the ticket row, its first
hash-chained ``ticket_event`` row and its ``outbox`` row. The handler path is the whole Lambda:
API Gateway event → powertools (logger context, routing, pydantic validation) → transaction →
response, plus the post-commit outbox flush to EventBridge, served by moto in-process (offline,
but its cost is included).

Within each round the paths take turns in chunks of ``--chunk`` tickets (in a rotating order),
so load from anything else on the machine hits both alike; each round's rates are kept and the
report gives the median over rounds. ``--breakdown`` re-runs the handler with parts of the
path stubbed out (monkeypatched here, nothing in shared/ or functions/ changes) to show where the
time goes; ``--profile FILE`` writes a cProfile of handler calls.

    .venv/bin/python -m bench.create_ticket [--n 2000] [--rounds 5] [--chunk 100] [--breakdown]
                                            [--profile out.prof]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
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
                    first_seen_at, last_seen_at, created_at, updated_at, audit_seq, audit_hash)
VALUES (%(id)s, %(tenant_id)s, 'tenant', %(kind)s, %(category)s, %(priority)s, 'new', %(title)s,
        %(description)s, %(requester)s, NULL, NULL, %(tags)s, %(fields)s, '{}', 'api', %(correlation_id)s,
        %(now)s, %(now)s, %(now)s, %(now)s, 1, %(audit_hash)s)
RETURNING key_num
"""
INSERT_EVENT = """
INSERT INTO ticket_event
    (ticket_id, seq, type, actor, at, changes, visibility, correlation_id, prev_hash, hash)
VALUES (%(ticket_id)s, 1, 'ticket.created', %(actor)s, %(at)s, %(changes)s, 'public', %(correlation_id)s,
        %(prev_hash)s, %(hash)s)
"""
INSERT_OUTBOX = """
INSERT INTO outbox (event_id, detail_type, tenant_id, ticket_id, detail)
VALUES (%(event_id)s, 'Ticket Created', %(tenant_id)s, %(ticket_id)s, %(detail)s)
"""
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


def run_handler(events: list[dict[str, Any]]) -> float:
    """Invoke the handler for each prebuilt event; return the elapsed seconds."""
    from functions.create_ticket import handler as module
    from local.events import LambdaContext

    context = LambdaContext(function_name="create_ticket")
    started = time.perf_counter()
    for event in events:
        result = module.handler(event, context)
        if result["statusCode"] != 201:
            raise RuntimeError(f"create failed: {result}")
    return time.perf_counter() - started


def run_raw(start: int, n: int) -> float:
    """Write the same three rows per ticket with plain SQL; return the elapsed seconds."""
    from shared import audit, db
    from shared.ids import uuid7

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
        with conn.transaction():
            conn.execute(SET_SCOPE, scope)
            row = conn.execute(
                INSERT_TICKET,
                {
                    **values,
                    "fields": Jsonb(values["fields"]),
                    "id": ticket_id,
                    "correlation_id": correlation_id,
                    "now": at,
                    "audit_hash": event.hash,
                },
            ).fetchone()
            assert row is not None
            conn.execute(
                INSERT_EVENT,
                {
                    "ticket_id": ticket_id,
                    "actor": SUB,
                    "at": at,
                    "changes": Jsonb(changes),
                    "correlation_id": correlation_id,
                    "prev_hash": event.prev_hash,
                    "hash": event.hash,
                },
            )
            event_id = uuid7()
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
            detail = {
                "event_id": str(event_id),
                "type": "ticket.created",
                "ticket_id": str(ticket_id),
                "ticket_key": summary["key"],
                "tenant_id": TENANT,
                "visibility": "tenant",
                "ticket": summary,
                "seq": 1,
                "actor": SUB,
                "at": at.isoformat(),
                "changes": changes,
                "event_visibility": "public",
                "correlation_id": correlation_id,
            }
            conn.execute(
                INSERT_OUTBOX,
                {"event_id": event_id, "tenant_id": TENANT, "ticket_id": ticket_id, "detail": Jsonb(detail)},
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
def offline_event_bus() -> Iterator[None]:
    """moto's EventBridge with the bus the handler publishes to."""
    from moto import mock_aws

    from shared import aws
    from shared.settings import get_settings

    os.environ["EVENT_BUS_NAME"] = BUS
    get_settings.cache_clear()
    with mock_aws():
        aws.reset_clients()
        aws.client("events").create_event_bus(Name=BUS)
        yield
    aws.reset_clients()


class Counter:
    def __init__(self) -> None:
        self.next = 0

    def take(self, n: int) -> int:
        start, self.next = self.next, self.next + n
        return start


Runner = Callable[[int, int], float]  # (first ticket number, count) -> elapsed seconds


def handler_path(start: int, n: int) -> float:
    return run_handler(make_events(start, n))


def interleaved(
    paths: dict[str, Runner], n: int, chunk: int, rounds: int, counter: Counter
) -> dict[str, list[float]]:
    """Per path, its rate (tickets/s) in each round.

    Within a round every path runs ``n`` tickets in chunks of ``chunk``, the paths taking turns
    (in a rotating order), so that load from anything else on the machine hits all paths alike.
    """
    rates: dict[str, list[float]] = {name: [] for name in paths}
    names = list(paths)
    for r in range(rounds):
        elapsed = dict.fromkeys(names, 0.0)
        done = 0
        turn = r
        while done < n:
            size = min(chunk, n - done)
            order = names[turn % len(names) :] + names[: turn % len(names)]
            for name in order:
                elapsed[name] += paths[name](counter.take(size), size)
            done += size
            turn += 1
        for name in names:
            rates[name].append(n / elapsed[name])
        print(
            f"  round {r + 1}: " + "  ".join(f"{name} {n / elapsed[name]:.0f}/s" for name in names),
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
        def run(start: int, n: int) -> float:
            with ExitStack() as stack:
                for target, name, value in patches.values():
                    stack.enter_context(patched(target, name, value))
                return path(start, n)

        return run

    return wrap


def breakdown_paths() -> dict[str, Runner]:
    """The handler with parts of its path stubbed out; the differences show what each part costs."""
    from functions.create_ticket import handler as module
    from local.events import LambdaContext
    from shared import api, aws, db, outbox

    def bare_resolve(start: int, n: int) -> float:
        events = make_events(start, n)
        context = LambdaContext(function_name="create_ticket")
        started = time.perf_counter()
        for event in events:
            module.app.resolve(event, context)
        return time.perf_counter() - started

    original_transaction = db.transaction

    @contextmanager
    def lazy_flush_commit(principal: Any) -> Iterator[Any]:
        with original_transaction(principal) as conn:
            if principal.sub == outbox.SYSTEM.sub:
                conn.execute("SELECT set_config('synchronous_commit', 'off', true)")
            yield conn

    no_put = _variant(put=(aws, "put_events", _stub_put_events))
    no_flush = _variant(flush=(api.outbox, "flush_recorded", lambda publisher=None: outbox.take_recorded()))
    lazy = _variant(tx=(outbox.db, "transaction", lazy_flush_commit))
    return {
        "handler": handler_path,
        "flush commit async": lazy(handler_path),
        "put_events stubbed": no_put(handler_path),
        "no flush": no_flush(handler_path),
        "no flush, no decorators": no_flush(bare_resolve),
        "raw SQL": run_raw,
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
    args = parser.parse_args(argv)

    common.configure_env()
    admin_url, _ = common.prepare_database(DB_NAME, fresh=True)
    os.environ["BENCH_ADMIN_URL"] = admin_url
    facts = common.server_facts(admin_url)
    print(f"PostgreSQL: {facts['postgres']}")
    print(
        f"synchronous_commit={facts['synchronous_commit']} fsync={facts['fsync']}"
        f" shared_buffers={facts['shared_buffers']}; Python {facts['python']}, {facts['cpus']} CPUs"
    )
    counter = Counter()
    with offline_event_bus():
        # warm up: imports, prepared statements, moto's first call
        handler_path(counter.take(args.warmup), args.warmup)
        run_raw(counter.take(args.warmup), args.warmup)
        print(
            f"create: {args.rounds} rounds x {args.n} tickets per path, alternating chunks of {args.chunk}"
            f" (after {args.warmup} warm-up each)"
        )
        rates = interleaved(
            {"handler": handler_path, "raw SQL": run_raw}, args.n, args.chunk, args.rounds, counter
        )
        handler_rate = common.median(rates["handler"])
        raw_rate = common.median(rates["raw SQL"])
        ratios = [h / r for h, r in zip(rates["handler"], rates["raw SQL"], strict=True)]
        print()
        print(
            common.table(
                ["path", "tickets/s (median of rounds)", "ms/ticket"],
                [
                    ["handler (POST /tickets Lambda, moto EventBridge)", handler_rate, 1000 / handler_rate],
                    ["raw SQL, same rows, same connection", raw_rate, 1000 / raw_rate],
                ],
            )
        )
        ratio = common.median(ratios)
        verdict = "met" if ratio >= 0.8 else "MISSED"
        print(
            f"\nratio handler/raw: {ratio:.2f} (median of per-round ratios;"
            f" range {min(ratios):.2f}..{max(ratios):.2f}); target >= 0.80: {verdict}"
        )
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
