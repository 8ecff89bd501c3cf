"""Intake: throughput through the worker's handler against raw SQL upserts, and racing workers.

**Throughput.** A workload of platform events (``--events``, default 10,000) over ``--fingerprints``
(2,000) fingerprints in ``--tenants`` (100) tenants, 80% of them repeats of a fingerprint already
seen, in SQS batches of 10. The handler path is the whole intake Lambda: a real SQS event →
powertools' BatchProcessor → per record: the inbound log, the EventBridge envelope parsed and
normalized, the dedup engine (open a ticket with its audit event and outbox row, or count an
occurrence), its occurrence row; then the finish step publishes the committed events to
EventBridge (moto, in-process). The raw path writes the same rows with plain SQL on one
connection, one transaction per event: the occurrence row, the ticket upsert on the partial
unique index (``ON CONFLICT ... DO UPDATE``), and for a new ticket its audit event and outbox row.
Each path gets a fresh database; the ratio (handler / raw) is the issue's figure (target ≥ 0.5).

**Concurrency.** ``--workers`` (8) threads, each its own connection, take batches of one shared
stream of events over ``--race-fingerprints`` (50) fingerprints at once, through the handler.
Afterwards: open tickets per fingerprint (must be 1), and the sum of occurrence counts against the
events sent (must be equal).

    .venv/bin/python -m bench.intake [--events 10000] [--fingerprints 2000] [--tenants 100]
                                     [--workers 8] [--race-events 4000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from bench import common
from bench.create_ticket import offline_event_bus

DB_HANDLER = "ticketing_bench_intake"
DB_RAW = "ticketing_bench_intake_raw"
BATCH = 10

CLAIM = """
INSERT INTO intake_event (event_id, tenant_id, dedup_key, action, outcome, at, source, detail_type, summary,
                          severity, details)
VALUES (%(event_id)s, %(tenant_id)s, %(dedup_key)s, 'trigger', 'occurrence', %(at)s, 'platform.runtime',
        'Job Failed', %(summary)s, 'error', '{}')
ON CONFLICT (event_id) DO NOTHING
RETURNING id
"""
UPSERT = """
INSERT INTO ticket (id, tenant_id, visibility, kind, category, priority, state, title, description, requester,
                    tags, fields, resources, source, dedup_key, first_seen_at, last_seen_at, last_trigger_at,
                    occurrences_reported_at, created_at, updated_at, public_updated_at, audit_seq, audit_hash,
                    audit_public_seq)
VALUES (%(id)s, %(tenant_id)s, 'tenant', 'incident', 'pipeline_failure', 'high', 'new', %(summary)s,
        %(summary)s, 'platform.runtime', '{}', '{}', %(resources)s, 'platform.runtime', %(dedup_key)s, %(at)s,
        %(at)s, %(at)s, %(at)s, %(at)s, %(at)s, %(at)s, 1, %(hash)s, 1)
ON CONFLICT (coalesce(tenant_id, ''), dedup_key)
    WHERE dedup_key IS NOT NULL AND state NOT IN ('resolved', 'closed', 'canceled')
DO UPDATE SET occurrence_count = ticket.occurrence_count + 1,
              last_seen_at = greatest(ticket.last_seen_at, excluded.last_seen_at),
              last_trigger_at = greatest(ticket.last_trigger_at, excluded.last_trigger_at)
RETURNING id, key_num, (xmax = 0) AS inserted
"""
INSERT_EVENT = """
INSERT INTO ticket_event (ticket_id, seq, type, actor, at, changes, visibility, correlation_id, prev_hash,
                          hash, public_seq)
VALUES (%(ticket_id)s, 1, 'ticket.created', 'system:intake', %(at)s, %(changes)s, 'public', %(event_id)s,
        %(prev_hash)s, %(hash)s, 1)
"""
INSERT_OUTBOX = """
INSERT INTO outbox (event_id, detail_type, tenant_id, aggregate_type, aggregate_id, visibility, destination,
                    detail)
VALUES (%(outbox_id)s, 'Ticket Created', %(tenant_id)s, 'ticket', %(ticket_id)s, 'public', 'bus', %(detail)s)
"""
SETTLE = "UPDATE intake_event SET ticket_id = %(ticket_id)s, outcome = %(outcome)s WHERE id = %(id)s"
SCOPE = (
    "SELECT set_config('app.tenant_id', '', true), set_config('app.is_platform', 'on', true),"
    " set_config('app.principal', %s, true), set_config('app.system', 'on', true)"
)


def workload(n: int, fingerprints: int, tenants: int, *, seed: int) -> list[dict[str, Any]]:
    """``n`` EventBridge events, ``fingerprints`` distinct problems (each in one of ``tenants``
    tenants): every problem appears once, the rest are repeats (80% at the default sizes)."""
    rng = random.Random(seed)
    keys = [(f"tenant-{i % tenants:03d}", f"job:{i:05d}") for i in range(fingerprints)]
    picks = list(range(fingerprints)) + [rng.randrange(fingerprints) for _ in range(n - fingerprints)]
    rng.shuffle(picks)
    events = []
    for i in picks:
        tenant, key = keys[i]
        events.append(
            {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Job Failed",
                "source": "platform.runtime",
                "account": "123456789012",
                "time": datetime.now(UTC).isoformat(),
                "region": "eu-west-1",
                "resources": [],
                "detail": {
                    "tenant_id": tenant,
                    "dedup_key": key,
                    "summary": f"Nightly job {key} failed",
                    "severity": "error",
                    "resource": f"pipeline:{key}",
                },
            }
        )
    return events


def batches(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from local.events import sqs_event

    return [sqs_event([json.dumps(e) for e in events[i : i + BATCH]]) for i in range(0, len(events), BATCH)]


def run_handler(sqs_batches: list[dict[str, Any]]) -> float:
    from functions.intake import handler as intake
    from local.events import LambdaContext

    context = LambdaContext(function_name="intake")
    started = time.perf_counter()
    for event in sqs_batches:
        result = intake.handler(event, context)
        if result["batchItemFailures"]:
            raise RuntimeError(f"intake failed records: {result}")
    return time.perf_counter() - started


def run_raw(events: list[dict[str, Any]]) -> float:
    from shared import audit, db
    from shared.kernel.ids import uuid7

    conn = db.connection()
    started = time.perf_counter()
    for envelope in events:
        detail = envelope["detail"]
        at = datetime.now(UTC)
        ticket_id = uuid7()
        changes = {
            "state": {"old": None, "new": "new"},
            "tenant_id": {"old": None, "new": detail["tenant_id"]},
            "title": {"old": None, "new": detail["summary"]},
            "dedup_key": {"old": None, "new": detail["dedup_key"]},
        }
        event = audit.next_event(
            ticket_id=ticket_id,
            prev_seq=0,
            prev_hash=audit.GENESIS,
            type="ticket.created",
            actor="system:intake",
            at=at,
            changes=changes,
            correlation_id=envelope["id"],
        )
        params = {
            "event_id": envelope["id"],
            "tenant_id": detail["tenant_id"],
            "dedup_key": detail["dedup_key"],
            "summary": detail["summary"],
            "at": at,
            "id": ticket_id,
            "resources": [detail["resource"]],
            "hash": event.hash,
        }
        with conn.transaction():
            conn.execute(SCOPE, ("system:intake",))
            claimed = conn.execute(CLAIM, params).fetchone()
            if claimed is None:
                continue
            row = conn.execute(UPSERT, params).fetchone()
            assert row is not None
            if row["inserted"]:
                conn.execute(
                    INSERT_EVENT,
                    {
                        **params,
                        "ticket_id": ticket_id,
                        "changes": Jsonb(changes),
                        "prev_hash": event.prev_hash,
                    },
                )
                conn.execute(
                    INSERT_OUTBOX,
                    {
                        "outbox_id": uuid7(),
                        "tenant_id": detail["tenant_id"],
                        "ticket_id": str(ticket_id),
                        "detail": Jsonb(
                            {"type": "ticket.created", "ticket_id": str(ticket_id), "changes": changes}
                        ),
                    },
                )
            conn.execute(
                SETTLE,
                {
                    "id": claimed["id"],
                    "ticket_id": row["id"],
                    "outcome": "opened" if row["inserted"] else "occurrence",
                },
            )
    return time.perf_counter() - started


def counts(admin_url: str) -> dict[str, int]:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) AS tickets, coalesce(sum(occurrence_count), 0) AS occurrences,"
            " count(DISTINCT (coalesce(tenant_id, ''), dedup_key)) AS fingerprints,"
            " (SELECT count(*) FROM intake_event) AS logged,"
            " (SELECT count(*) FROM ticket_event) AS audit_events,"
            " (SELECT count(*) FROM outbox) AS outbox_rows FROM ticket"
        ).fetchone()
        assert row is not None
        return {
            k: int(v)
            for k, v in zip(
                ("tickets", "occurrences", "fingerprints", "logged", "audit", "outbox"), row, strict=True
            )
        }


def throughput(args: argparse.Namespace) -> None:
    events = workload(args.events, args.fingerprints, args.tenants, seed=args.seed)
    sqs_batches = batches(events)
    # Warm-up on a throwaway workload: imports, the first moto call, the connection.
    admin_raw, _ = common.prepare_database(DB_RAW, fresh=True)
    run_raw(workload(200, 50, 5, seed=1))
    admin_raw, _ = common.prepare_database(DB_RAW, fresh=True)
    raw_s = run_raw(events)
    raw_counts = counts(admin_raw)
    admin_handler, _ = common.prepare_database(DB_HANDLER, fresh=True)
    with offline_event_bus("in-process"):
        run_handler(batches(workload(200, 50, 5, seed=2)))
        admin_handler, _ = common.prepare_database(DB_HANDLER, fresh=True)
        handler_s = run_handler(sqs_batches)
    handler_counts = counts(admin_handler)
    n = len(events)
    print(
        f"\nthroughput: {n} events, {args.fingerprints} fingerprints in {args.tenants} tenants,"
        f" {100 * (n - args.fingerprints) / n:.0f}% repeats, SQS batches of {BATCH}"
    )
    print(
        common.table(
            ["path", "events/s", "ms/event", "tickets", "occurrences counted"],
            [
                [
                    "intake handler (BatchProcessor, dedup engine, publish)",
                    n / handler_s,
                    1000 * handler_s / n,
                    handler_counts["tickets"],
                    handler_counts["occurrences"],
                ],
                [
                    "raw SQL upserts, one connection, a transaction per event",
                    n / raw_s,
                    1000 * raw_s / n,
                    raw_counts["tickets"],
                    raw_counts["occurrences"],
                ],
            ],
        )
    )
    ratio = raw_s / handler_s
    print(f"ratio handler/raw SQL: {ratio:.2f}; target >= 0.50: {'met' if ratio >= 0.5 else 'MISSED'}")
    for name, found in (("handler", handler_counts), ("raw", raw_counts)):
        if found["tickets"] != args.fingerprints or found["occurrences"] != n:
            raise SystemExit(
                f"{name} path wrote {found}, expected {args.fingerprints} tickets and {n} occurrences"
            )
    print(
        f"  handler wrote {handler_counts['audit']} audit events and {handler_counts['outbox']} outbox rows"
        f" for {n} events (storm control: repeats within a minute are counted, not each audited)"
    )


def concurrency(args: argparse.Namespace) -> None:
    from shared import db

    events = workload(args.race_events, args.race_fingerprints, 10, seed=args.seed + 1)
    queue = batches(events)
    admin_url, _ = common.prepare_database(DB_HANDLER, fresh=True)
    lock = threading.Lock()
    errors: list[BaseException] = []
    barrier = threading.Barrier(args.workers)

    def worker() -> None:
        from functions.intake import handler as intake
        from local.events import LambdaContext

        context = LambdaContext(function_name="intake")
        try:
            barrier.wait()
            while True:
                with lock:
                    if not queue:
                        return
                    batch = queue.pop()
                result = intake.handler(batch, context)
                if result["batchItemFailures"]:
                    raise RuntimeError(f"failed records: {result}")
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.close_all()

    with offline_event_bus("in-process"):
        threads = [threading.Thread(target=worker) for _ in range(args.workers)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"workers failed: {errors[0]!r}")
    found = counts(admin_url)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM (SELECT 1 FROM ticket"
            " WHERE state NOT IN ('resolved', 'closed', 'canceled')"
            " GROUP BY coalesce(tenant_id, ''), dedup_key HAVING count(*) > 1) dup"
        ).fetchone()
        duplicates = int(row[0]) if row else -1
    print(
        f"\nconcurrency: {args.workers} workers, {len(events)} events over {args.race_fingerprints}"
        f" fingerprints, {len(events) / elapsed:.0f} events/s in all"
    )
    print(
        f"  fingerprints with more than one open ticket: {duplicates} (must be 0);"
        f" tickets {found['tickets']} for {args.race_fingerprints} fingerprints;"
        f" occurrences counted {found['occurrences']} of {len(events)} sent;"
        f" {'ok' if duplicates == 0 and found['occurrences'] == len(events) else 'FAILED'}"
    )
    if duplicates or found["occurrences"] != len(events) or found["tickets"] != args.race_fingerprints:
        raise SystemExit("concurrency check failed")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--fingerprints", type=int, default=2_000)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--race-events", type=int, default=4_000)
    parser.add_argument("--race-fingerprints", type=int, default=50)
    parser.add_argument("--seed", type=int, default=20261202)
    args = parser.parse_args(argv)
    load = common.machine_load()
    warning = common.busy_warning()
    common.configure_env()
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"  # one log line per event would measure logging
    admin_url, _ = common.prepare_database(DB_HANDLER, fresh=True)
    facts = common.server_facts(admin_url)
    print(f"PostgreSQL: {facts['postgres']}")
    print(
        f"synchronous_commit={facts['synchronous_commit']} fsync={facts['fsync']};"
        f" Python {facts['python']}, {facts['cpus']} CPUs"
    )
    print(f"load average before the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if warning:
        print(warning)
    throughput(args)
    concurrency(args)
    load = common.machine_load()
    print(f"load average after the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
