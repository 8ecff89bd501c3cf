"""The migration runner against an empty database: applies all, records checksums, refuses edits."""

from __future__ import annotations

import shutil
import uuid

import psycopg
import pytest
from psycopg import sql

from shared.db import migrate
from tests.conftest import with_db

EXPECTED_TABLES = {
    "ticket",
    "ticket_event",
    "ticket_comment",
    "idempotency_key",
    "outbox",
    "schema_migration",
}


@pytest.fixture
def empty_db(pg_server_url, template_db):
    name = f"m_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield with_db(pg_server_url, name)
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_applies_everything_to_an_empty_database_once(empty_db):
    names = [m.name for m in migrate.load()]
    assert migrate.apply(empty_db) == names
    assert migrate.apply(empty_db) == []
    with psycopg.connect(empty_db) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        rls = {r[0] for r in conn.execute("SELECT relname FROM pg_class WHERE relrowsecurity")}
        recorded = [r[0] for r in conn.execute("SELECT name FROM schema_migration ORDER BY name")]
    assert tables >= EXPECTED_TABLES
    assert {"ticket", "ticket_event", "ticket_comment", "idempotency_key", "outbox"} <= rls
    assert recorded == names


def test_an_edited_applied_migration_is_refused(empty_db, tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, folder)
    migrate.apply(empty_db, folder)
    first = sorted(folder.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited\n")
    with pytest.raises(migrate.MigrationError, match="edited after it was applied"):
        migrate.apply(empty_db, folder)


def test_a_failing_migration_leaves_nothing_half_applied(empty_db, tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS_DIR, folder)
    (folder / "9999_broken.sql").write_text("CREATE TABLE half (id int);\nSELECT no_such_function();\n")
    with pytest.raises(migrate.MigrationError, match=r"9999_broken\.sql failed"):
        migrate.apply(empty_db, folder)
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT to_regclass('public.half')").fetchone() == (None,)
        assert conn.execute(
            "SELECT count(*) FROM schema_migration WHERE name = '9999_broken.sql'"
        ).fetchone() == (0,)


def test_badly_named_files_are_refused(tmp_path):
    (tmp_path / "1_init.sql").write_text("SELECT 1;")
    with pytest.raises(migrate.MigrationError, match="NNNN_lower_snake"):
        migrate.load(tmp_path)
