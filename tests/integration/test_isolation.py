"""Row-level security: the second wall, tested without the application's own WHERE clauses."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.rows import dict_row

from shared import db
from shared.auth import Principal, Role
from shared.db import core as db_core
from tests.integration.conftest import ALICE, GREG, OPS, create_ticket

pytestmark = pytest.mark.usefixtures("api")

ACME = Principal(sub="alice", tenant="acme", roles=frozenset({Role.TENANT_USER}))


@pytest.fixture
def seeded():
    return {
        "acme": create_ticket(ALICE, title="acme one"),
        "acme2": create_ticket(ALICE, title="acme two", category="quota"),
        "globex": create_ticket(GREG, title="globex one"),
        "platform": create_ticket(OPS, title="platform only", category="health"),
        "hidden": create_ticket(
            OPS,
            title="about acme, platform only",
            category="health",
            tenant_id="acme",
            visibility="platform_only",
        ),
    }


def test_unscoped_select_in_a_tenant_transaction_sees_only_that_tenant(database, seeded):
    with db.transaction(ACME) as conn:
        rows = conn.execute("SELECT * FROM ticket").fetchall()
    assert {r["title"] for r in rows} == {"acme one", "acme two"}
    assert all(r["tenant_id"] == "acme" and r["visibility"] != "platform_only" for r in rows)


def test_platform_scope_sees_everything(database, seeded):
    with db.transaction(
        Principal(sub="olga", tenant=None, roles=frozenset({Role.PLATFORM_OPERATOR}))
    ) as conn:
        assert conn.execute("SELECT count(*) AS n FROM ticket").fetchone()["n"] == 5


def test_no_scope_sees_nothing(database, seeded):
    with psycopg.connect(database.app_url, row_factory=dict_row) as conn:
        assert conn.execute("SELECT count(*) AS n FROM ticket").fetchone()["n"] == 0
        assert conn.execute("SELECT count(*) AS n FROM ticket_event").fetchone()["n"] == 0


def test_the_app_role_cannot_bypass_rls(database):
    with database.admin() as conn:
        role = conn.execute(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'ticketing_app'"
        ).fetchone()
    assert role == {"rolsuper": False, "rolbypassrls": False}


def test_tenant_cannot_write_into_another_tenant(database, seeded):
    with pytest.raises(Exception) as excinfo, db.transaction(ACME) as conn:
        conn.execute("UPDATE ticket SET tenant_id = 'globex' WHERE title = 'acme one'")
    assert "scope" in str(excinfo.value) or "row-level security" in str(excinfo.value.__cause__)
    with db.transaction(ACME) as conn:
        changed = conn.execute(
            "UPDATE ticket SET title = 'pwned' WHERE title = 'globex one' RETURNING id"
        ).fetchall()
    assert changed == []


def test_internal_comments_and_events_are_invisible_to_tenant_sql(database, seeded, api):
    ticket = seeded["acme"]
    api(
        "POST",
        f"/tickets/{ticket['id']}/comments",
        caller=OPS,
        body={"body": "secret", "visibility": "internal"},
    )
    with db.transaction(ACME) as conn:
        assert conn.execute("SELECT count(*) AS n FROM ticket_comment").fetchone()["n"] == 0
        types = [r["visibility"] for r in conn.execute("SELECT visibility FROM ticket_event").fetchall()]
    assert "internal" not in types and types


def test_the_audit_trail_refuses_update_and_delete_even_for_the_owner(database, seeded):
    with database.admin() as conn:
        for statement in (
            "UPDATE ticket_event SET actor = 'x'",
            "DELETE FROM ticket_event",
            "TRUNCATE ticket_event",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(statement)


def test_a_connection_dropped_while_idle_is_replaced(api, database, monkeypatch):
    ticket = create_ticket()
    conn = db.connection()
    with database.admin() as admin:  # what RDS Proxy or a failover does to an idle client
        admin.execute("SELECT pg_terminate_backend(%s)", (conn.info.backend_pid,))
    monkeypatch.setattr(db_core, "IDLE_CHECK_S", -1.0)
    assert api("GET", f"/tickets/{ticket['id']}", caller=ALICE).status == 200
