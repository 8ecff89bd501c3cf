"""The migration custom resource's handler against a real PostgreSQL (Create/Update/Delete)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from functions.migrate import handler as migrate_handler
from shared.db import migrate
from tests.conftest import APP_PASSWORD, cluster_role_lock, with_db

MASTER_ARN = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:master"
APP_ARN = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:app"


@pytest.fixture
def fresh_db(pg_server_url: str) -> Iterator[str]:
    name = f"infra_migrate_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def env(pg_server_url: str, fresh_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The function's environment for ``fresh_db``, with secrets served from memory."""
    params = conninfo_to_dict(pg_server_url)
    secrets = {
        MASTER_ARN: {"username": params.get("user", "postgres"), "password": params.get("password", "")},
        # The same password the shared fixtures give the (cluster-wide) app role.
        APP_ARN: {"username": migrate.APP_ROLE, "password": APP_PASSWORD},
    }
    values = {
        "MASTER_SECRET_ARN": MASTER_ARN,
        "APP_SECRET_ARN": APP_ARN,
        "MIGRATE_DB_HOST": str(params.get("host", "localhost")),
        "MIGRATE_DB_PORT": str(params.get("port", "5432")),
        "MIGRATE_DB_NAME": fresh_db,
        "DB_SSLMODE": "disable",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(migrate_handler, "read_secret", lambda arn: secrets[arn])
    # Roles are cluster-wide: queue behind the shared fixtures' template builds.
    with cluster_role_lock():
        yield {"admin_url": with_db(pg_server_url, fresh_db)}


def event(request_type: str, **extra: Any) -> dict[str, Any]:
    return {"RequestType": request_type, "ResourceProperties": {"MigrationsHash": "x"}, **extra}


def test_create_applies_every_migration_and_lets_the_app_role_log_in(env: dict[str, Any]) -> None:
    result = migrate_handler.handler(event("Create"), None)
    expected = [m.name for m in migrate.load()]
    assert result["PhysicalResourceId"] == migrate_handler.PHYSICAL_ID
    assert result["Data"]["Applied"] == ",".join(expected)
    with psycopg.connect(env["admin_url"]) as conn:
        applied = [r[0] for r in conn.execute("SELECT name FROM schema_migration ORDER BY name")]
        can_login, bypass = conn.execute(
            "SELECT rolcanlogin, rolbypassrls FROM pg_roles WHERE rolname = %s", (migrate.APP_ROLE,)
        ).fetchone() or (None, None)
    assert applied == expected
    assert (can_login, bypass) == (True, False)


def test_update_is_idempotent(env: dict[str, Any]) -> None:
    migrate_handler.handler(event("Create"), None)
    result = migrate_handler.handler(event("Update", PhysicalResourceId="ticketing-migrations"), None)
    assert result == {"PhysicalResourceId": "ticketing-migrations", "Data": {"Applied": "none"}}


def test_delete_is_a_no_op(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    def no_secrets(arn: str) -> dict[str, Any]:
        raise AssertionError("Delete must not touch the database")

    monkeypatch.setattr(migrate_handler, "read_secret", no_secrets)
    result = migrate_handler.handler(event("Delete", PhysicalResourceId="ticketing-migrations"), None)
    assert result == {"PhysicalResourceId": "ticketing-migrations"}


def test_a_failing_migration_fails_the_deploy(
    env: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "0001_broken.sql").write_text("CREATE TABLE broken (;", encoding="utf-8")
    monkeypatch.setenv("MIGRATIONS_DIR", str(tmp_path))
    with pytest.raises(migrate.MigrationError, match=r"0001_broken\.sql failed"):
        migrate_handler.handler(event("Create"), None)
