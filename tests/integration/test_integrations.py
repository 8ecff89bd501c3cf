"""Integrations (issue 10 §3): created, listed, read, revoked and re-keyed through the API with
JWTs, by role and tenant; the routing key shown once and never stored; every change audited;
row-level security refusing what the policy refuses."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, get_args

import pytest

from shared import db
from shared.auth import Principal, Role
from shared.intake.integrations import IncidentCategory
from shared.kernel.errors import ValidationFailed
from shared.tickets.models import SYSTEM_CATEGORIES
from tests.integration.conftest import ADMIN, ALICE, ANNA, GREG, OPS, Caller

GINA = Caller("gina", "globex", ["tenant_admin"])  # globex's tenant admin
SERVICE = Caller("svc-health", None, ["service"])
KEY = re.compile(r"^[0-9a-f]{32}$")


def create(api: Any, caller: Caller = ADMIN, **body: Any) -> dict[str, Any]:
    result = api("POST", "/integrations", caller=caller, body={"name": "Alertmanager (prod)", **body})
    assert result.status == 201, result.body
    created: dict[str, Any] = result.body
    return created


def config_changes(database: Any, entity_id: str) -> list[dict[str, Any]]:
    with database.admin() as conn:
        return list(
            conn.execute(
                "SELECT * FROM config_change WHERE entity_type = 'integration' AND entity_id = %s"
                " ORDER BY id",
                (entity_id,),
            ).fetchall()
        )


# ---- create ------------------------------------------------------------------------------------------


def test_a_platform_admin_creates_an_integration_and_sees_its_key_once(api):
    result = api(
        "POST",
        "/integrations",
        caller=ADMIN,
        body={
            "name": "  Alertmanager (prod)  ",
            "tenant_id": "acme",
            "category": "health",
            "queue": "data-platform",
            "tags": ["prometheus", "prod", "prometheus"],
            "rate_limit_per_minute": 600,
        },
    )
    assert result.status == 201, result.body
    created = result.body
    assert result.headers["Location"] == f"/integrations/{created['id']}"
    assert KEY.match(created["routing_key"])
    assert created["routing_key_hint"] == created["routing_key"][-4:]
    assert {k: created[k] for k in ("name", "tenant_id", "category", "queue", "tags", "status")} == {
        "name": "Alertmanager (prod)",
        "tenant_id": "acme",
        "category": "health",
        "queue": "data-platform",
        "tags": ["prometheus", "prod"],
        "status": "active",
    }
    assert created["rate_limit_per_minute"] == 600 and created["created_by"] == "pat"
    # Shown once: no read returns it again.
    read = api("GET", f"/integrations/{created['id']}", caller=ADMIN)
    assert read.status == 200 and "routing_key" not in read.body
    assert read.body == {k: v for k, v in created.items() if k != "routing_key"}
    listed = api("GET", "/integrations", caller=ADMIN)
    assert [item["id"] for item in listed.body["items"]] == [created["id"]]
    assert created["routing_key"] not in json.dumps(listed.body)


def test_the_database_holds_only_the_keys_hash(api, database):
    created = create(api, tenant_id="acme")
    key = created["routing_key"]
    rotated = api("POST", f"/integrations/{created['id']}/rotate-key", caller=ADMIN).body["routing_key"]
    with database.admin() as conn:
        row = conn.execute("SELECT * FROM integration WHERE id = %s", (created["id"],)).fetchone()
        everything = json.dumps(
            [
                *conn.execute("SELECT to_jsonb(i) AS r FROM integration i").fetchall(),
                *conn.execute("SELECT to_jsonb(c) AS r FROM config_change c").fetchall(),
                *conn.execute("SELECT to_jsonb(k) AS r FROM idempotency_key k").fetchall(),
                *conn.execute("SELECT to_jsonb(o) AS r FROM outbox o").fetchall(),
            ],
            default=str,
        )
    assert row["key_hash"] == hashlib.sha256(rotated.encode()).hexdigest()
    assert row["key_hint"] == rotated[-4:]
    for secret in (key, rotated):
        assert secret not in everything
    # The audit log does not keep the hash either.
    assert row["key_hash"] not in json.dumps(
        [dict(c) for c in config_changes(database, created["id"])], default=str
    )


def test_a_platform_admin_may_create_a_platform_wide_integration(api):
    created = create(api, ADMIN)
    assert created["tenant_id"] is None


def test_a_tenant_admin_creates_integrations_for_its_own_tenant_only(api):
    assert create(api, ANNA)["tenant_id"] == "acme"
    assert create(api, ANNA, tenant_id="acme")["tenant_id"] == "acme"
    for body in ({"tenant_id": "globex"}, {"queue": "data-platform"}, {"rate_limit_per_minute": 10}):
        result = api("POST", "/integrations", caller=ANNA, body={"name": "x", **body})
        assert result.status == 403, (body, result.body)
        assert result.content_type == "application/problem+json"


@pytest.mark.parametrize("caller", [ALICE, GREG, OPS, SERVICE], ids=lambda c: c.roles[0])
def test_other_roles_may_not_create_integrations(api, caller):
    result = api("POST", "/integrations", caller=caller, body={"name": "x", "tenant_id": caller.tenant})
    assert result.status == 403, result.body


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": " "},
        {"name": "x", "category": "access"},  # a request category: events open incidents
        {"name": "x", "tenant_id": "Not A Tenant"},
        {"name": "x", "tags": ["not ok"]},
        {"name": "x", "rate_limit_per_minute": 0},
        {"name": "x", "routing_key": "0" * 32},  # the key is the service's to choose
    ],
    ids=repr,
)
def test_a_malformed_integration_is_422(api, body):
    result = api("POST", "/integrations", caller=ADMIN, body=body)
    assert result.status == 422, result.body


def test_the_incident_categories_are_the_system_categories():
    assert set(get_args(IncidentCategory)) == {c.value for c in SYSTEM_CATEGORIES}


# ---- read --------------------------------------------------------------------------------------------


def test_who_reads_which_integrations(api):
    acme = create(api, ANNA)
    globex = create(api, GINA)
    platform = create(api, ADMIN)

    def ids(caller: Caller, query: str = "") -> list[str]:
        result = api("GET", f"/integrations{query}", caller=caller)
        assert result.status == 200, result.body
        return [item["id"] for item in result.body["items"]]

    assert ids(ADMIN) == ids(OPS) == [platform["id"], globex["id"], acme["id"]]
    assert ids(OPS, "?tenant_id=globex") == [globex["id"]]
    assert ids(ANNA) == ids(ANNA, "?tenant_id=acme") == [acme["id"]]
    assert ids(GINA) == [globex["id"]]
    assert api("GET", "/integrations?tenant_id=globex", caller=ANNA).status == 403
    assert api("GET", f"/integrations/{globex['id']}", caller=ANNA).status == 404
    assert api("GET", f"/integrations/{platform['id']}", caller=ANNA).status == 404
    assert api("GET", f"/integrations/{globex['id']}", caller=OPS).status == 200
    for caller in (ALICE, GREG, SERVICE):
        assert api("GET", "/integrations", caller=caller).status == 403
        assert api("GET", f"/integrations/{acme['id']}", caller=caller).status == 403


@pytest.mark.parametrize("ref", ["nope", "00000000-0000-0000-0000-000000000000", "%2E"])
def test_an_unknown_integration_is_404(api, ref):
    result = api("GET", f"/integrations/{ref}", caller=ADMIN)
    assert result.status == 404 and result.content_type == "application/problem+json"


def test_integrations_come_in_cursor_pages_and_filter_by_status(api):
    made = [create(api, ANNA, name=f"tool {n}")["id"] for n in range(5)]
    api("DELETE", f"/integrations/{made[1]}", caller=ANNA)
    first = api("GET", "/integrations?limit=2", caller=ANNA).body
    assert [i["id"] for i in first["items"]] == made[::-1][:2] and first["next_cursor"]
    rest = api("GET", f"/integrations?limit=2&cursor={first['next_cursor']}", caller=ANNA).body
    last = api("GET", f"/integrations?limit=2&cursor={rest['next_cursor']}", caller=ANNA).body
    assert [i["id"] for i in [*first["items"], *rest["items"], *last["items"]]] == made[::-1]
    assert last["next_cursor"] is None
    other_query = api("GET", f"/integrations?status=active&cursor={first['next_cursor']}", caller=ANNA)
    assert other_query.status == 400
    active = api("GET", "/integrations?status=active", caller=ANNA).body["items"]
    revoked = api("GET", "/integrations?status=revoked", caller=ANNA).body["items"]
    assert [i["id"] for i in revoked] == [made[1]] and made[1] not in [i["id"] for i in active]
    assert api("GET", "/integrations?status=gone", caller=ANNA).status == 400


# ---- revoke and rotate --------------------------------------------------------------------------------


def test_revoking_keeps_the_row_and_marks_it_revoked(api, database):
    created = create(api, ANNA)
    revoked = api("DELETE", f"/integrations/{created['id']}", caller=ANNA)
    assert revoked.status == 200, revoked.body
    assert revoked.body["status"] == "revoked" and revoked.body["revoked_by"] == "anna"
    assert revoked.body["revoked_at"] is not None and "routing_key" not in revoked.body
    again = api("DELETE", f"/integrations/{created['id']}", caller=ADMIN)
    assert again.status == 200 and again.body == revoked.body  # nothing changes, nothing is audited
    assert [c["action"] for c in config_changes(database, created["id"])] == ["create", "revoke"]
    assert api("GET", f"/integrations/{created['id']}", caller=ANNA).body["status"] == "revoked"


def test_who_may_revoke_and_rotate(api):
    acme = create(api, ANNA)
    globex = create(api, GINA)
    for method, suffix in (("DELETE", ""), ("POST", "/rotate-key")):
        assert api(method, f"/integrations/{globex['id']}{suffix}", caller=ANNA).status == 404
        for caller in (ALICE, OPS, SERVICE):
            assert api(method, f"/integrations/{acme['id']}{suffix}", caller=caller).status == 403
    assert api("POST", f"/integrations/{globex['id']}/rotate-key", caller=ADMIN).status == 200
    assert api("DELETE", f"/integrations/{globex['id']}", caller=ADMIN).status == 200


def test_rotating_gives_a_new_key_once(api):
    created = create(api, ANNA)
    rotated = api("POST", f"/integrations/{created['id']}/rotate-key", caller=ANNA)
    assert rotated.status == 200, rotated.body
    body = rotated.body
    assert KEY.match(body["routing_key"]) and body["routing_key"] != created["routing_key"]
    assert body["routing_key_hint"] == body["routing_key"][-4:]
    assert body["rotated_by"] == "anna" and body["rotated_at"] is not None and body["status"] == "active"
    assert "routing_key" not in api("GET", f"/integrations/{created['id']}", caller=ANNA).body


def test_a_revoked_integration_cannot_be_rotated(api):
    created = create(api, ANNA)
    api("DELETE", f"/integrations/{created['id']}", caller=ANNA)
    result = api("POST", f"/integrations/{created['id']}/rotate-key", caller=ANNA)
    assert result.status == 409 and result.content_type == "application/problem+json"


def test_every_change_is_audited_without_secrets(api, database):
    created = create(api, ANNA, category="pipeline_failure", tags=["airflow"])
    rotated = api(
        "POST",
        f"/integrations/{created['id']}/rotate-key",
        caller=ANNA,
        headers={"X-Correlation-Id": "chg-1"},
    ).body
    api("DELETE", f"/integrations/{created['id']}", caller=ADMIN)
    changes = config_changes(database, created["id"])
    assert [(c["action"], c["actor"], c["tenant_id"]) for c in changes] == [
        ("create", "anna", "acme"),
        ("rotate_key", "anna", "acme"),
        ("revoke", "pat", "acme"),
    ]
    assert changes[0]["before"] is None
    assert changes[0]["after"]["name"] == "Alertmanager (prod)"
    assert changes[0]["after"]["tags"] == ["airflow"]
    assert changes[1]["correlation_id"] == "chg-1"
    assert changes[1]["before"]["routing_key_hint"] == created["routing_key_hint"]
    assert changes[1]["after"]["routing_key_hint"] == rotated["routing_key_hint"]
    assert (changes[2]["before"]["status"], changes[2]["after"]["status"]) == ("active", "revoked")
    text = json.dumps([dict(c) for c in changes], default=str)
    assert created["routing_key"] not in text and rotated["routing_key"] not in text
    assert "key_hash" not in text and 'routing_key"' not in text


# ---- the second wall ----------------------------------------------------------------------------------


def principal(caller: Caller) -> Principal:
    return Principal(sub=caller.sub, tenant=caller.tenant, roles=frozenset(Role(r) for r in caller.roles))


def visible(caller: Caller) -> set[str]:
    with db.transaction(principal(caller)) as uow:  # no WHERE: only row-level security filters
        return {row["name"] for row in uow.execute("SELECT name FROM integration").fetchall()}


def test_row_level_security_repeats_the_policy(api):
    create(api, ANNA, name="acme tool")
    create(api, GINA, name="globex tool")
    create(api, ADMIN, name="platform tool")
    assert visible(ADMIN) == visible(OPS) == {"acme tool", "globex tool", "platform tool"}
    assert visible(ANNA) == {"acme tool"}
    assert visible(ALICE) == visible(GREG) == visible(SERVICE) == set()
    # Writes: an operator changes nothing, a tenant admin nothing of another tenant's.
    for caller in (OPS, ANNA):
        with db.transaction(principal(caller)) as uow:
            changed = uow.execute(
                "UPDATE integration SET name = 'renamed' WHERE name <> 'acme tool' RETURNING id"
            ).fetchall()
        assert changed == []
    insert = (
        "INSERT INTO integration (id, tenant_id, name, key_hash, key_hint, created_at, created_by)"
        " VALUES (gen_random_uuid(), %s, 'sneaky', repeat('a', 64), 'aaaa', now(), 'x')"
    )
    for caller, tenant in ((ANNA, "globex"), (ANNA, None), (OPS, "acme"), (ALICE, "acme")):
        with pytest.raises(ValidationFailed), db.transaction(principal(caller)) as uow:
            uow.execute(insert, (tenant,))
    # The counter table is the service's alone.
    with pytest.raises(ValidationFailed), db.transaction(principal(ADMIN)) as uow:
        uow.execute("INSERT INTO integration_rate SELECT id, now(), 1 FROM integration LIMIT 1").fetchall()
    with db.transaction(Principal.system("enqueue")) as uow:
        assert len(uow.execute("SELECT id FROM integration").fetchall()) == 3
