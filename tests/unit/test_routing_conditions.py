"""The routing rules' condition language (``shared.routing.conditions``) and what rules do to a new
ticket (``shared.routing.rules.route``): pure, no database."""

from __future__ import annotations

import json
import re
import time
import typing
import uuid
from typing import Any

import jsonschema_rs
import pytest
from pydantic import TypeAdapter, ValidationError

from shared.intake import model as intake_model
from shared.routing import conditions
from shared.routing.conditions import InvalidCondition, parse, subject
from shared.routing.rules import (
    TAG_PATTERN,
    CompiledRule,
    RoutingCondition,
    RoutingRuleWrite,
    RuleActions,
    explain,
    route,
)
from shared.tickets import models as tickets

TICKET = {
    "tenant_id": "acme",
    "visibility": "tenant",
    "kind": "incident",
    "category": "pipeline_failure",
    "priority": "high",
    "title": "Nightly orders pipeline failing",
    "description": "The load step timed out.",
    "requester": "alice",
    "assignee": None,
    "queue": None,
    "tags": ["etl", "prod"],
    "fields": {"pipeline": "orders", "run_id": "r-7"},
    "resources": ["arn:aws:glue:eu-west-1:123456789012:job/orders"],
    "source": "api",
    "sla_policy": None,
}
EVENT = {
    "source": "platform.health",
    "detail_type": "Pipeline Failed",
    "severity": "critical",
    "summary": "orders: load step failed",
    "resource": "arn:aws:s3:::orders-landing",
}


def holds(condition: Any, values: dict[str, Any] | None = None, event: dict[str, Any] | None = None) -> bool:
    return parse(condition).test(subject(values if values is not None else TICKET, event))


def problems(condition: Any) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(InvalidCondition) as caught:
        parse(condition)
    return caught.value.errors


# ---- the vocabulary is the tickets' and intake's -----------------------------------------------------------


def test_the_vocabulary_agrees_with_the_tickets_and_intake():
    assert tuple(k.value for k in tickets.Kind) == conditions.KINDS
    assert tuple(c.value for c in tickets.Category) == conditions.CATEGORIES
    assert tuple(p.value for p in tickets.Priority) == conditions.PRIORITIES
    assert tuple(v.value for v in tickets.Visibility) == conditions.VISIBILITIES
    assert typing.get_args(intake_model.Severity) == conditions.SEVERITIES
    assert frozenset(conditions.CATEGORIES[:6]) == {c.value for c in tickets.SYSTEM_CATEGORIES}
    assert TAG_PATTERN == tickets.TAG_PATTERN


# ---- every operator ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"field": "category", "op": "eq", "value": "pipeline_failure"}, True),
        ({"field": "category", "op": "eq", "value": "health"}, False),
        ({"field": "priority", "op": "in", "value": ["high", "critical"]}, True),
        ({"field": "kind", "op": "in", "value": ["request"]}, False),
        ({"field": "severity", "op": "exists", "value": False}, True),  # no event opened it
        ({"field": "tenant_id", "op": "eq", "value": "acme"}, True),
        ({"field": "tenant_id", "op": "eq", "value": "ACME"}, False),
        ({"field": "tenant_id", "op": "eq", "value": "ACME", "ignore_case": True}, True),
        ({"field": "title", "op": "contains", "value": "orders"}, True),
        ({"field": "title", "op": "contains", "value": "ORDERS"}, False),
        ({"field": "title", "op": "contains", "value": "ORDERS", "ignore_case": True}, True),
        ({"field": "title", "op": "prefix", "value": "Nightly"}, True),
        ({"field": "title", "op": "prefix", "value": "orders"}, False),
        ({"field": "title", "op": "matches", "value": r"orders\s+pipeline"}, True),
        ({"field": "title", "op": "matches", "value": r"^orders"}, False),
        ({"field": "title", "op": "matches", "value": "NIGHTLY", "ignore_case": True}, True),
        ({"field": "title", "op": "in", "value": ["a", "Nightly orders pipeline failing"]}, True),
        ({"field": "summary", "op": "eq", "value": "Nightly orders pipeline failing"}, True),  # the title
        ({"field": "description", "op": "contains", "value": "timed out"}, True),
        ({"field": "source", "op": "eq", "value": "api"}, True),
        ({"field": "detail_type", "op": "exists", "value": True}, False),
        ({"field": "tags", "op": "eq", "value": "prod"}, True),
        ({"field": "tags", "op": "in", "value": ["staging", "etl"]}, True),
        ({"field": "tags", "op": "prefix", "value": "pr"}, True),
        ({"field": "tags", "op": "contains", "value": "stag"}, False),
        ({"field": "tags", "op": "matches", "value": "^e.l$"}, True),
        ({"field": "tags", "op": "exists", "value": True}, True),
        ({"field": "resource", "op": "prefix", "value": "arn:aws:glue:"}, True),
        ({"field": "resource", "op": "prefix", "value": "arn:aws:s3:::"}, False),
        ({"field": "fields.pipeline", "op": "eq", "value": "orders"}, True),
        ({"field": "fields.pipeline", "op": "in", "value": ["billing", "orders"]}, True),
        ({"field": "fields.run_id", "op": "matches", "value": r"^r-\d+$"}, True),
        ({"field": "fields.missing", "op": "exists", "value": False}, True),
        ({"field": "fields.pipeline", "op": "exists", "value": True}, True),
    ],
)
def test_every_operator(condition, expected):
    assert holds(condition) is expected


def test_event_fields_are_tested_when_an_event_opened_the_ticket():
    assert holds({"field": "source", "op": "eq", "value": "platform.health"}, event=EVENT)
    assert holds({"field": "detail_type", "op": "eq", "value": "Pipeline Failed"}, event=EVENT)
    assert holds({"field": "severity", "op": "in", "value": ["critical", "error"]}, event=EVENT)
    assert holds({"field": "summary", "op": "contains", "value": "load step"}, event=EVENT)
    # The event's resource joins the ticket's linked resources.
    assert holds({"field": "resource", "op": "prefix", "value": "arn:aws:s3:::orders"}, event=EVENT)
    assert holds({"field": "resource", "op": "prefix", "value": "arn:aws:glue:"}, event=EVENT)


def test_numbers_booleans_and_paths_in_fields():
    values = {
        **TICKET,
        "fields": {
            "lag_minutes": 45,
            "breaking": True,
            "expected_usd": 12.5,
            "value": {"limits": [{"name": "rows", "max": 10}, {"name": "bytes", "max": 2048}]},
            "labels": ["gold", "eu"],
        },
    }
    cases = [
        ({"field": "fields.lag_minutes", "op": "gt", "value": 30}, True),
        ({"field": "fields.lag_minutes", "op": "gte", "value": 45}, True),
        ({"field": "fields.lag_minutes", "op": "lt", "value": 45}, False),
        ({"field": "fields.lag_minutes", "op": "lte", "value": 45.0}, True),
        ({"field": "fields.expected_usd", "op": "eq", "value": 12.5}, True),
        ({"field": "fields.lag_minutes", "op": "eq", "value": "45"}, False),  # text is not a number
        ({"field": "fields.breaking", "op": "eq", "value": True}, True),
        ({"field": "fields.breaking", "op": "eq", "value": 1}, False),  # JSON: true is not 1
        ({"field": "fields.breaking", "op": "gt", "value": 0}, False),  # nor a number
        ({"field": "fields.breaking", "op": "in", "value": [1, True]}, True),
        ({"field": "fields.value.limits.name", "op": "eq", "value": "bytes"}, True),  # into list items
        ({"field": "fields.value.limits.max", "op": "gt", "value": 1000}, True),
        ({"field": "fields.labels", "op": "eq", "value": "eu"}, True),  # a list: any item
        ({"field": "fields.labels", "op": "prefix", "value": "go"}, True),
        ({"field": "fields.value", "op": "exists", "value": True}, True),
        ({"field": "fields.value.limits.name.deeper", "op": "exists", "value": False}, True),
    ]
    for condition, expected in cases:
        assert holds(condition, values) is expected, condition


def test_all_any_and_not_combine():
    yes = {"field": "category", "op": "eq", "value": "pipeline_failure"}
    no = {"field": "category", "op": "eq", "value": "health"}
    assert holds({"all": [yes, {"not": no}]})
    assert not holds({"all": [yes, no]})
    assert holds({"any": [no, yes]})
    assert not holds({"any": [no, {"not": yes}]})
    assert holds({"not": {"any": [no]}})
    assert holds({"all": []})  # the catch-all
    assert holds({"all": [{"any": [no, {"all": [yes, {"not": {"not": yes}}]}]}]})


def test_a_condition_keeps_its_canonical_json():
    raw = {
        "any": [
            {"not": {"field": "tags", "op": "eq", "value": "x"}},
            {"field": "title", "op": "eq", "value": "y"},
        ]
    }
    assert parse(raw).to_json() == raw
    assert parse({"field": "title", "op": "eq", "value": "y", "ignore_case": False}).to_json() == {
        "field": "title",
        "op": "eq",
        "value": "y",
    }
    assert parse({"field": "title", "op": "eq", "value": "y", "ignore_case": True}).to_json()["ignore_case"]


# ---- regular expressions: RE2 ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("(a+)+$", "a" * 100_000 + "b"),  # exponential for a backtracking engine
        ("(a|aa)+c", "a" * 100_000),
        ("(x+x+)+y", "x" * 50_000),
        ("^(([a-z])+.)+[A-Z]([a-z])+$", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!" * 500),
    ],
)
def test_backtracking_prone_patterns_are_accepted_and_run_in_linear_time(pattern, text):
    condition = parse({"field": "description", "op": "matches", "value": pattern})
    started = time.perf_counter()
    assert condition.test(subject({**TICKET, "description": text})) is False
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    "pattern",
    [
        "(unclosed",
        "[z-a]",
        r"(a)\1",  # a backreference: only a backtracking engine can
        "(?=lookahead)x",
        "(?<!behind)x",
        "x{1001}",  # beyond RE2's repetition limit
        "x" * 513,  # longer than MAX_PATTERN_LENGTH
        "",
    ],
)
def test_patterns_re2_refuses_are_refused_at_write_time(pattern):
    [(loc, msg)] = problems({"field": "title", "op": "matches", "value": pattern})
    assert loc == ("value",)
    assert "RE2" in msg or "characters" in msg


def test_a_pattern_whose_program_is_too_large_is_refused():
    [(loc, msg)] = problems({"field": "title", "op": "matches", "value": "((((a{100}){100}){100}){100})"})
    assert loc == ("value",) and "RE2" in msg


# ---- validation: every problem, located --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "loc", "fragment"),
    [
        ({"field": "colour", "op": "eq", "value": "red"}, ("field",), "unknown field 'colour'"),
        ({"field": "fields", "op": "eq", "value": "x"}, ("field",), "unknown field"),
        ({"field": "fields.a b", "op": "eq", "value": "x"}, ("field",), "unknown field"),
        ({"field": "fields.x\n", "op": "eq", "value": "x"}, ("field",), "unknown field"),
        ({"field": 3, "op": "eq", "value": "x"}, ("field",), "unknown field"),
        ({"field": "title", "op": "like", "value": "x"}, ("op",), "'like' does not apply to title"),
        ({"field": "title", "op": "gt", "value": 3}, ("op",), "does not apply"),
        ({"field": "priority", "op": "contains", "value": "hi"}, ("op",), "use one of: eq, in, exists"),
        ({"field": "priority", "op": "eq", "value": "urgent"}, ("value",), "priority is one of"),
        (
            {"field": "category", "op": "in", "value": ["health", "pipeline"]},
            ("value", 1),
            "category is one of",
        ),
        ({"field": "kind", "op": "in", "value": []}, ("value",), "list of 1 to 100"),
        ({"field": "title", "op": "eq", "value": ""}, ("value",), "1 to 1000 characters"),
        ({"field": "title", "op": "eq", "value": 3}, ("value",), "must be text"),
        ({"field": "title", "op": "contains", "value": "x" * 1001}, ("value",), "1 to 1000"),
        ({"field": "fields.n", "op": "gt", "value": "3"}, ("value",), "must be a number"),
        ({"field": "fields.n", "op": "gt", "value": True}, ("value",), "must be a number"),
        (
            {"field": "fields.n", "op": "eq", "value": None},
            ("value",),
            "must be text, a number or true/false",
        ),
        ({"field": "title", "op": "exists", "value": "yes"}, ("value",), "true or false"),
        (
            {"field": "title", "op": "eq", "value": "x", "ignore_case": "yes"},
            ("ignore_case",),
            "true or false",
        ),
        (
            {"field": "priority", "op": "eq", "value": "high", "ignore_case": True},
            ("ignore_case",),
            "text tests",
        ),
        (
            {"field": "title", "op": "exists", "value": True, "ignore_case": True},
            ("ignore_case",),
            "text tests",
        ),
        ({"field": "fields.n", "op": "eq", "value": 3, "ignore_case": True}, ("value",), "give text values"),
        ({"field": "title", "op": "eq", "value": "x", "colour": 1}, ("colour",), "unknown member"),
        ({"field": "title", "op": "eq"}, ("value",), "missing"),
        ({"op": "eq", "value": "x"}, ("field",), "missing"),
        ({"all": [], "any": []}, (), "exactly one of"),
        ({"all": [], "field": "title"}, (), "exactly one of"),
        ({"any": []}, ("any",), "list of 1 to 50"),
        ({"all": {"field": "title"}}, ("all",), "list of 0 to 50"),
        ({"all": [1]}, ("all", 0), "a condition is an object"),
        ({}, (), "a condition is an object"),
        ([], (), "a condition is an object"),
    ],
)
def test_invalid_conditions_are_refused_where_they_are_wrong(condition, loc, fragment):
    found = problems(condition)
    assert any(where == loc and fragment in msg for where, msg in found), found


def test_every_problem_is_reported_with_its_path():
    found = problems(
        {
            "all": [
                {"field": "category", "op": "eq", "value": "pipeline_failure"},
                {"any": [{"field": "colour", "op": "eq", "value": "red"}]},
                {"not": {"field": "title", "op": "matches", "value": "(a)\\1"}},
                {"field": "tags", "op": "near", "value": "x"},
            ]
        }
    )
    assert [loc for loc, _ in found] == [
        ("all", 1, "any", 0, "field"),
        ("all", 2, "not", "value"),
        ("all", 3, "op"),
    ]


def test_the_size_of_a_condition_is_bounded():
    leaf = {"field": "title", "op": "eq", "value": "x"}
    deep: dict[str, Any] = leaf
    for _ in range(conditions.MAX_DEPTH):
        deep = {"not": deep}
    assert "nest at most" in problems(deep)[0][1]
    many = {"any": [{"any": [leaf] * 50}, {"any": [leaf] * 50}, leaf]}
    assert "at most 100 field tests" in problems(many)[0][1]
    large = {"any": [{"field": "title", "op": "in", "value": ["x" * 1000] * 17}]}
    assert "at most 16384 bytes" in problems(large)[0][1]


# ---- the documented schema says what parse takes -----------------------------------------------------------

ACCEPTED = [
    {"all": []},
    {"field": "title", "op": "eq", "value": "x", "ignore_case": True},
    {"field": "title", "op": "eq", "value": "x", "ignore_case": False},
    {"field": "tags", "op": "in", "value": ["a", "b"]},
    {"field": "resource", "op": "prefix", "value": "arn:"},
    {"field": "summary", "op": "matches", "value": "x+"},
    {"field": "severity", "op": "exists", "value": True},
    {"field": "priority", "op": "eq", "value": "high"},
    {"field": "priority", "op": "eq", "value": "high", "ignore_case": False},  # false is the default
    {"field": "category", "op": "in", "value": ["health"]},
    {"field": "fields.a.b", "op": "eq", "value": 3},
    {"field": "fields.a", "op": "eq", "value": False},
    {"field": "fields.a", "op": "in", "value": ["x", 1, True]},
    {"field": "fields.a", "op": "in", "value": ["x", "y"], "ignore_case": True},
    {"field": "fields.a", "op": "lte", "value": -1.5},
    {"field": "fields.a", "op": "contains", "value": "x"},
    {"not": {"any": [{"field": "kind", "op": "eq", "value": "request"}]}},
]
REFUSED = [
    {"any": []},
    {"all": [], "any": []},
    {"not": {"all": []}, "x": 1},
    {"field": "colour", "op": "eq", "value": "x"},
    {"field": "title", "op": "gt", "value": 1},
    {"field": "title", "op": "eq", "value": ""},
    {"field": "title", "op": "eq", "value": 1},
    {"field": "priority", "op": "eq", "value": "urgent"},
    {"field": "priority", "op": "eq", "value": "high", "ignore_case": True},
    {"field": "fields.a", "op": "eq", "value": 3, "ignore_case": True},
    {"field": "fields.a", "op": "in", "value": ["x", 1], "ignore_case": True},
    {"field": "fields.a", "op": "gt", "value": True},
    {"field": "fields.", "op": "eq", "value": "x"},
    {"field": "fields.x\n", "op": "eq", "value": "x"},
    {"field": "title", "op": "exists", "value": 1},
    {"field": "title", "op": "eq", "value": "x", "extra": 1},
    {"field": "kind", "op": "in", "value": []},
]


@pytest.fixture(scope="module")
def condition_schema() -> Any:
    return jsonschema_rs.validator_for(TypeAdapter(RoutingCondition).json_schema())


@pytest.mark.parametrize("condition", ACCEPTED + REFUSED, ids=json.dumps)
def test_the_schema_accepts_exactly_what_parse_accepts(condition_schema, condition):
    try:
        parse(condition)
        accepted = True
    except InvalidCondition:
        accepted = False
    assert condition_schema.is_valid(condition) is accepted
    assert accepted is (condition in ACCEPTED)


def test_a_rule_locates_its_problems_under_conditions_and_actions():
    with pytest.raises(ValidationError) as caught:
        RoutingRuleWrite.model_validate(
            {
                "name": "db",
                "conditions": {"all": [{"field": "colour", "op": "eq", "value": "red"}]},
                "actions": {"queue": "dba", "page": "someone"},
            }
        )
    locs = {tuple(e["loc"]) for e in caught.value.errors()}
    assert locs == {("conditions", "all", 0, "field"), ("actions", "page")}


def test_a_rule_takes_json_types_only():
    base = {"name": "x", "conditions": {"all": []}, "actions": {}}
    for member, value in (("enabled", "true"), ("continue", 1), ("position", "10"), ("position", True)):
        with pytest.raises(ValidationError):
            RoutingRuleWrite.model_validate({**base, member: value})
    assert RoutingRuleWrite.model_validate({**base, "position": 10.0}).position == 10
    assert RoutingRuleWrite.model_validate({**base, "continue": True}).continue_ is True


# ---- what rules do to a new ticket -------------------------------------------------------------------------


def rule(
    name: str, condition: Any, actions: dict[str, Any], *, position: int = 10, cont: bool = False
) -> CompiledRule:
    return CompiledRule(
        id=uuid.uuid4(),
        name=name,
        position=position,
        condition=parse(condition),
        actions=RuleActions.model_validate(actions).as_dict(),
        continue_=cont,
    )


ANY: dict[str, Any] = {"all": []}
PIPELINES = {"field": "category", "op": "eq", "value": "pipeline_failure"}


def test_the_first_matching_rule_applies_and_stops():
    rules = [
        rule("health", {"field": "category", "op": "eq", "value": "health"}, {"queue": "sre"}),
        rule("pipelines", PIPELINES, {"queue": "data", "sla_policy": "gold"}),
        rule("catch-all", ANY, {"queue": "triage", "add_tags": ["untriaged"]}),
    ]
    routed, applied = route(rules, TICKET)
    assert (routed["queue"], routed["sla_policy"], routed["tags"]) == ("data", "gold", ["etl", "prod"])
    assert [a["name"] for a in applied] == ["pipelines"]
    assert TICKET["queue"] is None  # the caller's values are not changed in place


def test_continue_goes_on_and_the_earliest_rule_to_set_a_field_wins():
    rules = [
        rule(
            "tag prod",
            {"field": "tags", "op": "eq", "value": "prod"},
            {"add_tags": ["p1"], "priority": "critical"},
            cont=True,
        ),
        rule(
            "pipelines",
            PIPELINES,
            {"queue": "data", "priority": "low", "add_tags": ["p1", "data"]},
            cont=True,
        ),
        rule("catch-all", ANY, {"queue": "triage", "assignee": "dora"}),
        rule("never reached", ANY, {"sla_policy": "bronze"}),
    ]
    routed, applied = route(rules, TICKET)
    assert routed["priority"] == "critical" and routed["queue"] == "data" and routed["assignee"] == "dora"
    assert routed["tags"] == ["etl", "prod", "p1", "data"]
    assert routed["sla_policy"] is None
    assert applied == [
        {"id": str(rules[0].id), "name": "tag prod"},
        {"id": str(rules[1].id), "name": "pipelines", "skipped": ["priority"]},
        {"id": str(rules[2].id), "name": "catch-all", "skipped": ["queue"]},
    ]


def test_conditions_see_the_ticket_as_it_arrived_not_earlier_rules_changes():
    rules = [
        rule("raise", PIPELINES, {"priority": "critical"}, cont=True),
        rule("critical ones", {"field": "priority", "op": "eq", "value": "critical"}, {"queue": "pager"}),
    ]
    routed, applied = route(rules, TICKET)
    assert routed["priority"] == "critical" and routed["queue"] is None and len(applied) == 1


def test_what_the_opener_chose_is_kept():
    rules = [rule("pipelines", PIPELINES, {"queue": "data", "priority": "low", "sla_policy": "gold"})]
    routed, applied = route(rules, {**TICKET, "queue": "mine"}, keep={"queue", "priority"})
    assert (routed["queue"], routed["priority"], routed["sla_policy"]) == ("mine", "high", "gold")
    assert applied[0]["skipped"] == ["queue", "priority"]


def test_visibility_never_leaves_a_tenantless_ticket_or_hides_a_tenants_own():
    to = {v: rule(v, ANY, {"visibility": v}) for v in ("platform_only", "tenant", "mixed")}
    platform_ticket = {**TICKET, "tenant_id": None, "visibility": "platform_only"}
    for visibility in ("tenant", "mixed"):
        routed, applied = route([to[visibility]], platform_ticket)
        assert routed["visibility"] == "platform_only" and applied[0]["skipped"] == ["visibility"]
    routed, applied = route([to["platform_only"]], TICKET, may_hide=False)  # a tenant opening it
    assert routed["visibility"] == "tenant" and applied[0]["skipped"] == ["visibility"]
    assert route([to["platform_only"]], TICKET, may_hide=True)[0]["visibility"] == "platform_only"
    assert route([to["mixed"]], TICKET, may_hide=False)[0]["visibility"] == "mixed"
    assert route([to["mixed"]], TICKET)[0]["tenant_id"] == "acme"  # no action moves a ticket's tenant


def test_tags_stay_within_a_tickets_bound():
    full = {**TICKET, "tags": [f"t{i}" for i in range(49)]}
    routed, applied = route([rule("more", ANY, {"add_tags": ["t1", "x", "y"]})], full)
    assert len(routed["tags"]) == 50 and routed["tags"][-1] == "x"
    assert applied[0]["skipped"] == ["add_tags"]


def test_no_rules_change_nothing():
    assert route([], TICKET) == (TICKET, [])
    assert route([rule("no", {"field": "kind", "op": "eq", "value": "request"}, {"queue": "x"})], TICKET) == (
        TICKET,
        [],
    )


def test_the_dry_run_names_every_matching_rule_and_which_applied():
    rules = [
        rule("first", PIPELINES, {"queue": "data"}, position=10, cont=True),
        rule("second", ANY, {"queue": "triage", "assignee": "dora"}, position=20),
        rule("shadowed", ANY, {"sla_policy": "gold"}, position=30),
        rule("not matching", {"field": "kind", "op": "eq", "value": "request"}, {"queue": "x"}, position=40),
    ]
    result = explain(rules, TICKET)
    assert [(m.name, m.applied, m.skipped) for m in result.matches] == [
        ("first", True, []),
        ("second", True, ["queue"]),
        ("shadowed", False, []),
    ]
    assert result.result.model_dump() == {
        "queue": "data",
        "assignee": "dora",
        "priority": "high",
        "visibility": "tenant",
        "tags": ["etl", "prod"],
        "sla_policy": None,
    }
    assert json.loads(result.model_dump_json())["matches"][0]["continue"] is True


def test_field_names_are_what_the_module_documents():
    documented = re.findall(r"``([a-z_]+)``", conditions.__doc__ or "")
    assert set(conditions.FIELD_NAMES) <= set(documented)
