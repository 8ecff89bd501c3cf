"""ticket_search_ids (migrations/0002): a SECURITY DEFINER function, so it must keep the scope itself.

Called directly as the application role, the way a bug or an attacker in the service could call
it: whatever the arguments, it returns only ids the caller's transaction scope covers.
"""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from shared import db
from shared.auth import Principal, Role
from tests.conftest import Database
from tests.integration.conftest import ALICE, GREG, OPS, create_ticket

pytestmark = pytest.mark.usefixtures("api")

ACME = Principal(sub="alice", tenant="acme", roles=frozenset({Role.TENANT_USER}))
GLOBEX = Principal(sub="greg", tenant="globex", roles=frozenset({Role.TENANT_USER}))
PLATFORM = Principal(sub="olga", tenant=None, roles=frozenset({Role.PLATFORM_OPERATOR}))
SIGNATURE = (
    "ticket_search_ids(text, text[], text[], text, text[], text, text, text, uuid, integer, text,"
    " text[], text, timestamp with time zone)"
)


def search_ids(conn: psycopg.Connection[Any], **args: Any) -> list[UUID]:
    """The function's result for ``args`` (named notation; the rest take their defaults)."""
    call = sql.SQL("SELECT ticket_search_ids AS id FROM ticket_search_ids({})").format(
        sql.SQL(", ").join(sql.SQL("{} => {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in args)
    )
    return [r["id"] for r in conn.execute(call, args).fetchall()]


def as_principal(principal: Principal, **args: Any) -> list[UUID]:
    with db.transaction(principal) as conn:
        return search_ids(conn, **args)


@pytest.fixture
def seeded() -> dict[str, UUID]:
    made = {
        "acme": create_ticket(ALICE, title="Orders pipeline failing every night", priority="high"),
        "acme2": create_ticket(
            ALICE, title="Raise storage quota", category="quota", priority="low", tags=["billing"]
        ),
        "mixed": create_ticket(
            OPS,
            title="Acme warehouse pipeline slow",
            category="health",
            tenant_id="acme",
            visibility="mixed",
        ),
        "hidden": create_ticket(
            OPS,
            title="About acme's pipeline, platform only",
            category="health",
            tenant_id="acme",
            visibility="platform_only",
        ),
        "globex": create_ticket(GREG, title="Globex pipeline failed"),
        "platform": create_ticket(OPS, title="Platform pipeline failing", category="health"),
    }
    return {name: UUID(t["id"]) for name, t in made.items()}


def newest_first(*ids: UUID) -> list[UUID]:
    return sorted(ids, reverse=True)


class TestScope:
    def test_a_tenant_gets_only_its_own_non_platform_only_tickets(self, database, seeded):
        assert as_principal(ACME) == newest_first(seeded["acme"], seeded["acme2"], seeded["mixed"])
        assert as_principal(ACME, q="pipeline") == newest_first(seeded["acme"], seeded["mixed"])

    def test_another_tenants_id_as_filter_does_not_widen_the_scope(self, database, seeded):
        assert as_principal(ACME, tenant_id="globex") == []
        assert as_principal(ACME, q=None, tenant_id="globex") == []
        assert as_principal(ACME, q="globex", tenant_id="globex") == []
        assert as_principal(GLOBEX, q="pipeline", tenant_id="acme") == []
        # its own tenant as a filter changes nothing
        assert as_principal(ACME, tenant_id="acme") == as_principal(ACME)

    def test_no_scope_returns_nothing(self, database: Database, seeded):
        with psycopg.connect(database.app_url, autocommit=True, row_factory=dict_row) as conn:
            assert search_ids(conn) == []
            assert search_ids(conn, q="pipeline") == []
            assert search_ids(conn, tenant_id="acme") == []
            # settings present but empty: still no scope
            with conn.transaction():
                conn.execute(
                    "SELECT set_config('app.tenant_id', '', true), set_config('app.is_platform', 'off', true)"
                )
                assert search_ids(conn, tenant_id="acme") == []

    def test_scope_is_read_from_this_transaction_only(self, database: Database, seeded):
        with psycopg.connect(database.app_url, autocommit=True, row_factory=dict_row) as conn:
            with conn.transaction():
                conn.execute("SELECT set_config('app.tenant_id', 'acme', true)")
                assert len(search_ids(conn)) == 3
            assert search_ids(conn) == []  # transaction-local: gone after commit

    def test_platform_sees_everything(self, database, seeded):
        assert as_principal(PLATFORM) == newest_first(*seeded.values())
        assert as_principal(PLATFORM, tenant_id="acme") == newest_first(
            seeded["acme"], seeded["acme2"], seeded["mixed"], seeded["hidden"]
        )
        assert set(as_principal(PLATFORM, q="pipeline")) == set(seeded.values()) - {seeded["acme2"]}

    def test_the_search_api_returns_only_what_the_function_allows(self, api, seeded):
        result = api("GET", "/tickets", caller=ALICE, query={"q": "pipeline", "limit": "1"})
        assert result.status == 200, result.body
        first = [t["id"] for t in result.body["items"]]
        cursor = result.body["next_cursor"]
        assert cursor
        result = api("GET", "/tickets", caller=ALICE, query={"q": "pipeline", "limit": "1", "cursor": cursor})
        assert result.status == 200, result.body
        assert [UUID(i) for i in first + [t["id"] for t in result.body["items"]]] == newest_first(
            seeded["acme"], seeded["mixed"]
        )
        assert result.body["next_cursor"] is None


class TestDefinition:
    def test_security_definer_with_a_fixed_search_path_owned_by_the_table_owner(self, database: Database):
        with database.admin() as conn:
            row = conn.execute(
                "SELECT p.prosecdef, p.provolatile, p.proconfig, pg_get_userbyid(p.proowner) AS owner,"
                " pg_get_userbyid(c.relowner) AS table_owner"
                " FROM pg_proc p, pg_class c"
                " WHERE p.oid = %s::regprocedure AND c.oid = 'public.ticket'::regclass",
                (SIGNATURE,),
            ).fetchone()
        assert row["prosecdef"] is True
        assert row["provolatile"] == "s"
        assert row["proconfig"] == ["search_path=pg_catalog, public, pg_temp"]
        assert row["owner"] == row["table_owner"] != "ticketing_app"

    def test_public_cannot_execute_it_only_the_app_role(self, database: Database):
        role = f"t_role_{uuid.uuid4().hex[:12]}"
        with database.admin() as conn:
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
            try:
                acl = conn.execute(
                    "SELECT a.grantee, a.privilege_type"
                    " FROM pg_proc p, aclexplode(p.proacl) a WHERE p.oid = %s::regprocedure",
                    (SIGNATURE,),
                ).fetchall()
                fresh = conn.execute(
                    "SELECT has_function_privilege(%s, %s, 'EXECUTE') AS ok", (role, SIGNATURE)
                ).fetchone()
                app = conn.execute(
                    "SELECT has_function_privilege('ticketing_app', %s, 'EXECUTE') AS ok", (SIGNATURE,)
                ).fetchone()
            finally:
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
        assert acl, "an explicit ACL (NULL would mean PUBLIC may execute)"
        assert all(a["grantee"] != 0 for a in acl)  # 0: PUBLIC
        assert fresh["ok"] is False
        assert app["ok"] is True


class TestFiltersAndCursor:
    @pytest.fixture
    def varied(self, database: Database, seeded: dict[str, UUID]) -> dict[str, UUID]:
        with database.admin() as conn:
            conn.execute(
                "UPDATE ticket SET state = 'closed', assignee = 'op-1' WHERE id = %s", (seeded["acme2"],)
            )
        return seeded

    def test_full_text_uses_stemming_and_web_search_syntax(self, database, varied):
        assert as_principal(ACME, q="fail pipelines") == [varied["acme"]]
        assert as_principal(ACME, q="pipeline -warehouse") == [varied["acme"]]
        assert as_principal(ACME, q='"storage quota"') == [varied["acme2"]]
        assert as_principal(ACME, q="kerberos") == []

    def test_each_filter(self, database, varied):
        assert as_principal(ACME, states=["closed"]) == [varied["acme2"]]
        assert as_principal(ACME, states=["new", "ack"]) == newest_first(varied["acme"], varied["mixed"])
        assert as_principal(ACME, priorities=["low"]) == [varied["acme2"]]
        assert as_principal(ACME, kind="request") == [varied["acme2"]]
        assert as_principal(ACME, categories=["quota", "health"]) == newest_first(
            varied["acme2"], varied["mixed"]
        )
        assert as_principal(ACME, assignee="op-1") == [varied["acme2"]]
        assert as_principal(ACME, tag="billing") == [varied["acme2"]]
        assert as_principal(ACME, tag="billing", priorities=["high"]) == []
        assert as_principal(ACME, q="quota", states=["closed"], tag="billing") == [varied["acme2"]]

    def test_values_are_bound_never_interpolated(self, database, varied):
        for nasty in ["'; DROP TABLE ticket; --", "nobody' OR 'x'='x", "$1", "%s %I"]:
            assert as_principal(ACME, q=nasty) == []
            assert as_principal(ACME, tenant_id=nasty) == []
            assert as_principal(ACME, tag=nasty, assignee=nasty) == []
        assert len(as_principal(PLATFORM)) == 6

    def test_keyset_cursor_and_order(self, database, varied):
        everything = as_principal(ACME)
        assert everything == sorted(everything, reverse=True)
        assert as_principal(ACME, row_limit=2) == everything[:2]
        assert as_principal(ACME, after=everything[0]) == everything[1:]
        assert as_principal(ACME, after=everything[1], row_limit=1) == everything[2:3]
        assert as_principal(ACME, after=everything[-1]) == []
        # another tenant's id as a cursor only moves the boundary
        assert as_principal(ACME, after=varied["globex"]) == [i for i in everything if i < varied["globex"]]

    def test_limit_is_clamped_to_1_to_201(self, database: Database, varied):
        assert len(as_principal(ACME, row_limit=0)) == 1
        assert len(as_principal(ACME, row_limit=-5)) == 1
        with database.admin() as conn:
            conn.execute(
                "INSERT INTO ticket (id, tenant_id, visibility, kind, priority, state, title, requester,"
                " created_at, updated_at)"
                " SELECT gen_random_uuid(), 'acme', 'tenant', 'request', 'low', 'new', 'bulk ' || g, 'x',"
                " now(), now() FROM generate_series(1, 210) AS g"
            )
        assert len(as_principal(ACME, row_limit=10_000)) == 201
        assert len(as_principal(ACME, row_limit=None)) == 51
        assert len(as_principal(ACME)) == 51
