"""/openapi.json: generated from the route functions' own resolvers, complete, valid OpenAPI 3.1,
and saying what the server does (what it accepts and refuses, what it answers)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from functions.openapi import document
from shared.http.openapi import IDEMPOTENCY_KEY_PATTERN
from shared.http.writes import IF_MATCH_PATTERN
from shared.runtime.catalog import ROUTES, Route
from shared.tickets.models import NO_NUL, SOME_TEXT
from tests.integration.conftest import ADMIN, ALICE, OPS, create_ticket

BODY_METHODS = {"POST", "PUT", "PATCH"}
PROBLEM_REF = "#/components/schemas/Problem"
# POST routes that take no body (the door still refuses one it cannot read: 400, 413, 415).
WITHOUT_BODY = {
    "rotate_integration_key",
    "rotate_webhook_secret",
    "resume_webhook",
    "test_webhook",
    "retry_webhook_delivery",
}
# Statuses POST /v2/enqueue answers in PagerDuty's shape, not as problems.
PAGERDUTY_STATUSES = {"400": "PagerDutyError", "429": "PagerDutyError"}
LIST_FILTERS = ("state", "priority", "kind", "category", "sla_status")


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return document.generate()


def operation(doc: dict[str, Any], route: Route) -> dict[str, Any]:
    found: dict[str, Any] = doc["paths"][route.path][route.method.lower()]
    return found


def parameters(op: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in op.get("parameters", []) if p["in"] == where}


def problem_statuses(route: Route) -> set[int]:
    """What each route must document, by what it does."""
    if route.function == "enqueue":  # PagerDuty's 400 and 429 (PAGERDUTY_STATUSES), and our 5xx
        return {500, 503}
    statuses = {400, 500}
    if route.auth:
        statuses |= {401, 403}
    if route.function not in ("healthz", "openapi"):
        statuses.add(503)  # reads the database
    if route.method in BODY_METHODS:
        statuses |= {400, 413, 415}
        if route.function not in WITHOUT_BODY:
            statuses.add(422)
        if route.function != "test_routing_rules":  # the dry run writes nothing
            statuses.add(409)
    by_id = any(
        part in route.path
        for part in ("{ticket_id}", "{integration_id}", "{rule_id}", "{policy_id}", "{calendar_id}")
    )
    if by_id:
        statuses.add(404)
    if by_id and route.method != "GET":
        statuses.add(405)  # POST /tickets/./comments is POST /tickets/comments; DELETE /routing-rules/.
    if route.function in (
        "update_ticket",
        "transition_ticket",
        "replace_routing_rule",
        "replace_sla_policy",
        "replace_calendar",
    ):
        statuses.add(412)
    return statuses


# ---- the document is complete --------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.function)
def test_every_route_of_the_catalog_is_documented_as_it_is_routed(doc, route):
    assert route.path in doc["paths"], f"{route.path} is missing from the document"
    assert route.method.lower() in doc["paths"][route.path], f"{route.method} {route.path} is missing"
    op = operation(doc, route)
    assert op["operationId"] == route.function
    assert op["summary"] == route.summary  # the decorator and the catalog say the same
    assert op.get("tags"), "every operation is tagged"
    if route.auth:
        assert op["security"] == [{"bearer": []}]
    else:
        assert not op.get("security"), "health checks and POST /v2/enqueue need no token"
    documented = {(path, method.upper()) for path, item in doc["paths"].items() for method in item}
    assert documented == {(r.path, r.method) for r in ROUTES}, "the document has a route the catalog does not"


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.function)
def test_every_operation_has_its_request_and_success_schemas(doc, route):
    op = operation(doc, route)
    if route.method in BODY_METHODS and route.function not in WITHOUT_BODY:
        body = op.get("requestBody")
        assert body and body["required"], f"{route.function} documents no request body"
        assert body["content"]["application/json"]["schema"]["$ref"].startswith("#/components/schemas/")
    else:
        assert "requestBody" not in op
    successes = {status: r for status, r in op["responses"].items() if status.startswith("2")}
    assert successes, f"{route.function} documents no success response"
    for status, response in successes.items():
        if status == "204":  # No Content
            assert "content" not in response, f"{route.function}: a 204 documents content"
            continue
        assert response["content"]["application/json"]["schema"], f"{route.function}: no success schema"


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.function)
def test_every_operation_documents_its_problems_with_the_problem_schema(doc, route):
    op = operation(doc, route)
    documented = {int(s) for s in op["responses"] if not s.startswith("2")}
    missing = problem_statuses(route) - documented
    assert not missing, f"{route.function} does not document {sorted(missing)}"
    for status in documented:
        content = op["responses"][str(status)]["content"]
        if route.function == "enqueue" and str(status) in PAGERDUTY_STATUSES:
            schema = {"$ref": f"#/components/schemas/{PAGERDUTY_STATUSES[str(status)]}"}
            assert content == {"application/json": {"schema": schema}}, status
            continue
        assert list(content) == ["application/problem+json"], (route.function, status)
        assert content["application/problem+json"]["schema"] == {"$ref": PROBLEM_REF}
    if route.function == "enqueue":
        assert {s for s in op["responses"] if s.startswith("4")} == set(PAGERDUTY_STATUSES)
    if 405 in documented:
        assert op["responses"]["405"]["headers"]["Allow"]["required"] is True


def test_powertools_own_validation_error_body_is_not_documented(doc):
    text = json.dumps(doc)
    assert "HTTPValidationError" not in text and '"#/components/schemas/ValidationError"' not in text
    problem = doc["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert {"errors", "allowed_transitions", "current_state", "current_version", "instance"} <= set(
        problem["properties"]
    )


def test_the_bearer_scheme_is_a_jwt(doc):
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": doc["components"]["securitySchemes"]["bearer"]["description"],
    }


def test_the_document_is_valid_openapi_3_1(doc):
    from openapi_spec_validator import OpenAPIV31SpecValidator

    assert doc["openapi"].startswith("3.1")
    errors = [str(e) for e in OpenAPIV31SpecValidator(doc).iter_errors()]
    assert not errors, "\n".join(errors[:5])


def test_links_name_operations_that_exist(doc):
    operation_ids = {op["operationId"] for item in doc["paths"].values() for op in item.values()}
    for item in doc["paths"].values():
        for op in item.values():
            for response in op["responses"].values():
                for link in (response.get("links") or {}).values():
                    assert link["operationId"] in operation_ids


# ---- parameters ---------------------------------------------------------------------------------------


def test_list_filters_are_repeatable_arrays_and_other_query_parameters_are_not(doc):
    params = parameters(doc["paths"]["/tickets"]["get"], "query")
    assert set(params) == {
        "q",
        *LIST_FILTERS,
        "tenant_id",
        "assignee",
        "tag",
        "dedup_key",
        "sort",
        "limit",
        "cursor",
    }
    for name, param in params.items():
        if name in LIST_FILTERS:
            assert (param["schema"]["type"], param["style"], param["explode"]) == ("array", "form", True)
            assert "comma" in param["description"]
        else:
            assert param["schema"]["type"] != "array" and "anyOf" not in param["schema"], name
    assert params["q"]["schema"]["pattern"] == NO_NUL
    assert params["cursor"]["schema"]["pattern"] == "^[A-Za-z0-9_-]+$"
    for path in (
        "/tickets/{ticket_id}/comments",
        "/tickets/{ticket_id}/events",
        "/tickets/{ticket_id}/occurrences",
    ):
        assert set(parameters(doc["paths"][path]["get"], "query")) == {"limit", "cursor"}


@pytest.mark.parametrize(
    ("function", "headers"),
    [
        ("create_ticket", {"Idempotency-Key", "X-Correlation-Id"}),
        ("transition_ticket", {"Idempotency-Key", "If-Match", "X-Correlation-Id"}),
        ("add_comment", {"Idempotency-Key", "X-Correlation-Id"}),
        ("update_ticket", {"If-Match", "X-Correlation-Id"}),
        ("get_ticket", set()),
        ("create_routing_rule", {"Idempotency-Key", "X-Correlation-Id"}),
        ("replace_routing_rule", {"If-Match", "X-Correlation-Id"}),
        ("delete_routing_rule", {"X-Correlation-Id"}),
        ("test_routing_rules", set()),
        ("create_sla_policy", {"Idempotency-Key", "X-Correlation-Id"}),
        ("replace_sla_policy", {"If-Match", "X-Correlation-Id"}),
        ("delete_sla_policy", {"X-Correlation-Id"}),
        ("get_sla_policy", set()),
        ("create_calendar", {"Idempotency-Key", "X-Correlation-Id"}),
        ("replace_calendar", {"If-Match", "X-Correlation-Id"}),
        ("delete_calendar", {"X-Correlation-Id"}),
    ],
)
def test_headers_are_declared_with_their_grammar(doc, function, headers):
    route = next(r for r in ROUTES if r.function == function)
    declared = parameters(operation(doc, route), "header")
    assert set(declared) == headers
    if "Idempotency-Key" in declared:
        assert declared["Idempotency-Key"]["schema"]["pattern"] == IDEMPOTENCY_KEY_PATTERN
    if "If-Match" in declared:
        assert declared["If-Match"]["schema"]["pattern"] == IF_MATCH_PATTERN
    assert all(not p["required"] for p in declared.values())


def test_the_idempotency_key_grammar_is_the_one_the_server_checks():
    from shared import idempotency

    assert idempotency._KEY.pattern == IDEMPOTENCY_KEY_PATTERN


@pytest.mark.parametrize("route", [r for r in ROUTES if "{ticket_id}" in r.path], ids=lambda r: r.function)
def test_the_ticket_path_parameter_is_described(doc, route):
    param = parameters(operation(doc, route), "path")["ticket_id"]
    assert param["required"] is True and "TCK-42" in param["description"]


def test_required_text_means_what_trimming_means():
    """A pattern ``\\s`` would mean other characters to a client's regex engine than ``str.strip``
    to the server; the explicit class agrees with it character by character."""
    some_text = re.compile(SOME_TEXT)
    for code in range(0x10000):
        char = chr(code)
        if 0xD800 <= code <= 0xDFFF:
            continue
        assert (some_text.fullmatch(char) is not None) == (char != "\x00" and char.strip() != ""), hex(code)


# ---- the served document -----------------------------------------------------------------------------


def test_the_served_document_is_the_generated_one(api, doc):
    result = api("GET", "/openapi.json", caller=ALICE)
    assert result.status == 200 and result.content_type.startswith("application/json")
    assert result.body == doc  # (the token is the authorizer's: tests/e2e/test_gateway.py)


def test_the_synthesised_document_is_served_when_it_is_shipped(tmp_path, monkeypatch, doc):
    shipped = tmp_path / "openapi.json"
    assert document.main([str(shipped)]) == 0
    assert json.loads(shipped.read_text(encoding="utf-8")) == doc
    monkeypatch.setattr(document, "DOCUMENT_FILE", shipped)
    document.document.cache_clear()
    try:
        shipped.write_text(
            json.dumps({**doc, "info": {**doc["info"], "version": "shipped"}}), encoding="utf-8"
        )
        assert document.document()["info"]["version"] == "shipped"
    finally:
        document.document.cache_clear()


def test_the_openapi_function_asset_ships_the_document(tmp_path, doc):
    from infra.assets import AssetBuilder

    builder = AssetBuilder(build_dir=tmp_path)
    builder.function_code("openapi")
    staged = next((tmp_path / "assets").glob("openapi-*"))
    assert sorted(p.name for p in (staged / "functions" / "openapi").iterdir() if p.is_file()) == [
        "__init__.py",
        "document.py",
        "handler.py",
        "openapi.json",
    ]
    assert json.loads((staged / "functions" / "openapi" / "openapi.json").read_text(encoding="utf-8")) == doc
    assert not any(p.name.startswith(".generated") for p in tmp_path.iterdir())
    assert Path(sys.executable).exists()


# ---- the document says what the server accepts ---------------------------------------------------------


def validator(doc: dict[str, Any], name: str) -> Any:
    schema = {"$ref": f"#/components/schemas/{name}", "components": doc["components"]}
    return jsonschema_rs.validator_for(schema)


CREATE_BODIES = [
    {"title": "x", "kind": "incident"},
    {"title": "x"},  # neither a kind nor a category
    {"title": "x", "category": "health", "kind": None},  # the category implies the kind
    {"title": "x", "kind": None, "category": None},
    {"title": "x", "category": "health", "kind": "request"},  # they disagree
    {"title": "x", "kind": "request", "visibility": "tenant"},  # tenant-visible without a tenant
    {"title": "x", "kind": "request", "visibility": "tenant", "tenant_id": "acme"},
    {"title": "x", "kind": "request", "visibility": "platform_only"},
    {"title": "\x1c", "kind": "request"},  # whitespace to str.strip, not to ECMA's \s
    {"title": "\ufeff", "kind": "request"},  # the other way round
    {"title": " x ", "kind": "request"},
    {"title": "x", "category": "data_freshness", "fields": {"lag_minutes": "5"}},
    {"title": "x", "category": "data_freshness", "fields": {"lag_minutes": 5}},
    {"title": "x", "category": "data_freshness", "fields": {"expected_at": "2026-01-01"}},
    {"title": "x", "category": "data_freshness", "fields": {"expected_at": "2026-01-01T08:00:00Z"}},
    {"title": "x", "category": "schema_change", "fields": {"breaking": "yes"}},
    {"title": "x", "category": "quota", "fields": {"requested_limit": True}},
    {"title": "x", "category": "configuration", "fields": {"value": {"a": ["b", 1, None]}}},
    {"title": "x", "category": "configuration", "fields": {"value": {"a": ["b\x00"]}}},
    {"title": "x", "category": "schema_drift", "fields": {"expected_schema": {"k\x00": 1}}},
    {"title": "x", "kind": "request", "fields": {"a": 1}},  # fields without a category
    {"title": "x", "kind": "request", "tags": ["ok", "not ok"]},
    {"title": "x", "kind": "request", "description": "nul\x00"},
]


@pytest.mark.parametrize("body", CREATE_BODIES, ids=repr)
def test_a_new_ticket_is_accepted_exactly_when_the_schema_allows_it(api, doc, body):
    allowed = validator(doc, "TicketCreate").is_valid(body)
    result = api("POST", "/tickets", caller=OPS, body=body)
    assert (result.status == 201) == allowed, (allowed, result.status, result.body)
    if not allowed:
        assert result.status in (400, 422), result.body


PATCH_BODIES = [
    {},
    {"priority": "low"},
    {"priority": None},
    {"assignee": None},
    {"tags": None},
    {"title": "\u3000"},
    {"title": "renamed"},
    {"fields": {"run_id": "r-2"}},
]


@pytest.mark.parametrize("body", PATCH_BODIES, ids=repr)
def test_a_patch_is_accepted_exactly_when_the_schema_allows_it(api, doc, body):
    ticket = create_ticket(OPS, title="Patched", category="pipeline_failure")
    allowed = validator(doc, "TicketPatch").is_valid(body)
    result = api("PATCH", f"/tickets/{ticket['id']}", caller=OPS, body=body)
    assert (result.status == 200) == allowed, (allowed, result.status, result.body)


@pytest.mark.parametrize(
    "body",
    [
        {"to": "canceled"},
        {"to": "canceled", "reason": None},
        {"to": "canceled", "reason": "duplicate"},
        {"to": "resolved"},
        {"to": "resolved", "resolution": "fixed"},
        {"to": "ack"},
    ],
    ids=repr,
)
def test_what_every_state_needs_is_in_the_schema(api, doc, body):
    ticket = create_ticket(OPS, title="Moved", category="pipeline_failure")
    allowed = validator(doc, "TransitionRequest").is_valid(body)
    result = api("POST", f"/tickets/{ticket['id']}/transitions", caller=OPS, body=body)
    assert (result.status == 200) == allowed, (allowed, result.status, result.body)


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("state=new,ack", 200),
        ("state=new&state=ack", 200),
        ("state=new,", 400),  # an empty item is no state
        ("state=new, ack", 400),  # nor is " ack": commas split, nothing is trimmed
        ("state=", 400),
        ("limit=5&limit=6", 400),
        ("q=a&q=b", 400),
        ("tag=not%20ok", 400),
    ],
)
def test_query_parameters_are_refused_as_their_schemas_refuse_them(api, query, status):
    result = api("GET", f"/tickets?{query}", caller=OPS)
    assert result.status == status, result.body
    if status == 400 and query.count("=") == 2 and "state" not in query:
        assert "once" in result.body["detail"]


@pytest.mark.parametrize(
    ("value", "status"),
    [('"1"', 200), ('W/"1"', 200), ("*", 200), ('"9"', 412), ("1", 400), ("", 400), ('"1", "2"', 400)],
)
def test_if_match_is_refused_unless_it_is_an_entity_tag(api, value, status):
    ticket = create_ticket(OPS, title="Matched", category="pipeline_failure")
    result = api(
        "PATCH", f"/tickets/{ticket['id']}", caller=OPS, body={"priority": "low"}, headers={"If-Match": value}
    )
    assert result.status == status, result.body
    if status == 400:
        assert result.body["errors"][0]["loc"] == ["header", "if-match"]


RULE = {"name": "pipelines", "conditions": {"all": []}, "actions": {"queue": "data"}}
RULE_BODIES = [
    RULE,
    {**RULE, "continue": True, "enabled": False, "position": 7, "description": ""},
    {**RULE, "name": "\u3000"},
    {**RULE, "position": 0},
    {**RULE, "position": "7"},
    {**RULE, "continue": "true"},
    {**RULE, "actions": {}},
    {**RULE, "actions": {"queue": None, "add_tags": ["a", "b"], "sla_policy": "gold-1"}},
    {**RULE, "actions": {"add_tags": []}},
    {**RULE, "actions": {"visibility": "everyone"}},
    {**RULE, "actions": {"escalate": True}},
    {**RULE, "conditions": {"any": []}},
    {**RULE, "conditions": {"not": {"field": "tags", "op": "in", "value": ["a"], "ignore_case": True}}},
    {**RULE, "conditions": {"field": "priority", "op": "in", "value": ["high", "urgent"]}},
    {**RULE, "conditions": {"field": "fields.lag_minutes", "op": "gte", "value": 30}},
    {**RULE, "conditions": {"field": "fields.lag_minutes", "op": "gte", "value": "30"}},
    {**RULE, "conditions": {"field": "fields.a b", "op": "eq", "value": "x"}},
    {**RULE, "conditions": {"field": "resource", "op": "prefix", "value": "arn:aws:s3:::"}},
    {**RULE, "conditions": {"field": "title", "op": "matches", "value": "(a+)+$"}},
    {k: v for k, v in RULE.items() if k != "actions"},
]


@pytest.mark.parametrize("body", RULE_BODIES, ids=repr)
def test_a_rule_is_accepted_exactly_when_the_schema_allows_it(api, doc, body):
    """The rule's schema is exact but for what no JSON Schema can say (a regular expression RE2
    refuses, the bounds on nesting, field tests and size: tests/unit/test_routing_conditions.py)."""
    allowed = validator(doc, "RoutingRuleWrite").is_valid(body)
    result = api("POST", "/routing-rules", caller=ADMIN, body=body)
    assert (result.status == 201) == allowed, (allowed, result.status, result.body)
    if not allowed:
        assert result.status == 422, result.body


def test_a_regular_expression_re2_refuses_is_the_422_the_schema_cannot_give(api, doc):
    body = {**RULE, "conditions": {"field": "title", "op": "matches", "value": "(a)\\1"}}
    assert validator(doc, "RoutingRuleWrite").is_valid(body)
    result = api("POST", "/routing-rules", caller=ADMIN, body=body)
    assert result.status == 422 and result.body["errors"][0]["loc"] == ["body", "conditions", "value"]
