"""Routing rules (issue 10 §5) through the route Lambdas and the ticket write path, against a real
PostgreSQL: who may read and write rules, their order, what is refused, the configuration log,
the dry run, and what rules do to every new ticket, inside its creating transaction."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from shared import db
from shared.auth import Principal, Role
from shared.kernel.errors import ValidationFailed
from shared.routing import service as routing_service
from shared.tickets import service as tickets_service
from shared.tickets.models import TicketCreate
from tests.integration.conftest import ADMIN, ALICE, ANNA, GREG, OPS, Caller, create_ticket, invoke

pytestmark = pytest.mark.usefixtures("api")

SERVICE = Caller("ingest-bot", None, ["service"])
PIPELINES = {"field": "category", "op": "eq", "value": "pipeline_failure"}
EVERYTHING: dict[str, Any] = {"all": []}


def problem(result: Any, status: int) -> dict[str, Any]:
    assert result.status == status, (result.status, result.body)
    assert result.content_type == "application/problem+json"
    body: dict[str, Any] = result.body
    assert body["status"] == status and "Traceback" not in json.dumps(body)
    return body


def add_rule(name: str = "pipelines to data", caller: Caller = ADMIN, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "conditions": PIPELINES, "actions": {"queue": "data"}}
    body.update(fields)
    result = invoke("POST", "/routing-rules", caller=caller, body=body)
    assert result.status == 201, result.body
    rule: dict[str, Any] = result.body
    return rule


def rules_in_order(caller: Caller = OPS) -> list[tuple[int, str]]:
    result = invoke("GET", "/routing-rules", caller=caller)
    assert result.status == 200, result.body
    return [(r["position"], r["name"]) for r in result.body["items"]]


def events_of(ticket: dict[str, Any], caller: Caller = OPS) -> list[dict[str, Any]]:
    result = invoke("GET", f"/tickets/{ticket['id']}/events", caller=caller)
    assert result.status == 200, result.body
    items: list[dict[str, Any]] = result.body["items"]
    return items


def count(database: Any, table: str) -> int:
    with database.admin() as conn:
        row = conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()
    return int(row["n"])


# ---- reading and writing rules -----------------------------------------------------------------------------


class TestRules:
    def test_an_admin_creates_reads_replaces_and_deletes_a_rule(self):
        created = add_rule(
            description="data team owns pipelines", actions={"queue": "data", "add_tags": ["etl"]}
        )
        assert created["position"] == 10 and created["version"] == 1 and created["enabled"] is True
        assert created["continue"] is False and created["created_by"] == "pat"
        assert created["conditions"] == PIPELINES
        assert created["actions"] == {
            "queue": "data",
            "assignee": None,
            "priority": None,
            "visibility": None,
            "add_tags": ["etl"],
            "sla_policy": None,
        }
        read = invoke("GET", f"/routing-rules/{created['id']}", caller=ADMIN)
        assert read.status == 200 and read.body == created and read.headers["ETag"] == '"1"'

        replacement = {
            "name": "pipelines and freshness to data",
            "conditions": {"any": [PIPELINES, {"field": "category", "op": "eq", "value": "data_freshness"}]},
            "actions": {"queue": "data", "priority": "high"},
            "continue": True,
        }
        replaced = invoke(
            "PUT",
            f"/routing-rules/{created['id']}",
            caller=ADMIN,
            body=replacement,
            headers={"If-Match": '"1"'},
        )
        assert replaced.status == 200, replaced.body
        assert replaced.body["version"] == 2 and replaced.headers["ETag"] == '"2"'
        assert replaced.body["position"] == 10  # no position given: it keeps its place
        assert replaced.body["continue"] is True and replaced.body["actions"]["add_tags"] is None
        stale = invoke(
            "PUT",
            f"/routing-rules/{created['id']}",
            caller=ADMIN,
            body=replacement,
            headers={"If-Match": '"1"'},
        )
        assert problem(stale, 412)["current_version"] == 2

        deleted = invoke("DELETE", f"/routing-rules/{created['id']}", caller=ADMIN)
        assert deleted.status == 200 and deleted.body["name"] == "pipelines and freshness to data"
        problem(invoke("GET", f"/routing-rules/{created['id']}", caller=ADMIN), 404)
        problem(invoke("DELETE", f"/routing-rules/{created['id']}", caller=ADMIN), 404)
        problem(invoke("PUT", f"/routing-rules/{created['id']}", caller=ADMIN, body=replacement), 404)
        assert rules_in_order() == []

    def test_only_platform_admins_write_and_only_platform_roles_read(self):
        rule = add_rule()
        body = {"name": "x", "conditions": EVERYTHING, "actions": {}}
        for caller in (OPS, SERVICE, ALICE, ANNA):
            problem(invoke("POST", "/routing-rules", caller=caller, body=body), 403)
            problem(invoke("PUT", f"/routing-rules/{rule['id']}", caller=caller, body=body), 403)
            problem(invoke("DELETE", f"/routing-rules/{rule['id']}", caller=caller), 403)
        for caller in (OPS, SERVICE):  # operators read and try the rules: they triage with them
            assert invoke("GET", "/routing-rules", caller=caller).status == 200
            assert invoke("GET", f"/routing-rules/{rule['id']}", caller=caller).status == 200
            assert invoke("POST", "/routing-rules/test", caller=caller, body={}).status == 200
        for caller in (ALICE, ANNA):  # tenants never see the platform's routing
            problem(invoke("GET", "/routing-rules", caller=caller), 403)
            problem(invoke("GET", f"/routing-rules/{rule['id']}", caller=caller), 403)
            problem(invoke("POST", "/routing-rules/test", caller=caller, body={}), 403)
        problem(invoke("GET", "/routing-rules"), 401)
        assert rules_in_order() == [(10, "pipelines to data")]

    def test_rules_are_ordered_by_position_which_is_unique_among_live_rules(self):
        add_rule("b")  # 10
        add_rule("c")  # 20
        add_rule("a", position=5)
        add_rule("d", position=21)
        add_rule("e")  # after the last, at the next multiple of 10
        assert rules_in_order() == [(5, "a"), (10, "b"), (20, "c"), (21, "d"), (30, "e")]

        taken = invoke("POST", "/routing-rules", caller=ADMIN, body={**_body("x"), "position": 20})
        assert "Position 20 is held by the rule 'c'" in problem(taken, 409)["detail"]
        d = next(r for r in invoke("GET", "/routing-rules", caller=OPS).body["items"] if r["name"] == "d")
        move = invoke("PUT", f"/routing-rules/{d['id']}", caller=ADMIN, body={**_body("d"), "position": 5})
        problem(move, 409)
        moved = invoke("PUT", f"/routing-rules/{d['id']}", caller=ADMIN, body={**_body("d"), "position": 1})
        assert moved.status == 200, moved.body
        assert invoke("DELETE", f"/routing-rules/{moved.body['id']}", caller=ADMIN).status == 200
        reused = invoke("POST", "/routing-rules", caller=ADMIN, body={**_body("f"), "position": 1})
        assert reused.status == 201, reused.body  # a deleted rule's position is free again
        assert rules_in_order() == [(1, "f"), (5, "a"), (10, "b"), (20, "c"), (30, "e")]

    def test_pages_follow_positions(self):
        for i in range(5):
            add_rule(f"r{i}")
        first = invoke("GET", "/routing-rules", caller=OPS, query={"limit": "2"})
        assert [r["name"] for r in first.body["items"]] == ["r0", "r1"] and first.body["next_cursor"]
        rest = invoke(
            "GET", "/routing-rules", caller=OPS, query={"limit": "10", "cursor": first.body["next_cursor"]}
        )
        assert [r["name"] for r in rest.body["items"]] == ["r2", "r3", "r4"] and rest.body[
            "next_cursor"
        ] is None

    def test_a_create_is_idempotent_with_a_key(self):
        headers = {"Idempotency-Key": "rule-1"}
        first = invoke("POST", "/routing-rules", caller=ADMIN, body=_body("once"), headers=headers)
        again = invoke("POST", "/routing-rules", caller=ADMIN, body=_body("once"), headers=headers)
        assert first.status == again.status == 201 and first.body == again.body
        assert again.headers["Idempotent-Replayed"] == "true"
        assert rules_in_order() == [(10, "once")]


def _body(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "conditions": PIPELINES, "actions": {"queue": "data"}, **fields}


# ---- invalid rules are 422 at write time, located ----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "loc", "fragment"),
    [
        (
            {"conditions": {"all": [PIPELINES, {"field": "colour", "op": "eq", "value": "red"}]}},
            ["body", "conditions", "all", "1", "field"],
            "unknown field 'colour'",
        ),
        (
            {"conditions": {"field": "title", "op": "matches", "value": "(unclosed"}},
            ["body", "conditions", "value"],
            "RE2",
        ),
        (
            {"conditions": {"not": {"field": "title", "op": "matches", "value": "(\\w+)\\s\\1"}}},
            ["body", "conditions", "not", "value"],
            "RE2",
        ),
        (
            {"conditions": {"field": "priority", "op": "eq", "value": "urgent"}},
            ["body", "conditions", "value"],
            "priority is one of",
        ),
        (
            {"conditions": {"field": "title", "op": "gt", "value": 3}},
            ["body", "conditions", "op"],
            "does not apply",
        ),
        ({"actions": {"queue": "data", "page": "oncall"}}, ["body", "actions", "page"], "Extra inputs"),
        ({"actions": {"priority": "urgent"}}, ["body", "actions", "priority"], ""),
        ({"actions": {"add_tags": ["not ok"]}}, ["body", "actions", "add_tags", "0"], ""),
        ({"actions": {"sla_policy": "gold tier"}}, ["body", "actions", "sla_policy"], ""),
        ({"position": 0}, ["body", "position"], ""),
        ({"name": "   "}, ["body", "name"], ""),
        ({"continue": "yes"}, ["body", "continue"], ""),
    ],
)
def test_an_invalid_rule_is_422_pointing_at_the_problem(database, body, loc, fragment):
    result = invoke("POST", "/routing-rules", caller=ADMIN, body={**_body("bad"), **body})
    errors = problem(result, 422)["errors"]
    assert any(e["loc"] == loc and fragment in e["msg"] for e in errors), errors
    assert count(database, "routing_rule") == 0 and count(database, "config_change") == 0


def test_a_backtracking_prone_pattern_is_accepted_and_harmless(database):
    rule = add_rule(
        conditions={"field": "description", "op": "matches", "value": "(a+)+$"}, actions={"queue": "x"}
    )
    ticket = create_ticket(ALICE, description="a" * 19_000 + "b")
    assert ticket["queue"] is None
    assert invoke("GET", f"/routing-rules/{rule['id']}", caller=OPS).body["conditions"]["value"] == "(a+)+$"


# ---- the configuration log ---------------------------------------------------------------------------------


def test_every_change_is_recorded_with_who_when_before_and_after(database):
    rule = add_rule(actions={"queue": "data"})
    invoke(
        "PUT",
        f"/routing-rules/{rule['id']}",
        caller=ADMIN,
        body=_body("renamed", actions={"queue": "dataops"}),
        headers={"X-Correlation-Id": "change-42"},
    )
    invoke("DELETE", f"/routing-rules/{rule['id']}", caller=ADMIN)
    with database.admin() as conn:
        rows = conn.execute(
            "SELECT actor, at, action, before, after, correlation_id, tenant_id FROM config_change"
            " WHERE entity_type = 'routing_rule' AND entity_id = %s ORDER BY id",
            (rule["id"],),
        ).fetchall()
    assert [r["action"] for r in rows] == ["create", "update", "delete"]
    assert all(r["actor"] == "pat" and r["tenant_id"] is None for r in rows)
    assert all(abs((datetime.now(UTC) - r["at"]).total_seconds()) < 60 for r in rows)
    create, update, delete = rows
    assert create["before"] is None and create["after"]["actions"]["queue"] == "data"
    assert update["before"] == create["after"]
    assert update["after"]["name"] == "renamed" and update["after"]["actions"]["queue"] == "dataops"
    assert update["after"]["version"] == 2 and update["correlation_id"] == "change-42"
    assert delete["before"] == update["after"] and delete["after"] is None


# ---- the dry run -------------------------------------------------------------------------------------------


def test_the_dry_run_answers_which_rules_match_and_the_result_and_writes_nothing(database):
    first = add_rule(
        "tag pipelines", actions={"add_tags": ["pipeline"], "priority": "critical"}, **{"continue": True}
    )
    second = add_rule("health", conditions={"field": "category", "op": "eq", "value": "health"})
    third = add_rule("catch-all", conditions=EVERYTHING, actions={"queue": "triage", "sla_policy": "silver"})
    fourth = add_rule("after catch-all", conditions=EVERYTHING, actions={"assignee": "dora"})
    add_rule("disabled", conditions=EVERYTHING, actions={"queue": "nowhere"}, enabled=False, position=1)
    before = {
        t: count(database, t) for t in ("ticket", "ticket_event", "outbox", "config_change", "routing_rule")
    }

    sample = {
        "ticket": {"title": "Orders pipeline failed", "category": "pipeline_failure", "tenant_id": "acme"},
        "event": {"source": "platform.health", "severity": "critical"},
    }
    result = invoke("POST", "/routing-rules/test", caller=OPS, body=sample)
    assert result.status == 200, result.body
    assert [(m["id"], m["applied"], m["continue"]) for m in result.body["matches"]] == [
        (first["id"], True, True),
        (third["id"], True, False),
        (fourth["id"], False, False),  # matches, but the catch-all stopped matching before it
    ]
    assert second["id"] not in {m["id"] for m in result.body["matches"]}
    assert result.body["result"] == {
        "queue": "triage",
        "assignee": None,
        "priority": "critical",
        "visibility": "tenant",
        "tags": ["pipeline"],
        "sla_policy": "silver",
    }
    assert {t: count(database, t) for t in before} == before

    nothing = invoke("POST", "/routing-rules/test", caller=ADMIN, body={"ticket": {"kind": "request"}})
    assert [m["name"] for m in nothing.body["matches"]] == ["catch-all", "after catch-all"]
    assert nothing.body["result"]["visibility"] == "platform_only"  # no tenant: platform-only


# ---- what rules do to new tickets --------------------------------------------------------------------------


def test_a_tenants_new_ticket_is_routed_and_its_created_event_names_the_rule(database):
    rule = add_rule(
        "acme pipelines",
        conditions={
            "all": [PIPELINES, {"field": "title", "op": "contains", "value": "orders", "ignore_case": True}]
        },
        actions={
            "queue": "data",
            "priority": "critical",
            "add_tags": ["pipeline", "etl"],
            "sla_policy": "gold",
        },
    )
    ticket = create_ticket(ALICE, title="Orders pipeline failing", priority="low", tags=["etl"])
    assert (ticket["queue"], ticket["priority"], ticket["sla_policy"]) == ("data", "critical", "gold")
    assert ticket["tags"] == ["etl", "pipeline"]
    assert invoke("GET", f"/tickets/{ticket['key']}", caller=ALICE).body["sla_policy"] == "gold"

    created, applied = events_of(ticket, OPS)
    assert created["type"] == "ticket.created" and created["actor"] == "alice"
    # No policy is called "gold": the SLA falls back to matching (the routed priority's policy).
    assert applied["type"] == "sla.applied" and applied["changes"]["policy"] == "default-critical"
    assert created["changes"]["routing"] == {
        "old": None,
        "new": [{"id": rule["id"], "name": "acme pipelines"}],
    }
    assert created["changes"]["queue"] == {"old": None, "new": "data"}
    assert created["changes"]["sla_policy"] == {"old": None, "new": "gold"}
    # The tenant sees the routed fields, not the platform's rules; its ticket event leaves without them too.
    seen_by_tenant = events_of(ticket, ALICE)[0]
    assert "routing" not in seen_by_tenant["changes"]
    assert seen_by_tenant["changes"]["queue"] == {"old": None, "new": "data"}
    with database.admin() as conn:
        detail = conn.execute(
            "SELECT detail FROM outbox WHERE aggregate_id = %s AND detail_type = 'Ticket Created'",
            (ticket["id"],),
        ).fetchone()["detail"]
    assert "routing" not in detail["changes"] and detail["changes"]["queue"]["new"] == "data"


def test_first_match_stops_unless_the_rule_says_continue():
    add_rule("tag", actions={"add_tags": ["routed"]}, **{"continue": True})
    add_rule("pipelines", actions={"queue": "data"})
    add_rule("catch-all", conditions=EVERYTHING, actions={"queue": "triage", "assignee": "dora"})
    pipeline = create_ticket(ALICE)
    assert (pipeline["queue"], pipeline["assignee"], pipeline["tags"]) == ("data", None, ["routed"])
    assert [r["name"] for r in events_of(pipeline)[0]["changes"]["routing"]["new"]] == ["tag", "pipelines"]
    other = create_ticket(ALICE, title="Access to the warehouse", category="access")
    assert (other["queue"], other["assignee"], other["tags"]) == ("triage", "dora", [])
    assert [r["name"] for r in events_of(other)[0]["changes"]["routing"]["new"]] == ["catch-all"]


def test_a_rule_on_tenant_id_routes_that_tenant_only_and_never_shows_its_tickets_to_another():
    add_rule(
        "acme",
        conditions={"field": "tenant_id", "op": "eq", "value": "acme"},
        actions={"queue": "acme-desk", "visibility": "mixed"},
    )
    mine = create_ticket(ALICE)
    theirs = create_ticket(GREG)
    assert (mine["queue"], mine["visibility"], mine["tenant_id"]) == ("acme-desk", "mixed", "acme")
    assert (theirs["queue"], theirs["visibility"], theirs["tenant_id"]) == (None, "tenant", "globex")
    problem(invoke("GET", f"/tickets/{mine['id']}", caller=GREG), 404)
    assert [t["id"] for t in invoke("GET", "/tickets", caller=GREG).body["items"]] == [theirs["id"]]
    platform_only = create_ticket(OPS, title="Platform pipeline failing")
    assert (platform_only["queue"], platform_only["visibility"]) == (None, "platform_only")


def test_a_visibility_action_never_hides_a_tenants_own_ticket_from_it():
    add_rule("hide", actions={"visibility": "platform_only", "queue": "secret"})
    ticket = create_ticket(ALICE)
    assert (ticket["visibility"], ticket["queue"]) == ("tenant", "secret")
    assert invoke("GET", f"/tickets/{ticket['id']}", caller=ALICE).status == 200
    assert events_of(ticket)[0]["changes"]["routing"]["new"][0]["skipped"] == ["visibility"]
    # A platform role opening a tenant's ticket may have it hidden by a rule.
    hidden = create_ticket(OPS, tenant_id="acme")
    assert hidden["visibility"] == "platform_only"
    problem(invoke("GET", f"/tickets/{hidden['id']}", caller=ALICE), 404)


def test_a_platform_users_explicit_choices_are_kept_and_the_rest_is_routed():
    add_rule(
        "pipelines", actions={"queue": "data", "priority": "low", "assignee": "dora", "sla_policy": "gold"}
    )
    chosen = create_ticket(OPS, tenant_id="acme", queue="sre", priority="critical")
    assert (chosen["queue"], chosen["priority"]) == ("sre", "critical")
    assert (chosen["assignee"], chosen["sla_policy"]) == ("dora", "gold")
    defaulted = invoke(
        "POST",
        "/tickets",
        caller=OPS,
        body={"title": "x", "category": "pipeline_failure", "tenant_id": "acme"},
    ).body
    assert (defaulted["queue"], defaulted["priority"]) == ("data", "low")  # nothing chosen: routed


def test_a_rule_change_takes_effect_for_the_next_ticket(database):
    rule = add_rule(actions={"queue": "data"})
    assert create_ticket(ALICE)["queue"] == "data"
    invoke(
        "PUT",
        f"/routing-rules/{rule['id']}",
        caller=ADMIN,
        body=_body("pipelines", actions={"queue": "dataops"}),
    )
    assert create_ticket(ALICE)["queue"] == "dataops"
    invoke("PUT", f"/routing-rules/{rule['id']}", caller=ADMIN, body=_body("pipelines", enabled=False))
    assert create_ticket(ALICE)["queue"] is None
    invoke("PUT", f"/routing-rules/{rule['id']}", caller=ADMIN, body=_body("pipelines"))
    assert create_ticket(ALICE)["queue"] == "data"
    invoke("DELETE", f"/routing-rules/{rule['id']}", caller=ADMIN)
    assert create_ticket(ALICE)["queue"] is None


def test_a_change_made_elsewhere_takes_effect_within_the_freshness_window(database, monkeypatch):
    """Another warm function (or a migration) changed the rules: this function notices once its
    copy is older than FRESH_FOR_S, by the rule set's version, which every change moves."""
    now = [1000.0]
    monkeypatch.setattr(routing_service._Cache, "clock", lambda: now[0])
    add_rule(actions={"queue": "data"})
    assert create_ticket(ALICE)["queue"] == "data"
    with database.admin() as conn:
        conn.execute("""UPDATE routing_rule SET actions = '{"queue": "elsewhere"}'""")
    now[0] += routing_service.FRESH_FOR_S / 2
    assert create_ticket(ALICE)["queue"] == "data"  # the copy is fresh enough: nothing is read
    now[0] += routing_service.FRESH_FOR_S
    assert create_ticket(ALICE)["queue"] == "elsewhere"
    with database.admin() as conn:
        conn.execute("UPDATE routing_rule SET enabled = false")
    now[0] += routing_service.FRESH_FOR_S
    assert create_ticket(ALICE)["queue"] is None
    with database.admin() as conn:
        conn.execute("UPDATE routing_rule SET enabled = true")
    sample = {"ticket": {"category": "pipeline_failure"}}
    dry_run = invoke("POST", "/routing-rules/test", caller=OPS, body=sample)
    assert dry_run.body["result"]["queue"] == "elsewhere"  # the dry run always reads the current rules


def test_rules_apply_inside_the_creating_transaction(database, monkeypatch):
    add_rule(actions={"queue": "data"})
    before = count(database, "ticket")

    def failing(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("routing failed")

    monkeypatch.setattr(routing_service, "route", failing)
    assert (
        invoke("POST", "/tickets", caller=ALICE, body={"title": "x", "category": "pipeline_failure"}).status
        == 500
    )
    assert count(database, "ticket") == before


# ---- tickets opened by an event (the intake path) ----------------------------------------------------------


def test_an_event_that_opens_a_ticket_is_tested_and_rules_override_what_it_implied(database):
    add_rule(
        "guardduty on prod buckets",
        conditions={
            "all": [
                {"field": "source", "op": "eq", "value": "aws.guardduty"},
                {"field": "detail_type", "op": "prefix", "value": "GuardDuty"},
                {"field": "severity", "op": "in", "value": ["critical", "error"]},
                {"field": "resource", "op": "prefix", "value": "arn:aws:s3:::prod-"},
                {"field": "summary", "op": "matches", "value": "(?i)exfiltration"},
            ]
        },
        actions={"queue": "security", "priority": "critical", "sla_policy": "security-p1"},
    )
    intake = Principal.system("intake")
    event = {
        "source": "aws.guardduty",
        "detail_type": "GuardDuty Finding",
        "severity": "error",
        "summary": "Possible Exfiltration from S3",
        "resource": "arn:aws:s3:::prod-orders",
    }
    data = TicketCreate(
        title="Possible exfiltration", category="security_finding", priority="high", queue="intake"
    )
    with db.transaction(intake) as uow:
        ticket = tickets_service.create(
            uow, intake, data, correlation_id="e-1", source="intake", routing_event=event
        )
    assert (ticket.queue, ticket.priority.value, ticket.sla_policy) == ("security", "critical", "security-p1")
    with db.transaction(intake) as uow:
        other = tickets_service.create(
            uow,
            intake,
            data,
            correlation_id="e-2",
            source="intake",
            routing_event={**event, "severity": "info"},
        )
    assert (other.queue, other.priority.value, other.sla_policy) == ("intake", "high", None)


# ---- the database's own walls ------------------------------------------------------------------------------


def test_every_scope_reads_the_rules_and_only_platform_scopes_write_them(database):
    add_rule()
    tenant = Principal(sub="alice", tenant="acme", roles=frozenset({Role.TENANT_USER}))
    with db.transaction(tenant) as uow:
        assert len(routing_service.active_rules(uow)) == 1
        assert uow.execute("SELECT count(*) AS n FROM routing_rule").fetchone()["n"] == 1
    with pytest.raises(ValidationFailed, match="outside your scope"), db.transaction(tenant) as uow:
        uow.execute(
            "INSERT INTO routing_rule (id, position, name, conditions, actions, created_by, created_at,"
            " updated_by, updated_at) VALUES (gen_random_uuid(), 99, 'mine', '{}', '{}', 'alice', now(),"
            " 'alice', now())"
        )
    with db.transaction(tenant) as uow:
        assert uow.execute("UPDATE routing_rule SET name = 'mine' RETURNING id").fetchall() == []
    for who in (tenant, Principal(sub="pat", tenant=None, roles=frozenset({Role.PLATFORM_ADMIN}))):
        # No grant: only a change of the rules moves the version (the trigger, as the owner).
        with pytest.raises(ValidationFailed), db.transaction(who) as uow:
            uow.execute("UPDATE routing_rule_set SET version = 0")
    with database.admin() as conn:
        conn.execute("SET ROLE ticketing_app")
        assert conn.execute("SELECT count(*) AS n FROM routing_rule").fetchone()["n"] == 0  # no scope
