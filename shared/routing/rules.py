"""Routing rules: what a client writes and reads, the actions, and what the rules do to a new
ticket (``route``, pure: no I/O).

Matching (Alertmanager's semantics): enabled rules are tried in order of ``position``; the first
whose condition holds applies and matching stops, unless that rule says ``continue``, in which
case matching goes on with the next rules. Every condition is tested against the ticket as it
arrived (and the event that opened it), never against what an earlier rule set: one pass per
ticket, and no rule runs again on its own changes. Among the rules that apply, the earliest to
set a field wins (later ones cannot undo an earlier, more specific rule's choice); tags added by
every applied rule accumulate.

Who chose what (``keep``, decided by the caller, ``shared.tickets.service``): fields in ``keep``
were set on purpose by the person opening the ticket and are not overridden. Visibility is
bounded: a ticket without a tenant stays platform-only, and a rule never hides a ticket from the
tenant that is opening it (``may_hide`` is false for tenant callers). A rule never changes a
ticket's tenant, so it cannot show one tenant's ticket to another. An action that cannot apply is
named in the applied rule's ``skipped``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StrictBool,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from typing_extensions import TypeAliasType

from shared.auth import TENANT_ID_PATTERN
from shared.kernel.text import (
    KEYS_ARE_TEXT,
    NO_NUL,
    JsonData,
    JsonText,
    drop_null_defaults,
    free_text,
    required_text,
    trimmed,
)
from shared.routing import conditions

MAX_RULES = 200  # live rules (each new ticket is tested against every enabled one)
MAX_POSITION = 1_000_000
POSITION_STEP = 10  # a rule written without a position goes after the last, at the next multiple of 10
MAX_TAGS = 50  # a ticket's tags
# A ticket's tags (shared.tickets.models.TAG_PATTERN; a unit test checks they agree).
TAG_PATTERN = r"^[A-Za-z0-9_.:/-]{1,64}$"
SLA_POLICY_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"

# The fields a rule sets (besides adding tags), and those a person's explicit choice keeps.
ROUTED_FIELDS = ("queue", "assignee", "priority", "visibility", "sla_policy")
KEPT_WHEN_CHOSEN = ("queue", "assignee", "priority", "visibility")

Priority = conditions.Priority
Visibility = conditions.Visibility
Kind = conditions.Kind
Category = conditions.Category
Severity = conditions.Severity

RuleName = Annotated[str, required_text(200), AfterValidator(trimmed)]
Name = Annotated[str, required_text(200), AfterValidator(trimmed)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=TAG_PATTERN)]
SlaPolicy = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=SLA_POLICY_PATTERN),
    Field(description="The SLA policy's name: letters, digits and '_.:-', at most 64 characters."),
]
TenantId = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=TENANT_ID_PATTERN)]


def _json_integer(value: Any) -> Any:
    """A JSON integer (1 or 1.0), never a boolean or a string: what the schema's ``integer`` means."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError("must be a JSON integer")
    return int(value)


Position = Annotated[
    int,
    Field(ge=1, le=MAX_POSITION, description="Rules are tried in ascending position; unique among rules."),
    BeforeValidator(_json_integer),
]


# ---- conditions as a model field -----------------------------------------------------------------------


def _condition(value: Any) -> conditions.Condition:
    """A condition from JSON; its problems come out as pydantic errors located inside it."""
    if isinstance(value, conditions.Condition):
        return value
    try:
        return conditions.parse(value)
    except conditions.InvalidCondition as exc:
        raise ValidationError.from_exception_data(
            "RoutingCondition",
            [
                InitErrorDetails(
                    type=PydanticCustomError("routing_condition", "{reason}", {"reason": msg}),
                    loc=loc,
                    input=value,
                )
                for loc, msg in exc.errors
            ],
        ) from None


def _replace_with_tests(schema: dict[str, Any]) -> None:
    schema.clear()
    schema.update(
        {
            "description": "A test of one field: a field, an op and a value (text tests may also"
            " say ignore_case).",
            "anyOf": conditions.field_test_schemas(),
        }
    )


# Schema-only models: how the OpenAPI document shows a condition (parsing is ``conditions.parse``).
RoutingCondition = TypeAliasType(
    "RoutingCondition", "RoutingAll | RoutingAny | RoutingNot | RoutingFieldTest"
)


class RoutingAll(BaseModel):
    """Holds when every condition holds ({"all": []} holds for every ticket)."""

    model_config = ConfigDict(extra="forbid")
    all: list[RoutingCondition] = Field(max_length=conditions.MAX_ITEMS)


class RoutingAny(BaseModel):
    """Holds when at least one condition holds."""

    model_config = ConfigDict(extra="forbid")
    any: list[RoutingCondition] = Field(min_length=1, max_length=conditions.MAX_ITEMS)


class RoutingNot(BaseModel):
    """Holds when the condition does not."""

    model_config = ConfigDict(extra="forbid")
    not_: RoutingCondition = Field(alias="not")


class RoutingFieldTest(BaseModel):
    model_config = ConfigDict(json_schema_extra=_replace_with_tests)


class _DocumentedAs:
    """Show a field in the JSON schema as another type (here: the schema-only condition models)."""

    def __init__(self, shown: Any) -> None:
        self.shown = shown

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> Any:
        return handler(TypeAdapter(self.shown).core_schema)


Condition = Annotated[
    conditions.Condition,
    PlainValidator(_condition),
    PlainSerializer(lambda condition: condition.to_json(), return_type=dict),
    _DocumentedAs(RoutingCondition),
    Field(
        description="When the rule applies: {all: [...]}, {any: [...]}, {not: {...}} or a field test"
        " {field, op, value}. At most 10 levels deep, 100 field tests and 16 KiB as JSON; regular"
        " expressions are RE2's (refused at write time when RE2 cannot compile them)."
    ),
]


# ---- the rule as written and as read ---------------------------------------------------------------------


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=drop_null_defaults)


class RuleActions(_Request):
    """What a rule does to the tickets it applies to. Null or absent: not set by this rule."""

    queue: Name | None = None
    assignee: Name | None = None
    priority: Priority | None = None
    visibility: Visibility | None = Field(
        default=None,
        description="A ticket without a tenant stays platform_only; a tenant's own new ticket is never"
        " made platform_only (the action is skipped).",
    )
    add_tags: list[Tag] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_TAGS,
        description="Added to the ticket's tags (50 at most).",
    )
    sla_policy: SlaPolicy | None = None

    def as_dict(self) -> dict[str, Any]:
        """The actions set, in a fixed order, tags once each."""
        actions = self.model_dump(exclude_none=True)
        if "add_tags" in actions:
            actions["add_tags"] = list(dict.fromkeys(actions["add_tags"]))
        return actions


class RoutingRuleWrite(_Request):
    """A rule as a client writes it (POST, and PUT, which replaces it whole)."""

    name: RuleName
    description: Annotated[str, free_text(2000)] = ""
    position: Position | None = Field(
        default=None,
        description="Where the rule is tried (ascending, unique). Absent: after the last rule (at the next"
        " multiple of 10) when created, where it was when replaced.",
    )
    enabled: StrictBool = True
    conditions: Condition
    actions: RuleActions
    continue_: StrictBool = Field(
        default=False,
        alias="continue",
        description="After this rule applies, go on trying the next rules (by default matching stops).",
    )


class RoutingRule(BaseModel):
    """A routing rule as stored."""

    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True, validate_by_alias=True)

    id: UUID
    position: int
    name: str
    description: str
    enabled: bool
    conditions: Condition
    actions: RuleActions
    continue_: bool = Field(alias="continue")
    version: int
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime


class RoutingRulePage(BaseModel):
    items: list[RoutingRule]
    next_cursor: str | None


# ---- the dry run ------------------------------------------------------------------------------------------


class SampleTicket(_Request):
    """A ticket as it would be opened (every member optional)."""

    title: Annotated[str, free_text(300)] = ""
    description: Annotated[str, free_text(20_000)] = ""
    kind: Kind | None = None
    category: Category | None = None
    priority: Priority = "medium"
    tenant_id: TenantId | None = None
    visibility: Visibility | None = None
    queue: Name | None = None
    assignee: Name | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)
    fields: Annotated[dict[JsonText, JsonData], KEYS_ARE_TEXT, Field(max_length=64)] = Field(
        default_factory=dict
    )
    resources: list[Annotated[str, free_text(200)]] = Field(default_factory=list, max_length=50)
    source: Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=NO_NUL)] = "api"


class SampleEvent(_Request):
    """The machine event that opens the ticket (as intake passes it to routing)."""

    source: Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=NO_NUL)] | None = None
    detail_type: Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=NO_NUL)] | None = None
    severity: Severity | None = None
    summary: Annotated[str, free_text(1024)] | None = None
    resource: Annotated[str, free_text(2048)] | None = None


class RoutingTestRequest(_Request):
    """A sample ticket, and optionally the event that opened it, to route without writing anything."""

    ticket: SampleTicket = Field(default_factory=SampleTicket)
    event: SampleEvent | None = None


class RuleMatch(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)

    id: UUID
    name: str
    position: int
    continue_: bool = Field(alias="continue")
    applied: bool = Field(
        description="False when an earlier matching rule without continue stopped matching first."
    )
    skipped: list[str] = Field(description="Actions of an applied rule that could not apply.")


class RoutedFields(BaseModel):
    queue: str | None
    assignee: str | None
    priority: Priority
    visibility: Visibility
    tags: list[str]
    sla_policy: str | None


class RoutingTestResult(BaseModel):
    matches: list[RuleMatch] = Field(description="Every enabled rule whose condition holds, in order.")
    result: RoutedFields = Field(description="The sample's fields once the applied rules have acted.")


# ---- what the rules do to a new ticket --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """An enabled rule, ready to test: its condition compiled, its actions as a dict."""

    id: UUID
    name: str
    position: int
    condition: conditions.Condition
    actions: Mapping[str, Any]
    continue_: bool

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> CompiledRule:
        actions = RuleActions.model_validate(row["actions"]).as_dict()
        return cls(
            id=row["id"],
            name=row["name"],
            position=row["position"],
            condition=conditions.parse(row["conditions"]),
            actions=actions,
            continue_=row["continue"],
        )


def _visibility_allowed(values: Mapping[str, Any], visibility: str, may_hide: bool) -> bool:
    if values.get("tenant_id") is None:
        return visibility == "platform_only"
    return may_hide or visibility != "platform_only"


def route(
    rules: Sequence[CompiledRule],
    values: Mapping[str, Any],
    *,
    event: Mapping[str, Any] | None = None,
    keep: Collection[str] = (),
    may_hide: bool = True,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The new ticket's ``values`` once the rules that apply have acted, and those rules
    (``{"id", "name"}``, with ``"skipped"`` naming actions that could not apply). Pure."""
    routed = dict(values)
    applied: list[dict[str, Any]] = []
    if not rules:
        return routed, applied
    subject = conditions.subject(values, event)
    set_by_rules: set[str] = set()
    for rule in rules:
        if not rule.condition.test(subject):
            continue
        skipped: list[str] = []
        for action, value in rule.actions.items():
            if action == "add_tags":
                tags = list(routed.get("tags") or ())
                for tag in value:
                    if tag in tags:
                        continue
                    if len(tags) >= MAX_TAGS:
                        skipped.append("add_tags")
                        break
                    tags.append(tag)
                routed["tags"] = tags
            elif (
                action in keep
                or action in set_by_rules
                or (action == "visibility" and not _visibility_allowed(routed, value, may_hide))
            ):
                skipped.append(action)
            else:
                routed[action] = value
                set_by_rules.add(action)
        entry: dict[str, Any] = {"id": str(rule.id), "name": rule.name}
        if skipped:
            entry["skipped"] = skipped
        applied.append(entry)
        if not rule.continue_:
            break
    return routed, applied


def explain(
    rules: Iterable[CompiledRule], values: Mapping[str, Any], *, event: Mapping[str, Any] | None = None
) -> RoutingTestResult:
    """The dry run: every rule whose condition holds (and whether it applied), and the result."""
    rules = list(rules)
    routed, applied = route(rules, values, event=event)
    by_id = {entry["id"]: entry for entry in applied}
    subject = conditions.subject(values, event)
    matches = [
        RuleMatch.model_validate(
            {
                "id": rule.id,
                "name": rule.name,
                "position": rule.position,
                "continue": rule.continue_,
                "applied": str(rule.id) in by_id,
                "skipped": by_id.get(str(rule.id), {}).get("skipped", []),
            }
        )
        for rule in rules
        if rule.condition.test(subject)
    ]
    return RoutingTestResult(
        matches=matches,
        result=RoutedFields.model_validate({k: routed.get(k) for k in RoutedFields.model_fields}),
    )
