"""Search over 1,000,000 generated tickets in 100 tenants, through shared.search.search.

The dataset is generated once by SQL (``INSERT ... SELECT generate_series``, secondary indexes
dropped during the load and rebuilt after, then VACUUM ANALYZE) in the database
``ticketing_bench_search`` and kept: a later run that finds the rows there reuses them
(``--reload`` starts again). Titles and descriptions are drawn from word lists with skewed
frequencies, so full-text queries have common terms ("error": about a third of the tickets)
and rare ones (a named system in about 1 ticket in 7,000). Tenants are skewed too (the largest
has about 3x the rows of the smallest); 2% of tickets are platform-only without a tenant.

Measured, as the application role under row-level security, each query in its own scoped
transaction (what GET /tickets runs, minus the HTTP wrapper):

* tenant-scoped full-text + filter queries: p50/p95 per query shape and overall;
* keyset paging: page 1 vs page 500 (limit 20, following next_cursor);
* the same tenant queries with ``ILIKE '%word%'`` on title/description instead of full text.

    .venv/bin/python -m bench.search [--repeat 30] [--reload] [--explain]
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import psycopg
from psycopg import sql

from bench import common

DB_NAME = "ticketing_bench_search"
ROWS = 1_000_000
TENANTS = 100

COMPONENTS = [
    "pipeline", "connector", "warehouse", "dashboard", "ingestion job", "export job", "scheduler",
    "API gateway", "replication", "stream", "transform", "loader", "notebook", "cluster",
    "query engine", "catalog", "backup", "sync", "webhook", "report",
]  # fmt: skip
PROBLEMS = [
    "failure", "latency", "timeout", "schema drift", "stale data", "permission denied",
    "quota exceeded", "cost spike", "crash loop", "memory pressure", "duplicate rows",
    "missing partitions", "slow queries", "authentication error", "certificate expiry", "disk full",
    "throttling", "retry storm", "null values", "deadlock",
]  # fmt: skip
DATASETS = [
    "orders", "customers", "invoices", "payments", "shipments", "inventory", "sessions", "clicks",
    "refunds", "subscriptions", "accounts", "ledger", "products", "reviews", "campaigns", "leads",
    "contracts", "suppliers", "warehouses", "returns", "pricing", "forecasts", "budgets", "payroll",
    "employees", "vendors", "tickets", "surveys", "devices", "telemetry", "sensors", "routes",
    "fleet", "claims", "policies", "quotes", "renewals", "loyalty", "coupons", "carts",
    "wishlists", "recommendations", "search_logs", "audit_logs", "exchange_rates", "tax_rates",
    "geo_regions", "store_visits", "call_center", "chargebacks",
]  # fmt: skip
PREFIXES = [
    "", "", "", "", "Nightly", "Hourly", "Production", "Staging", "Urgent:", "Recurring",
    "Intermittent", "EU", "US",
]  # fmt: skip
SENTENCES = [
    "The nightly run stopped after the upstream source returned an error.",
    "Latency on the read path went above the agreed threshold for several minutes.",
    "Users report that dashboards show yesterday's figures.",
    "The job was retried three times and failed with the same error each time.",
    "We see a timeout when the loader writes to the warehouse.",
    "Rows arrive with null values in columns that used to be filled.",
    "The schema of the source table changed without notice.",
    "Costs for the cluster doubled compared with last week.",
    "Access to the shared dataset is needed for the finance team.",
    "Please raise the quota for the export job before the quarter closes.",
    "A new connector to the partner's system is requested.",
    "The certificate of the endpoint expires at the end of the month.",
    "Memory usage keeps growing until the worker is restarted.",
    "Duplicate rows appeared after the replication was restarted.",
    "The scheduler skipped two runs during the maintenance window.",
    "Queries against the reporting schema got much slower since Monday.",
    "Authentication against the API fails intermittently with an error.",
    "Some partitions for last week are missing from the lake.",
    "Please delete the customer's records as required by the request.",
    "An export of all invoices for the audit is needed.",
    "The webhook receives events out of order.",
    "Throttling from the provider slows the ingestion down.",
    "The backup finished but the restore test failed.",
    "Alerts fired for disk usage on the primary node.",
    "The stream consumer lags behind by several hours.",
    "No error is logged but the output table stays empty.",
    "The failure started after yesterday's deployment.",
    "Numbers in the monthly report do not match the source system.",
    "We need read access for a new analyst.",
    "A configuration change is needed to enable the new region.",
]
RARE = [
    "kerberos", "zookeeper", "hyperloglog", "tombstone", "debezium", "iceberg", "protobuf",
    "nginx", "terraform", "grafana", "airflow", "flink", "cassandra", "elasticsearch", "kinesis",
    "snowpipe", "dbt", "fivetran", "looker", "tableau",
]  # fmt: skip
TAGS = ["prod", "staging", "eu", "us", "p1", "customer-facing", "billing", "etl", "sla", "security"]
CATEGORIES = [
    "health", "pipeline_failure", "data_freshness", "schema_drift", "security_finding", "cost_anomaly",
    "schema_change", "new_connector", "quota", "access", "configuration", "deletion_export",
]  # fmt: skip


def pick(name: str, words: list[str], skew: float = 1.0) -> str:
    """SQL picking one of ``words`` (bound as %(name)s) per row; skew > 1 favours the first ones."""
    return f"(%({name})s::text[])[1 + floor(random() ^ {skew} * {len(words)})::int]"


# Generated once; %(lo)s and %(hi)s bound the generate_series (two halves load in parallel).
# ids: UUIDv7 layout, 48-bit ms timestamp strictly increasing with the row number (one row per
# ~63 s over two years), so ids are distinct and time-ordered; the rest of the bits random.
GENERATE = f"""
INSERT INTO ticket (id, tenant_id, visibility, kind, category, priority, state, title, description,
                    requester, assignee, queue, tags, created_at, updated_at)
SELECT
    (lpad(to_hex(ms), 12, '0') || '7' || lpad(to_hex((random() * 4095)::int), 3, '0')
     || to_hex(8 + (random() * 3)::int) || lpad(to_hex((random() * 4095)::int), 3, '0')
     || lpad(to_hex((random() * 16777215)::int), 6, '0')
     || lpad(to_hex((random() * 16777215)::int), 6, '0'))::uuid,
    tenant,
    CASE WHEN tenant IS NULL OR r_vis < 0.01 THEN 'platform_only' WHEN r_vis < 0.06 THEN 'mixed'
         ELSE 'tenant' END,
    CASE WHEN cat <= 6 THEN 'incident' ELSE 'request' END,
    (%(categories)s::text[])[cat],
    CASE WHEN r_pri < 0.30 THEN 'low' WHEN r_pri < 0.75 THEN 'medium' WHEN r_pri < 0.95 THEN 'high'
         ELSE 'critical' END,
    CASE WHEN r_state < 0.08 THEN 'new' WHEN r_state < 0.13 THEN 'ack' WHEN r_state < 0.23 THEN 'in_progress'
         WHEN r_state < 0.27 THEN 'wait_requester' WHEN r_state < 0.30 THEN 'wait_dependency'
         WHEN r_state < 0.55 THEN 'resolved' WHEN r_state < 0.95 THEN 'closed' ELSE 'canceled' END,
    ltrim({pick("prefixes", PREFIXES)} || ' ' || {pick("components", COMPONENTS, 1.5)}
          || ' ' || {pick("problems", PROBLEMS, 1.5)} || ' on ' || {pick("datasets", DATASETS, 2)}),
    (SELECT string_agg({pick("sentences", SENTENCES, 1.3)}, ' ') FROM generate_series(0, 1 + g %% 4))
    || ' Dataset: ' || {pick("datasets", DATASETS, 2)} || '.'
    || CASE WHEN random() < 0.003 THEN ' Seen in ' || {pick("rare", RARE)} || ' logs.' ELSE '' END,
    'user-' || (g %% 997),
    CASE WHEN random() < 0.6 THEN 'op-' || (g %% 25) END,
    CASE WHEN random() < 0.5 THEN (ARRAY['data', 'infra', 'security', 'billing'])[1 + g %% 4] END,
    CASE WHEN g %% 3 = 0 THEN '{{}}'::text[]
         ELSE ARRAY(SELECT DISTINCT {pick("tags", TAGS)}
                    FROM generate_series(1, 1 + g %% 3) WHERE g IS NOT NULL) END,
    to_timestamp(ms / 1000.0),
    to_timestamp(ms / 1000.0) + make_interval(mins => (random() * 10000)::int)
FROM (
    SELECT g,
           %(base_ms)s::bigint + g::bigint * 63000 + (random() * 999)::int AS ms,
           CASE WHEN random() < 0.02 THEN NULL
                ELSE 'tenant-' || lpad(floor(100 * random() ^ 1.25)::int::text, 3, '0') END AS tenant,
           random() AS r_vis, random() AS r_pri, random() AS r_state,
           1 + floor(random() * 12)::int AS cat
    FROM generate_series(%(lo)s::int, %(hi)s::int) AS g
) AS s
"""


def word_lists() -> dict[str, Any]:
    return {
        "categories": CATEGORIES,
        "prefixes": PREFIXES,
        "components": COMPONENTS,
        "problems": PROBLEMS,
        "datasets": DATASETS,
        "sentences": SENTENCES,
        "rare": RARE,
        "tags": TAGS,
        # two years of tickets (one per ~63 s), the newest about now (2026-11)
        "base_ms": 1_732_406_400_000,  # 2024-11-24
    }


def ticket_count(admin_url: str) -> int:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM ticket").fetchone()
        return int(row[0]) if row else 0


def load(admin_url: str) -> None:
    """Generate ROWS tickets into the empty, freshly migrated database: drop the secondary indexes,
    load in two parallel halves, rebuild the indexes, vacuum and analyze."""
    started = time.perf_counter()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        # Secondary indexes, as the migrations define them (constraint indexes stay).
        indexes = conn.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i"
            " WHERE i.tablename = 'ticket' AND i.schemaname = 'public'"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))

    params = word_lists()
    errors: list[BaseException] = []

    def load_part(lo: int, hi: int) -> None:
        try:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute("SET synchronous_commit = off")
                conn.execute(GENERATE, {**params, "lo": lo, "hi": hi})
        except BaseException as exc:  # reported below, in the main thread
            errors.append(exc)

    half = ROWS // 2
    parts = [
        threading.Thread(target=load_part, args=(1, half)),
        threading.Thread(target=load_part, args=(half + 1, ROWS)),
    ]
    for t in parts:
        t.start()
    for t in parts:
        t.join()
    if errors:
        raise errors[0]
    loaded = time.perf_counter() - started
    print(f"  inserted {ROWS:,} rows in {loaded:.0f} s", flush=True)

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET max_parallel_maintenance_workers = 2")
        for name, definition in indexes:
            t0 = time.perf_counter()
            conn.execute(definition)
            print(f"  index {name}: {time.perf_counter() - t0:.0f} s", flush=True)
        t0 = time.perf_counter()
        conn.execute("VACUUM (ANALYZE) ticket")
        print(f"  vacuum analyze: {time.perf_counter() - t0:.0f} s", flush=True)
    print(f"  dataset ready in {time.perf_counter() - started:.0f} s", flush=True)


@dataclass
class Shape:
    """One kind of query a tenant user runs: its full-text terms and filters."""

    name: str
    q: str
    filters: dict[str, Any] = field(default_factory=dict)


SHAPES = [
    Shape("pipeline failure + state", "pipeline failure", {"state": ["new", "ack", "in_progress"]}),
    Shape("latency + priority", "latency", {"priority": ["high", "critical"]}),
    Shape("rare term", "kerberos"),
    Shape("rare term + state", "debezium", {"state": ["resolved", "closed"]}),
    Shape("common term", "error"),
    Shape("common term + category", "error", {"category": ["pipeline_failure"]}),
    Shape("phrase", '"stale data" orders'),
    Shape("two terms + priority", "timeout warehouse", {"priority": ["critical"]}),
]


def tenant_principal(tenant: str) -> Any:
    from shared.auth import Principal, Role

    return Principal(sub="bench-user", tenant=tenant, roles=frozenset({Role.TENANT_USER}))


def platform_principal() -> Any:
    from shared.auth import Principal, Role

    return Principal(sub="bench-ops", tenant=None, roles=frozenset({Role.PLATFORM_OPERATOR}))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return (time.perf_counter() - started) * 1000, result


def run_search(principal: Any, query: Any) -> Any:
    from shared import db
    from shared.tickets import search

    with db.transaction(principal) as conn:
        return search.search(conn, principal, query)


ILIKE = """
SELECT {cols} FROM ticket
WHERE ticket.tenant_id = %(tenant)s AND ticket.visibility <> 'platform_only' AND {words} {filters}
ORDER BY id DESC LIMIT %(limit)s
"""


def run_ilike(principal: Any, shape: Shape, limit: int) -> int:
    """The same tenant query with ILIKE '%word%' (every word, in title or description)."""
    from shared import db
    from shared.tickets.repository import COLUMNS
    from shared.tickets.service import to_model

    words = [w.strip('"') for w in shape.q.split()]
    params: dict[str, Any] = {"tenant": principal.tenant, "limit": limit + 1}
    word_sql = []
    for i, word in enumerate(words):
        params[f"w{i}"] = f"%{word}%"
        word_sql.append(f"(title ILIKE %(w{i})s OR description ILIKE %(w{i})s)")
    filter_sql = "".join(f" AND {k} = ANY(%({k})s)" for k in shape.filters)
    params.update(shape.filters)
    statement = ILIKE.format(cols=COLUMNS, words=" AND ".join(word_sql), filters=filter_sql)
    with db.transaction(principal) as conn:
        rows = conn.execute(statement.encode(), params).fetchall()
        return len([to_model(r, principal) for r in rows[:limit]])


def repeated_on_fresh_connection(tenant: str, query: Any, times: int, *, prepare: bool) -> list[float]:
    """ms of ``times`` runs of one tenant query on a new connection (prepared as psycopg does, or never)."""
    from shared import db

    db.close_all()
    db.connection().prepare_threshold = 5 if prepare else None
    run = partial(run_search, tenant_principal(tenant), query)
    try:
        return [timed(run)[0] for _ in range(times)]
    finally:
        db.close_all()


def tenants_by_size(admin_url: str) -> list[tuple[str, int]]:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT tenant_id, count(*) FROM ticket WHERE tenant_id IS NOT NULL GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall()
        return [(str(t), int(n)) for t, n in rows]


def bench_full_text(
    tenants: list[str], repeat: int, limit: int, rng: random.Random
) -> dict[str, list[float]]:
    from shared.tickets.models import TicketQuery

    times: dict[str, list[float]] = {s.name: [] for s in SHAPES}
    for _ in range(repeat):
        for shape in rng.sample(SHAPES, len(SHAPES)):
            tenant = rng.choice(tenants)
            query = TicketQuery(q=shape.q, limit=limit, **shape.filters)
            principal = tenant_principal(tenant)
            ms, _ = timed(partial(run_search, principal, query))
            times[shape.name].append(ms)
    return times


def bench_ilike(tenants: list[str], repeat: int, limit: int, rng: random.Random) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {s.name: [] for s in SHAPES}
    for _ in range(repeat):
        for shape in rng.sample(SHAPES, len(SHAPES)):
            tenant = rng.choice(tenants)
            ms, _ = timed(partial(run_ilike, tenant_principal(tenant), shape, limit))
            times[shape.name].append(ms)
    return times


def bench_paging(
    name: str, principal: Any, filters: dict[str, Any], repeat: int
) -> tuple[float, float, float]:
    """(page 1 median ms, page 500 median ms, ms to walk pages 1..500 once) for limit 20."""
    from shared.tickets.models import TicketQuery

    first = TicketQuery(limit=20, **filters)
    cursor = None
    walk_started = time.perf_counter()
    for page in range(1, 500):
        result = run_search(principal, first.model_copy(update={"cursor": cursor}) if cursor else first)
        cursor = result.next_cursor
        if cursor is None:
            raise RuntimeError(f"{name}: only {page} pages")
    walk_ms = (time.perf_counter() - walk_started) * 1000
    page500 = first.model_copy(update={"cursor": cursor})
    t1: list[float] = []
    t500: list[float] = []
    for _ in range(repeat):
        t1.append(timed(lambda: run_search(principal, first))[0])
        t500.append(timed(lambda: run_search(principal, page500))[0])
    return common.median(t1), common.median(t500), walk_ms


def explain(admin_url: str, tenant: str) -> None:
    """The plans of each shape's search for a tenant user: the statement ``ticket_search_ids`` builds
    and runs inside (EXPLAIN (ANALYZE, BUFFERS) by auto_explain, nested statements), then the read of
    the page's rows as the app role under RLS.

    auto_explain needs ``LOAD`` (superuser), so the function is called on the admin connection with
    the same transaction-local scope (``db.set_scope``): it runs as its owner either way."""
    from psycopg.rows import dict_row

    from shared import db
    from shared.tickets import search
    from shared.tickets.models import TicketQuery

    principal = tenant_principal(tenant)
    with psycopg.connect(admin_url, autocommit=True, row_factory=dict_row) as conn:
        notices: list[str] = []
        conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        conn.execute("LOAD 'auto_explain'")
        for setting in (
            "auto_explain.log_min_duration = 0",
            "auto_explain.log_nested_statements = on",
            "auto_explain.log_analyze = on",
            "auto_explain.log_buffers = on",
            "client_min_messages = log",
        ):
            conn.execute(f"SET {setting}")
        for shape in SHAPES:
            query = TicketQuery(q=shape.q, limit=20, **shape.filters)
            statement, params = search.build(principal, query)
            params.pop("_fingerprint")
            notices.clear()
            with conn.transaction():
                db.set_scope(conn, principal)
                ids = [r["id"] for r in conn.execute(statement, params).fetchall()]
            print(f"\n-- {shape.name} (tenant {tenant}): ticket_search_ids, {len(ids)} ids")
            inner = [n for n in notices if "public.ticket" in n]
            print("\n".join(inner) if inner else "\n".join(notices))
            with db.transaction(principal) as app:
                plan = app.execute(
                    "EXPLAIN (ANALYZE, BUFFERS) SELECT id FROM ticket"
                    " WHERE ticket.id = ANY(%(ids)s) AND ticket.tenant_id = %(tenant)s"
                    " AND ticket.visibility <> 'platform_only' ORDER BY ticket.id DESC",
                    {"ids": ids[:20], "tenant": tenant},
                ).fetchall()
            print("-- the page's rows, as the app role under RLS:")
            for row in plan:
                print(row["QUERY PLAN"])


def prewarm(admin_url: str) -> None:
    """Load the table and its indexes into shared_buffers (steady state of a busy server), if possible."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        except psycopg.Error:
            print("  (pg_prewarm not available: caches warm up during the runs instead)")
            return
        conn.execute(
            "SELECT pg_prewarm(c.oid) FROM pg_class c"
            " WHERE c.oid = 'ticket'::regclass"
            " OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'ticket'::regclass)"
        )


@contextmanager
def leakproof_match(admin_url: str) -> Iterator[None]:
    """EXPERIMENT, this database only: declare ts_match_vq (tsvector @@ tsquery) LEAKPROOF, so that
    the planner may use the GIN index under row-level security; reverted afterwards.

    Needs a real superuser (not available on RDS/Aurora): it shows what the index would give,
    not a fix to deploy."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("ALTER FUNCTION ts_match_vq(tsvector, tsquery) LEAKPROOF")
    try:
        yield
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute("ALTER FUNCTION ts_match_vq(tsvector, tsquery) NOT LEAKPROOF")


def summary(times: dict[str, list[float]]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for name, values in times.items():
        rows.append(
            [name, len(values), common.percentile(values, 50), common.percentile(values, 95), max(values)]
        )
    everything = [v for values in times.values() for v in values]
    rows.append(
        [
            "ALL",
            len(everything),
            common.percentile(everything, 50),
            common.percentile(everything, 95),
            max(everything),
        ]
    )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=30, help="runs of each query shape (random tenants)")
    parser.add_argument("--limit", type=int, default=20, help="page size of the full-text queries")
    parser.add_argument("--reload", action="store_true", help="regenerate the dataset even if present")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN (ANALYZE, BUFFERS) per shape")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--leakproof-experiment",
        action="store_true",
        help="also re-run the full-text queries with ts_match_vq declared LEAKPROOF (needs superuser);"
        " historical: since migration 0002 shared.search no longer evaluates @@ under RLS",
    )
    args = parser.parse_args(argv)

    from shared.tickets.models import TicketQuery

    common.configure_env()
    fresh = args.reload
    root = common.server_url()
    if not fresh and common.database_exists(root, DB_NAME):
        admin_url = common.with_db(root, DB_NAME)
        fresh = ticket_count(admin_url) < ROWS
    admin_url, _ = common.prepare_database(DB_NAME, fresh=fresh)
    if ticket_count(admin_url) < ROWS:
        print(f"generating {ROWS:,} tickets in {TENANTS} tenants (once; kept in {DB_NAME}) ...", flush=True)
        load(admin_url)
    facts = common.server_facts(admin_url)
    sizes = tenants_by_size(admin_url)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE tenant_id IS NULL),"
            " pg_size_pretty(pg_total_relation_size('ticket')) FROM ticket"
        ).fetchone()
        assert row is not None
    print(f"PostgreSQL: {facts['postgres']}")
    print(f"shared_buffers={facts['shared_buffers']} work_mem={facts['work_mem']} jit={facts['jit']}")
    print(
        f"dataset: {row[0]:,} tickets ({row[1]:,} platform-only without tenant), {len(sizes)} tenants"
        f" ({sizes[-1][1]:,}..{sizes[0][1]:,} tickets each), ticket table + indexes {row[2]}"
    )

    rng = random.Random(args.seed)
    tenants = [t for t, _ in sizes]
    prewarm(admin_url)
    # warm-up: prepared statements, the rest of the caches
    bench_full_text(tenants, 2, args.limit, rng)
    bench_ilike(tenants, 1, args.limit, rng)

    print(f"\nfull-text search, tenant scope, limit {args.limit}, {args.repeat} runs per shape (ms):")
    fts = bench_full_text(tenants, args.repeat, args.limit, rng)
    rows = summary(fts)
    print(common.table(["query", "n", "p50", "p95", "max"], rows))
    p95 = rows[-1][3]
    print(f"target p95 <= 50 ms: {'met' if p95 <= 50 else 'MISSED'} (p95 {p95:.1f} ms)")

    print("\nby tenant size, ms median,")
    print("each cell on a fresh connection with statements never prepared (custom plans):")
    picks = [sizes[0], sizes[len(sizes) // 2], sizes[-1]]
    scaling = []
    for shape in [s for s in SHAPES if s.name in ("rare term", "common term + category", "phrase")]:
        line: list[Any] = [shape.name]
        for tenant, _ in picks:
            query = TicketQuery(q=shape.q, limit=args.limit, **shape.filters)
            line.append(
                common.median(repeated_on_fresh_connection(tenant, query, args.repeat, prepare=False))
            )
        scaling.append(line)
    print(common.table(["query", *(f"{t} ({n:,} tickets)" for t, n in picks)], scaling))

    print(f"\nprepared statements: {sizes[0][0]}, one query {args.repeat} times on one connection, ms median")
    print("of runs 11.. (psycopg prepares from the 5th run, PostgreSQL may then switch to a generic plan):")
    prepared_rows = []
    for shape in [s for s in SHAPES if s.name in ("rare term", "common term + category", "phrase")]:
        query = TicketQuery(q=shape.q, limit=args.limit, **shape.filters)
        never = repeated_on_fresh_connection(sizes[0][0], query, args.repeat, prepare=False)[10:]
        default = repeated_on_fresh_connection(sizes[0][0], query, args.repeat, prepare=True)[10:]
        prepared_rows.append([shape.name, common.median(never), common.median(default)])
    print(common.table(["query", "never prepared", "psycopg default (prepare_threshold=5)"], prepared_rows))

    print(
        f"\nILIKE '%word%' on title/description instead, same shapes and scope ({args.repeat} runs each, ms):"
    )
    ilike = bench_ilike(tenants, args.repeat, args.limit, rng)
    print(common.table(["query", "n", "p50", "p95", "max"], summary(ilike)))

    print("\nkeyset paging, limit 20 (ms, median of runs):")
    paging_rows: list[tuple[str, float, float, float, float]] = []
    largest = sizes[0][0]
    for name, principal, filters in [
        ("platform: all tickets", platform_principal(), {}),
        ("platform: state=closed", platform_principal(), {"state": ["closed"]}),
        (f"tenant {largest}: all", tenant_principal(largest), {}),
    ]:
        p1, p500, walk = bench_paging(name, principal, filters, args.repeat)
        paging_rows.append((name, p1, p500, p500 / p1, walk / 499))
    print(
        common.table(["listing", "page 1", "page 500", "ratio", "mean per page walking 1..500"], paging_rows)
    )
    worst = max(r[3] for r in paging_rows)
    print(f"target page 500 <= 1.5x page 1: {'met' if worst <= 1.5 else 'MISSED'} (worst ratio {worst:.2f})")

    if args.explain:
        explain(admin_url, sizes[0][0])

    if args.leakproof_experiment:
        print(
            "\nEXPERIMENT: the same full-text queries with ts_match_vq declared LEAKPROOF"
            " (GIN usable under RLS):"
        )
        from shared import db

        with leakproof_match(admin_url):
            db.close_all()  # fresh plans
            bench_full_text(tenants, 2, args.limit, rng)
            rows = summary(bench_full_text(tenants, args.repeat, args.limit, rng))
            print(common.table(["query", "n", "p50", "p95", "max"], rows))
            if args.explain:
                explain(admin_url, sizes[0][0])
        db.close_all()


if __name__ == "__main__":
    main()
