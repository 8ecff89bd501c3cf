"""The one migration runner: locally, in tests, and in the deploy-time custom resource.

Migrations are plain, numbered SQL files (``0001_name.sql``) applied in order, each in its own
transaction, under a PostgreSQL advisory lock so that concurrent runners queue up instead of
racing. Each applied file is recorded with its SHA-256; a file that was edited after it was
applied is refused, so history cannot silently diverge between environments.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
APP_ROLE = "ticketing_app"
_LOCK_ID = 7_311_042_001  # arbitrary, stable: the advisory lock all runners share
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class MigrationError(Exception):
    pass


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    files = sorted(p for p in directory.iterdir() if p.suffix == ".sql")
    migrations = []
    seen: set[str] = set()
    for path in files:
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: migration files are named NNNN_lower_snake.sql")
        if match.group(1) in seen:
            raise MigrationError(f"{path.name}: two migrations share the number {match.group(1)}")
        seen.add(match.group(1))
        migrations.append(Migration(path.name, path.read_text(encoding="utf-8")))
    return migrations


def apply(dsn: str, directory: Path = MIGRATIONS_DIR, *, app_password: str | None = None) -> list[str]:
    """Apply pending migrations; return the names applied now. Idempotent.

    ``app_password``, when given, lets the application role log in with that password (the
    role itself is created by the first migration, without BYPASSRLS).
    """
    migrations = load(directory)
    applied_now: list[str] = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migration ("
                " name text PRIMARY KEY, checksum text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            rows = conn.execute("SELECT name, checksum FROM schema_migration").fetchall()
            done: dict[str, str] = dict(rows)
            for migration in migrations:
                if migration.name in done:
                    if done[migration.name] != migration.checksum:
                        raise MigrationError(
                            f"{migration.name} was edited after it was applied; add a new migration instead"
                        )
                    continue
                try:
                    with conn.transaction():
                        conn.execute(migration.sql.encode())
                        conn.execute(
                            "INSERT INTO schema_migration (name, checksum) VALUES (%s, %s)",
                            (migration.name, migration.checksum),
                        )
                except psycopg.Error as exc:
                    raise MigrationError(f"{migration.name} failed: {exc}") from exc
                applied_now.append(migration.name)
            if app_password is not None:
                conn.execute(
                    sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(
                        sql.Identifier(APP_ROLE), sql.Literal(app_password)
                    )
                )
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return applied_now
