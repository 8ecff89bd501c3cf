"""SLA timer lateness on the local stack (issue 11 §6; target p99 <= 2 s, no missed and no double
firings).

Starts ``make run``'s stack (``python -m local.run``) against a fresh database on the benchmark
server (``bench.common``), replaces the SLA policies by one (any ticket: a resolution target of
``TARGET_MIN`` minutes, at risk at 80 %, no first-response target, so one clock per ticket) and
opens ``--clocks`` tickets at an even pace over ``--window`` seconds (ten minutes): their clocks
come due over ten minutes, each with two steps (at risk, breach), and the first step is due only
after the last ticket was opened, so the figures are the timers' and not the opening's. The
tickets are opened by the ticket service in this process, on the stack's database, with their
timer messages sent to the stack's SQS through its gateway (``aws --endpoint-url``), as the
create_ticket Lambdas would in AWS: 10,000 requests through the gateway would measure the local
stack's HTTP layer, not the timers. While the timers fire, a fifth of the tickets are changed over
HTTP: a third paused (``wait_requester``) and resumed 20 s later, a third paused for good, a third
resolved (met). When every step is due, the figures come from the database the stack wrote:

- lateness: ``sla_firing.late_s`` (the worker's firing instant minus the step's exact due
  instant) of every step the timer fired: p50, p99 and max;
- missed: clocks whose next step is more than 5 s past due and unfired;
- double: a (clock, step) fired more than once.

    .venv/bin/python -m bench.sla_lateness [--clocks 10000] [--window 600]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import psycopg
import requests
from psycopg.rows import dict_row

from bench import common
from bench.enqueue_latency import local_stack, token
from local.aws import worker_queue_name

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "bench_sla_lateness"
TENANTS = 10
CLIENTS = 4
TARGET_MIN = 13  # at risk after 10.4 minutes: after the last of ten minutes' tickets was opened


def _policies(admin_url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("DELETE FROM sla_policy")  # this database's own: only the bench's policy
        conn.execute(
            "INSERT INTO sla_policy (id, position, name, match, resolution_minutes, calendar_id,"
            " created_by, created_at, updated_by, updated_at)"
            " VALUES ('bench', 1, 'bench', %s, %s, '24x7', 'bench', now(), 'bench', now())",
            (json.dumps({}), TARGET_MIN),
        )


def _open(url: str, count: int, window_s: float) -> list[str]:
    """``count`` tickets opened by the ticket service (the SLA engine listening) at an even pace over
    ``window_s``, each transaction's events published right after it commits: timers to the stack's
    timer queue, the rest to its bus."""
    from shared import db, outbox
    from shared.auth import Principal, Role
    from shared.aws.publishers import EventBridgePublisher, SqsPublisher
    from shared.runtime.catalog import SLA_TIMER, WORKERS
    from shared.sla import engine
    from shared.tickets import service
    from shared.tickets.models import TicketCreate

    # The gateway forwards SigV4-signed calls to the stack's moto (any credentials do locally).
    os.environ.update(AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local")  # noqa: S106
    worker = next(w for w in WORKERS if w.function == SLA_TIMER)
    sqs = boto3.client("sqs", endpoint_url=url)
    queue_url = sqs.get_queue_url(QueueName=worker_queue_name(worker))["QueueUrl"]
    publishers = {
        "bus": EventBridgePublisher("ticketing", "ticketing"),
        "queue": SqsPublisher({SLA_TIMER: queue_url}),
    }
    service.on_change(engine.on_ticket_change, creation=engine.plan_creation)
    olga = Principal(sub="olga", tenant=None, roles=frozenset({Role.PLATFORM_OPERATOR}))

    started = time.monotonic()

    def one(i: int) -> str:
        time.sleep(max(0.0, started + i * window_s / count - time.monotonic()))
        data = TicketCreate.model_validate(
            {
                "title": f"sla lateness probe {i}",
                "category": "pipeline_failure",
                "priority": "low",
                "tenant_id": f"bench-{i % TENANTS + 1}",
            }
        )
        outbox.take_committed()
        with db.transaction(olga) as uow:
            created = service.create(uow, olga, data, correlation_id=None)
        outbox.publish_committed(outbox.take_committed(), publishers)
        return str(created.id)

    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            return list(pool.map(one, range(count)))
    finally:
        db.close_all(every_thread=True)


def _move(url: str, bearer: str, ticket_id: str, to: str, **extra: str) -> None:
    answer = requests.post(
        f"{url}/tickets/{ticket_id}/transitions",
        json={"to": to, **extra},
        headers={"Authorization": f"Bearer {bearer}"},
        timeout=60,
    )
    if answer.status_code != 200:
        raise SystemExit(f"transition to {to} answered {answer.status_code}: {answer.text}")


def _changes(url: str, bearer: str, chosen: list[str]) -> dict[str, int]:
    """Pause-and-resume, pause, resolve: a third of ``chosen`` each, while the timers run."""
    thirds = len(chosen) // 3
    resumed, paused, resolved = chosen[:thirds], chosen[thirds : 2 * thirds], chosen[2 * thirds :]
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(lambda t: _move(url, bearer, t, "wait_requester"), resumed + paused))
        list(pool.map(lambda t: _move(url, bearer, t, "resolved", resolution="bench"), resolved))
        time.sleep(20)
        list(pool.map(lambda t: _move(url, bearer, t, "in_progress"), resumed))
    return {"paused_resumed": len(resumed), "paused": len(paused), "met": len(resolved)}


def _figures(admin_url: str) -> dict[str, Any]:
    with psycopg.connect(admin_url, autocommit=True, row_factory=dict_row) as conn:
        late = [r["late_s"] for r in conn.execute("SELECT late_s FROM sla_firing WHERE fired_by = 'timer'")]
        double = conn.execute(
            "SELECT count(*) AS n FROM (SELECT clock_id, step FROM sla_firing GROUP BY 1, 2"
            " HAVING count(*) > 1) AS d"
        ).fetchone()
        missed = conn.execute(
            "SELECT count(*) AS n FROM sla_clock WHERE next_due_at < now() - interval '5 seconds'"
        ).fetchone()
        clocks = conn.execute("SELECT count(*) AS n FROM sla_clock").fetchone()
        span = conn.execute(
            "SELECT extract(epoch FROM max(due_at) - min(due_at)) AS span_s, max(n) AS peak FROM"
            " (SELECT due_at, count(*) OVER (ORDER BY due_at RANGE BETWEEN CURRENT ROW AND"
            " interval '10 seconds' FOLLOWING) AS n FROM sla_firing WHERE fired_by = 'timer') AS f"
        ).fetchone()
        by_step = {
            r["step"]: r
            for r in conn.execute(
                "SELECT step, count(*) AS n, percentile_cont(0.99) WITHIN GROUP (ORDER BY late_s) AS p99"
                " FROM sla_firing WHERE fired_by = 'timer' GROUP BY step ORDER BY step"
            )
        }
        by_state = {
            r["state"]: r["n"]
            for r in conn.execute("SELECT state, count(*) AS n FROM sla_clock GROUP BY state ORDER BY state")
        }
    return {
        "clocks": clocks["n"] if clocks else 0,
        "states": by_state,
        "span_s": float(span["span_s"] or 0) if span else 0.0,
        "peak_per_s": (span["peak"] or 0) / 10 if span else 0.0,
        "by_step": {k: f"{v['n']} (p99 {v['p99'] * 1000:.0f} ms)" for k, v in by_step.items()},
        "fired": len(late),
        "late": late,
        "double": double["n"] if double else 0,
        "missed": missed["n"] if missed else 0,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clocks", type=int, default=10_000)
    parser.add_argument("--window", type=float, default=600.0, help="seconds over which the clocks come due")
    parser.add_argument("--changed", type=float, default=0.2, help="share of tickets changed along the way")
    args = parser.parse_args(argv)
    common.configure_env()
    load = common.machine_load()
    print(f"load average before the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    admin_url, _ = common.prepare_database(DATABASE, fresh=True)
    _policies(admin_url)
    workdir = ROOT / ".local" / "bench-sla"
    workdir.mkdir(parents=True, exist_ok=True)
    with local_stack(workdir, database_url=admin_url) as (url, env):
        bearer = token(env, "olga", "platform_operator")
        started = time.monotonic()
        ids = _open(url, args.clocks, args.window)
        opened_s = time.monotonic() - started
        print(f"opened {len(ids)} tickets in {opened_s:.0f} s ({len(ids) / opened_s:.0f}/s)")
        if opened_s > TARGET_MIN * 60 * 0.8:
            print("  (opening overran the first at-risk steps: the figures include its load)")
        chosen = random.Random(20261202).sample(ids, int(len(ids) * args.changed))
        changed = _changes(url, bearer, chosen)
        print(f"changed along the way: {changed}")
        # Every step is due by the last ticket's breach (plus the 20 s pauses).
        wait_until = started + opened_s + TARGET_MIN * 60 + 20 + 15
        while (left := wait_until - time.monotonic()) > 0:
            time.sleep(min(left, 30))
            print(f"  waiting for the last steps: {max(left - 30, 0):.0f} s left")
        figures = _figures(admin_url)
    late = figures["late"] or [0.0]
    p50, p99 = common.percentile(late, 50), common.percentile(late, 99)
    print(
        f"clocks {figures['clocks']} by state {figures['states']};"
        f" steps fired by the timer {figures['fired']}, by step {figures['by_step']}"
    )
    print(
        f"their due instants span {figures['span_s']:.0f} s; busiest 10 s:"
        f" {figures['peak_per_s']:.1f} steps due per second"
    )
    print(
        f"lateness (fired at - due at): p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms,"
        f" max {max(late) * 1000:.0f} ms; target p99 <= 2000 ms: {'met' if p99 <= 2 else 'MISSED'}"
    )
    print(f"missed firings: {figures['missed']} (target 0); double firings: {figures['double']} (target 0)")


if __name__ == "__main__":
    main()
