"""Input that PostgreSQL or the parsers would choke on gets a clear 4xx, and nothing is written."""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import ALICE, OPS, create_ticket


def count(database, table: str) -> int:
    with database.admin() as conn:
        return conn.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]


def assert_problem(result, status: int) -> dict:
    assert result.status == status, result.body
    assert result.content_type.startswith("application/problem+json")
    assert result.body["status"] == status
    return result.body


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"title": "nul\u0000byte", "category": "access"}, ["body", "title"]),
        ({"title": "ok", "category": "access", "fields": {"note": "a\u0000b"}}, ["body", "fields", "note"]),
        ({"title": "ok", "category": "access", "fields": {"k\u0000": 1}}, ["body", "fields", "k\u0000"]),
        ({"title": "ok", "category": "access", "tags": ["fine", "bad\u0000"]}, ["body", "tags", "1"]),
    ],
)
def test_nul_characters_in_the_body_are_422_with_their_location(api, database, body, loc):
    problem = assert_problem(api("POST", "/tickets", caller=ALICE, body=body), 422)
    assert problem["errors"] == [
        {"loc": loc, "msg": "Text must not contain NUL characters", "type": "string_nul"}
    ]
    assert count(database, "ticket") == 0


def test_nul_characters_in_comments_patches_and_transitions_are_422(api, database):
    ticket = create_ticket()
    ref = ticket["key"]
    events = count(database, "ticket_event")
    for method, path, body in (
        ("POST", f"/tickets/{ref}/comments", {"body": "x\u0000", "visibility": "public"}),
        ("PATCH", f"/tickets/{ref}", {"title": "x\u0000"}),
        ("POST", f"/tickets/{ref}/transitions", {"to": "canceled", "reason": "x\u0000"}),
    ):
        assert_problem(api(method, path, caller=ALICE if method == "POST" else OPS, body=body), 422)
    assert count(database, "ticket_event") == events


@pytest.mark.parametrize("param", ["q", "assignee", "tenant_id", "tag", "cursor"])
def test_nul_characters_in_query_parameters_are_400(api, param):
    problem = assert_problem(api("GET", "/tickets", caller=OPS, query={param: "a\u0000b"}), 400)
    assert param in problem["detail"]


def test_a_body_that_is_not_utf8_is_400(api, database):
    result = api("POST", "/tickets", caller=ALICE, body=b"\xff\xfe{}", base64_body=True)
    assert assert_problem(result, 400)["detail"] == "The request body is not UTF-8 text."
    assert count(database, "ticket") == 0


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(api, database, constant):
    body = '{"title": "t", "category": "cost_anomaly", "fields": {"observed_usd": ' + constant + "}}"
    assert assert_problem(api("POST", "/tickets", caller=ALICE, body=body), 400)["detail"] == (
        "The request body is not valid JSON."
    )
    assert count(database, "ticket") == 0


@pytest.mark.parametrize("depth", [40, 100_000])
def test_deeply_nested_bodies_are_400(api, database, depth):
    body = (
        '{"title": "t", "category": "configuration", "fields": {"value": ' + "[" * depth + "]" * depth + "}}"
    )
    problem = assert_problem(api("POST", "/tickets", caller=ALICE, body=body), 400)
    assert "nested deeper than 32 levels" in problem["detail"]
    assert count(database, "ticket") == 0


def test_moderate_nesting_in_a_base64_body_still_works(api):
    nested: dict = {"leaf": "ok"}
    for _ in range(8):  # within the bounds of a ticket's fields (FIELDS_MAX_DEPTH)
        nested = {"n": nested}
    body = {"title": "Nested config", "category": "configuration", "fields": {"value": nested}}
    created = api("POST", "/tickets", caller=ALICE, body=json.dumps(body).encode(), base64_body=True)
    assert created.status == 201, created.body
    assert created.body["fields"]["value"] == nested


def test_commas_belong_to_the_value_except_in_list_filters(api):
    orders = create_ticket(title="Orders pipeline failing", category="pipeline_failure")
    billing = create_ticket(title="Billing exports running slowly", category="new_connector")
    api("PATCH", f"/tickets/{orders['id']}", caller=OPS, body={"assignee": "Doe, Jane"})

    found = api("GET", "/tickets", caller=ALICE, query={"q": "orders, pipeline"}).body["items"]
    assert [t["key"] for t in found] == [orders["key"]]  # not a search for " pipeline" alone
    found = api("GET", "/tickets", caller=OPS, query={"assignee": "Doe, Jane"}).body["items"]
    assert [t["key"] for t in found] == [orders["key"]]
    both = api("GET", "/tickets", caller=OPS, query={"kind": "incident,request"}).body["items"]
    assert {t["key"] for t in both} == {orders["key"], billing["key"]}
    requests = api("GET", "/tickets", caller=OPS, query={"kind": "request"}).body["items"]
    assert [t["key"] for t in requests] == [billing["key"]]


def test_a_single_valued_parameter_given_twice_is_400(api):
    problem = assert_problem(api("GET", "/tickets?limit=5&limit=10", caller=OPS), 400)
    assert "'limit' once" in problem["detail"]


def test_errors_in_category_fields_are_located_under_fields(api):
    body = {"title": "More warehouse credits", "category": "quota", "fields": {"nope": 1}}
    problem = assert_problem(api("POST", "/tickets", caller=ALICE, body=body), 422)
    assert [e["loc"] for e in problem["errors"]] == [["body", "fields", "nope"]]
