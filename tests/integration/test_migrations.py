"""The migration runner against an empty database: applies all, records checksums, refuses edits,
and builds exactly the schema checked in as tests/integration/schema/expected_schema.txt."""

from __future__ import annotations

import shutil
import uuid

import psycopg
import pytest
from psycopg import sql

from shared.db import migrate
from tests import schema_snapshot
from tests.conftest import cluster_role_lock, with_db

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
    with cluster_role_lock():  # the test applies migrations, which ALTER the cluster-wide role
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


def test_the_migrations_build_the_expected_schema(empty_db):
    migrate.apply(empty_db)
    with psycopg.connect(empty_db) as conn:
        actual = schema_snapshot.snapshot(conn)
    report = schema_snapshot.compare(schema_snapshot.read_expected(), actual)
    if report:
        pytest.fail(report, pytrace=False)


@pytest.fixture(scope="module")
def migrated_db(pg_server_url, template_db):
    """One database with every migration applied; each test changes it in a rolled-back transaction."""
    name = f"s_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_db(pg_server_url, name)
    with cluster_role_lock():
        migrate.apply(url)
    yield url
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def baseline(migrated_db):
    with psycopg.connect(migrated_db) as conn:
        return schema_snapshot.snapshot(conn)


# Each change, and the expected file's lines it must take away (-) and add (+): exactly these.
SEARCH_IDS = (
    "ticket_search_ids(text,text[],text[],text,text[],text,text,text,uuid,integer,text,text[],text,"
    "timestamp with time zone)"
)
SCHEMA_CHANGES = [
    pytest.param(
        "DROP INDEX ticket_assignee_idx",
        [
            "index ticket.ticket_assignee_idx: CREATE INDEX ticket_assignee_idx ON public.ticket"
            " USING btree (assignee, id DESC) WHERE (assignee IS NOT NULL)"
        ],
        [],
        id="dropped-index",
    ),
    pytest.param(
        "DROP POLICY outbox_system_purge ON outbox",
        ["policy outbox.outbox_system_purge: DELETE permissive to PUBLIC using (app_is_system())"],
        [],
        id="dropped-policy",
    ),
    pytest.param(
        "REVOKE DELETE ON outbox FROM ticketing_app",
        ["grant table outbox to ticketing_app: DELETE"],
        [],
        id="revoked-grant",
    ),
    pytest.param(
        "DROP TRIGGER ticket_event_no_truncate ON ticket_event",
        [
            "trigger ticket_event.ticket_event_no_truncate: enabled, CREATE TRIGGER ticket_event_no_truncate"
            " BEFORE TRUNCATE ON public.ticket_event FOR EACH STATEMENT"
            " EXECUTE FUNCTION ticket_event_refuse_change()"
        ],
        [],
        id="dropped-trigger",
    ),
    pytest.param(
        "ALTER TABLE ticket_event DISABLE TRIGGER ticket_event_no_update_delete",
        [
            "trigger ticket_event.ticket_event_no_update_delete: enabled, CREATE TRIGGER"
            " ticket_event_no_update_delete BEFORE DELETE OR UPDATE ON public.ticket_event FOR EACH ROW"
            " EXECUTE FUNCTION ticket_event_refuse_change()"
        ],
        [
            "trigger ticket_event.ticket_event_no_update_delete: disabled, CREATE TRIGGER"
            " ticket_event_no_update_delete BEFORE DELETE OR UPDATE ON public.ticket_event FOR EACH ROW"
            " EXECUTE FUNCTION ticket_event_refuse_change()"
        ],
        id="disabled-trigger",
    ),
    pytest.param(
        "ALTER TABLE ticket DISABLE ROW LEVEL SECURITY",
        ["row level security ticket: enabled, not forced"],
        ["row level security ticket: disabled, not forced"],
        id="row-level-security-off",
    ),
    pytest.param(
        f"ALTER FUNCTION {SEARCH_IDS} RESET search_path",
        [f"function {SEARCH_IDS} set: search_path=pg_catalog, public, pg_temp"],
        [],
        id="function-search-path-reset",
    ),
    pytest.param(
        "GRANT TRUNCATE ON ticket_event TO ticketing_app",
        [],
        ["grant table ticket_event to ticketing_app: TRUNCATE"],
        id="extra-grant",
    ),
]


@pytest.mark.parametrize(("statement", "missing", "new"), SCHEMA_CHANGES)
def test_a_schema_change_is_reported_as_exactly_the_lines_it_changes(
    migrated_db, baseline, statement, missing, new
):
    assert set(missing) <= set(schema_snapshot.read_expected())  # the checked-in file covers it
    with psycopg.connect(migrated_db) as conn, conn.transaction(force_rollback=True):
        conn.execute(statement)
        actual = schema_snapshot.snapshot(conn)

    assert schema_snapshot.changes(baseline, actual) == (missing, new)
    report = schema_snapshot.compare(baseline, actual, expected_name="expected_schema.txt")
    assert report is not None
    lines = report.splitlines()
    counts = f"{len(missing)} line(s) missing, {len(new)} new"
    assert lines[0] == f"the schema differs from expected_schema.txt: {counts}"
    changed = [line for line in lines if line[:1] in "-+" and not line.startswith(("---", "+++"))]
    assert changed == [f"-{line}" for line in missing] + [f"+{line}" for line in new]
    # A unified diff with two lines of context either side, not the whole schema.
    assert len(lines) <= 1 + 3 + len(changed) + 4 + 1
    assert "make schema-snapshot" in lines[-1]


def test_identical_snapshots_report_nothing(baseline):
    assert schema_snapshot.compare(baseline, list(baseline)) is None
