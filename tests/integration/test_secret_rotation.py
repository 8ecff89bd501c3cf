"""After the app secret rotates, a warm function reconnects without an error (issue 9 §6).

The function reads the database password from Secrets Manager (moto) through the secrets helper,
which caches it for five minutes. The test rotates it as the rotation Lambda does (the role's
password in PostgreSQL, then the secret's value) and drops the function's connection, as RDS
Proxy or a failover would: the next request connects with the cached, old password, is refused,
reads the secret again and succeeds.

The role is a test-only member of ``ticketing_app`` that must log in with its password (the
embedded test server trusts everyone else: ``tests/conftest.py``), so that the refusal is real.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from shared import aws, db
from shared.runtime import entrypoints
from tests.conftest import PASSWORD_AUTH_ROLE, Database, cluster_role_lock
from tests.integration.conftest import ALICE, create_ticket


@pytest.fixture
def rotating_role(database: Database) -> Iterator[str]:
    role = f"rot_{uuid.uuid4().hex[:10]}"
    with cluster_role_lock(), database.admin() as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'before' IN ROLE ticketing_app, {}").format(
                sql.Identifier(role), sql.Identifier(PASSWORD_AUTH_ROLE)
            )
        )
    try:
        yield role
    finally:
        db.close_all(every_thread=True)
        with cluster_role_lock(), database.admin() as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def _refuses_wrong_passwords(database: Database, role: str) -> bool:
    try:
        psycopg.connect(database.app_url, user=role, password="wrong").close()
    except psycopg.OperationalError:
        return True
    return False


@pytest.fixture
def from_the_secret(api: Any, database: Database, rotating_role: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The functions read the app secret and connect as RDS Proxy's clients do; returns its ARN."""
    if not _refuses_wrong_passwords(database, rotating_role):
        pytest.skip("this PostgreSQL trusts every login (TEST_DATABASE_URL): a rotation cannot be refused")
    arn: str = aws.client("secretsmanager").create_secret(
        Name=f"ticketing-app-{rotating_role}",
        SecretString=json.dumps({"username": rotating_role, "password": "before"}),
    )["ARN"]
    server = conninfo_to_dict(database.app_url)
    monkeypatch.delenv("DATABASE_URL")
    for name, value in {
        "DB_SECRET_ARN": arn,
        "DB_HOST": str(server.get("host") or "localhost"),
        "DB_PORT": str(server.get("port") or 5432),
        "DB_NAME": database.name,
        "DB_SSLMODE": "disable",
    }.items():
        monkeypatch.setenv(name, value)
    entrypoints.reset()
    db.close_all(every_thread=True)
    return arn


def test_a_warm_function_reconnects_after_the_secret_rotates(
    api, database, rotating_role, from_the_secret, caplog
):
    ticket = create_ticket()  # cold: reads the secret, connects as the rotating role
    assert db.connection().info.user == rotating_role

    # The rotation: the role's password first, then the secret (as the rotation function does).
    with cluster_role_lock(), database.admin() as conn:
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD 'after'").format(sql.Identifier(rotating_role)))
    aws.client("secretsmanager").put_secret_value(
        SecretId=from_the_secret, SecretString=json.dumps({"username": rotating_role, "password": "after"})
    )
    db.close_all(every_thread=True)  # RDS Proxy or a failover drops the idle connection

    # Warm: the secret is still cached with the old password; the refusal makes it read it again.
    assert api("GET", f"/tickets/{ticket['key']}", caller=ALICE).status == 200
    assert "database refused the cached password" in caplog.text
    assert (
        api("POST", f"/tickets/{ticket['key']}/comments", caller=ALICE, body={"body": "still here"}).status
        == 201
    )


def test_a_password_nobody_has_is_503_not_a_loop(api, database, rotating_role, from_the_secret):
    ticket = create_ticket()
    with cluster_role_lock(), database.admin() as conn:
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD 'nobody knows'").format(sql.Identifier(rotating_role)))
    db.close_all(every_thread=True)
    result = api("GET", f"/tickets/{ticket['key']}", caller=ALICE)
    assert result.status == 503 and result.body["detail"] == "The database is unreachable."
