"""SLA policies and business calendars over HTTP (issue 11 §1): who may read and write them, what is
refused (422 located, 409, 412), idempotent creation, the configuration log, the seeded defaults,
and that a change reaches the next ticket."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Database
from tests.integration.conftest import ADMIN as PAT
from tests.integration.conftest import ALICE, ANNA, OPS, Caller, create_ticket, invoke


def assert_problem(result: Any, status: int) -> dict[str, Any]:
    assert result.status == status, result.body
    assert result.content_type == "application/problem+json"
    body: dict[str, Any] = result.body
    return body


POLICY = {
    "id": "gold",
    "name": "Gold tenants",
    "match": {"tenant_id": ["acme"], "priority": "any", "kind": ["incident"]},
    "first_response_minutes": 15,
    "resolution_minutes": 120,
    "escalation": [{"at": "breach+30m", "notify": ["user:olga"], "raise_priority": True}],
}
CALENDAR = {
    "id": "berlin-office",
    "name": "Berlin office hours",
    "time_zone": "Europe/Berlin",
    "weekly": {d: [["09:00", "17:00"]] for d in ("monday", "tuesday", "wednesday", "thursday", "friday")},
    "holidays": {"dates": ["2026-12-24"], "country": "DE", "subdivision": "BE", "years": [2026, 2027]},
}


@pytest.fixture
def sla_api(api: Any) -> Any:
    return api


def post(path: str, body: dict[str, Any], caller: Caller = PAT, **headers: str) -> Any:
    return invoke("POST", path, caller=caller, body=body, headers=headers or None)


def config_log(database: Database, entity_type: str) -> list[dict[str, Any]]:
    with database.admin() as conn:
        return conn.execute(
            "SELECT actor, entity_id, action, before, after FROM config_change"
            " WHERE entity_type = %s ORDER BY id",
            (entity_type,),
        ).fetchall()


def test_the_seeded_policies_are_listed_in_order_and_the_24x7_calendar(sla_api: Any) -> None:
    listed = invoke("GET", "/sla-policies", caller=OPS)
    assert listed.status == 200
    assert [p["id"] for p in listed.body["items"]] == [
        "default-critical",
        "default-high",
        "default-medium",
        "default-low",
    ]
    critical = listed.body["items"][0]
    assert (critical["first_response_minutes"], critical["resolution_minutes"]) == (30, 240)
    assert critical["match"] == {"kind": None, "category": None, "priority": ["critical"], "tenant_id": None}
    calendars = invoke("GET", "/calendars", caller=OPS).body["items"]
    assert [c["id"] for c in calendars] == ["24x7"]


def test_a_policy_is_created_read_replaced_and_deleted_with_the_log(sla_api: Any, database: Database) -> None:
    created = post("/sla-policies", POLICY, **{"Idempotency-Key": "gold-1"})
    assert created.status == 201, created.body
    assert created.headers["Location"] == "/sla-policies/gold" and created.headers["ETag"] == '"1"'
    body = created.body
    assert body["position"] == 50 and body["calendar_id"] == "24x7" and body["at_risk_percent"] == 80
    assert body["match"]["priority"] is None and body["match"]["kind"] == ["incident"]
    again = post("/sla-policies", POLICY, **{"Idempotency-Key": "gold-1"})
    assert again.status == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert invoke("GET", "/sla-policies/gold", caller=OPS).body == body

    replaced = invoke(
        "PUT",
        "/sla-policies/gold",
        caller=PAT,
        body={**POLICY, "first_response_minutes": 10, "position": 5},
        headers={"If-Match": '"1"'},
    )
    assert replaced.status == 200, replaced.body
    assert replaced.body["version"] == 2 and replaced.body["first_response_minutes"] == 10
    stale = invoke("PUT", "/sla-policies/gold", caller=PAT, body=POLICY, headers={"If-Match": '"1"'})
    assert_problem(stale, 412)
    assert invoke("GET", "/sla-policies", caller=OPS).body["items"][0]["id"] == "gold"

    deleted = invoke("DELETE", "/sla-policies/gold", caller=PAT)
    assert deleted.status == 200 and deleted.body["version"] == 2
    assert_problem(invoke("GET", "/sla-policies/gold", caller=OPS), 404)
    log = config_log(database, "sla_policy")
    assert [(e["action"], e["actor"]) for e in log] == [
        ("create", "pat"),
        ("update", "pat"),
        ("delete", "pat"),
    ]
    assert (
        log[1]["before"]["first_response_minutes"] == 15 and log[1]["after"]["first_response_minutes"] == 10
    )


def test_a_new_policy_applies_to_the_next_ticket(sla_api: Any) -> None:
    assert post("/sla-policies", {**POLICY, "position": 1}).status == 201
    ticket = create_ticket(ALICE, priority="low")
    assert ticket["sla"]["policy_id"] == "gold"
    assert ticket["sla"]["first_response"]["target_s"] == 15 * 60


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"first_response_minutes": 0}, ["body", "first_response_minutes"]),
        ({"resolution_minutes": -5}, ["body", "resolution_minutes"]),
        ({"first_response_minutes": None, "resolution_minutes": None}, ["body", "first_response_minutes"]),
        ({"calendar_id": "nowhere"}, ["body", "calendar_id"]),
        ({"escalation": [{"at": "later"}]}, ["body", "escalation", "0", "at"]),
        ({"match": {"priority": ["urgent"]}}, ["body", "match", "priority", "0"]),
        ({"at_risk_percent": 100}, ["body", "at_risk_percent"]),
    ],
)
def test_an_invalid_policy_is_a_located_422(sla_api: Any, change: dict[str, Any], loc: list[Any]) -> None:
    refused = post("/sla-policies", {**POLICY, **change})
    assert_problem(refused, 422)
    assert loc in [e["loc"] for e in refused.body["errors"]], refused.body


def test_conflicts_are_409(sla_api: Any) -> None:
    assert post("/sla-policies", POLICY).status == 201
    assert_problem(post("/sla-policies", POLICY), 409)  # the id exists
    assert_problem(post("/sla-policies", {**POLICY, "id": "other", "position": 10}), 409)  # position held
    mismatch = invoke("PUT", "/sla-policies/gold", caller=PAT, body={**POLICY, "id": "silver"})
    assert_problem(mismatch, 422)


def test_a_calendar_with_a_countrys_holidays(sla_api: Any, database: Database) -> None:
    created = post("/calendars", CALENDAR)
    assert created.status == 201, created.body
    body = created.body
    assert "2026-12-24" in body["holiday_dates"] and "2026-12-25" in body["holiday_dates"]
    assert "2027-10-03" in body["holiday_dates"]  # German Unity Day
    assert body["holidays"] == CALENDAR["holidays"] and body["weekly"] == CALENDAR["weekly"]
    policy = post("/sla-policies", {**POLICY, "calendar_id": "berlin-office"})
    assert policy.status == 201
    in_use = invoke("DELETE", "/calendars/berlin-office", caller=PAT)
    assert_problem(in_use, 409)
    assert in_use.body["policies"] == ["gold"]
    assert_problem(invoke("DELETE", "/calendars/24x7", caller=PAT), 409)
    assert invoke("DELETE", "/sla-policies/gold", caller=PAT).status == 200
    assert invoke("DELETE", "/calendars/berlin-office", caller=PAT).status == 200
    assert [e["action"] for e in config_log(database, "sla_calendar")] == ["create", "delete"]


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"time_zone": "Mars/Olympus"}, ["body", "time_zone"]),
        ({"weekly": {"monday": [["09:00", "17:00"], ["12:00", "13:00"]]}}, ["body", "weekly", "monday", "1"]),
        ({"weekly": {"monday": [["09:00", "09:00"]]}}, ["body", "weekly", "monday", "0"]),
        ({"weekly": {"funday": [["09:00", "17:00"]]}}, ["body", "weekly", "funday"]),
        ({"weekly": {"monday": [["25:00", "26:00"]]}}, ["body", "weekly", "monday", "0", "0"]),
        ({"weekly": {}}, ["body", "weekly"]),
        ({"holidays": {"dates": ["2026-02-30"]}}, ["body", "holidays", "dates", "0"]),
        ({"holidays": {"country": "XX"}}, ["body", "holidays", "country"]),
        ({"holidays": {"country": "DE", "subdivision": "ZZ"}}, ["body", "holidays", "subdivision"]),
        ({"holidays": {"country": "DE", "years": [2030, 2026]}}, ["body", "holidays", "years"]),
        ({"holidays": {"country": "DE", "years": [2000, 2100]}}, ["body", "holidays", "years"]),
    ],
)
def test_an_invalid_calendar_is_a_located_422(sla_api: Any, change: dict[str, Any], loc: list[Any]) -> None:
    refused = post("/calendars", {**CALENDAR, **change})
    assert_problem(refused, 422)
    assert any(e["loc"][: len(loc)] == loc for e in refused.body["errors"]), refused.body


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/sla-policies"),
        ("GET", "/sla-policies/default-high"),
        ("GET", "/calendars"),
        ("GET", "/calendars/24x7"),
    ],
)
def test_tenant_roles_may_not_read(sla_api: Any, method: str, path: str) -> None:
    for caller in (ALICE, ANNA):
        assert_problem(invoke(method, path, caller=caller), 403)


def test_only_platform_admins_write(sla_api: Any) -> None:
    for caller in (OPS, ANNA):
        assert_problem(post("/sla-policies", POLICY, caller=caller), 403)
        assert_problem(post("/calendars", CALENDAR, caller=caller), 403)
        assert_problem(invoke("DELETE", "/sla-policies/default-low", caller=caller), 403)
        assert_problem(invoke("PUT", "/calendars/24x7", caller=caller, body=CALENDAR), 403)
