"""The ticket service's vocabulary and its request/response models (pydantic v2)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from shared.auth import TENANT_ID_PATTERN
from shared.kernel.pagination import CURSOR_MAX_LENGTH, CURSOR_PATTERN
from shared.kernel.text import (
    KEYS_ARE_TEXT,
    NO_NUL,
    SOME_TEXT,  # noqa: F401 - re-exported: tests and other packages read it from here
    TEXT_NOTE,
    JsonData,
    JsonText,
    drop_null_defaults,
    free_text,
    required_text,
    trimmed,
)


class Kind(StrEnum):
    INCIDENT = "incident"
    REQUEST = "request"


class Category(StrEnum):
    # system (incidents)
    HEALTH = "health"
    PIPELINE_FAILURE = "pipeline_failure"
    DATA_FRESHNESS = "data_freshness"
    SCHEMA_DRIFT = "schema_drift"
    SECURITY_FINDING = "security_finding"
    COST_ANOMALY = "cost_anomaly"
    # requests
    SCHEMA_CHANGE = "schema_change"
    NEW_CONNECTOR = "new_connector"
    QUOTA = "quota"
    ACCESS = "access"
    CONFIGURATION = "configuration"
    DELETION_EXPORT = "deletion_export"


SYSTEM_CATEGORIES = frozenset(
    {
        Category.HEALTH,
        Category.PIPELINE_FAILURE,
        Category.DATA_FRESHNESS,
        Category.SCHEMA_DRIFT,
        Category.SECURITY_FINDING,
        Category.COST_ANOMALY,
    }
)


def kind_of(category: Category) -> Kind:
    return Kind.INCIDENT if category in SYSTEM_CATEGORIES else Kind.REQUEST


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Visibility(StrEnum):
    PLATFORM_ONLY = "platform_only"
    TENANT = "tenant"
    MIXED = "mixed"


class State(StrEnum):
    NEW = "new"
    ACK = "ack"
    IN_PROGRESS = "in_progress"
    WAIT_REQUESTER = "wait_requester"
    WAIT_DEPENDENCY = "wait_dependency"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELED = "canceled"


class CommentVisibility(StrEnum):
    PUBLIC = "public"
    INTERNAL = "internal"


# Text as clients send it: the patterns (NO_NUL, SOME_TEXT) and the trimming are
# ``shared.kernel.text``'s, which routing rules share.
TITLE_MAX = 300
Title = Annotated[str, required_text(TITLE_MAX), AfterValidator(trimmed)]
Description = Annotated[str, free_text(20_000)]
Name = Annotated[str, required_text(200), AfterValidator(trimmed)]
Reason = Annotated[str, required_text(5_000), AfterValidator(trimmed)]
CommentBody = Annotated[str, required_text(20_000), AfterValidator(trimmed)]
# Tags are ASCII identifiers (as in most label systems), so that every schema-driven client's
# regex engine reads the pattern the same way.
TAG_PATTERN = r"^[A-Za-z0-9_.:/-]{1,64}$"
Tag = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=TAG_PATTERN)]
TenantId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=63, pattern=TENANT_ID_PATTERN),
    Field(description="A tenant id: lowercase letters, digits and '-_.', starting with a letter or digit."),
]

# An opaque page cursor, as a previous page's ``next_cursor`` gave it.
Cursor = Annotated[
    str,
    StringConstraints(min_length=1, max_length=CURSOR_MAX_LENGTH, pattern=CURSOR_PATTERN),
    Field(description="Opaque: the next_cursor of the previous page, for the same query."),
]

# Bounds of a ticket's free-form ``fields`` (besides each category's typed model): what one
# tenant stores must never break another's list, an event's size or a Lambda's response limit.
FIELDS_MAX_BYTES = 16 * 1024  # serialized as compact UTF-8 JSON
FIELDS_MAX_DEPTH = 10  # objects/arrays nested inside ``fields``
FIELDS_MAX_KEYS = 64  # per object
FIELDS_MAX_ITEMS = 100  # per array
FIELDS_MAX_STRING = 4_000  # characters, for every string value or key inside
FIELDS_NOTE = (
    f"At most {FIELDS_MAX_BYTES} bytes as compact UTF-8 JSON, nested at most {FIELDS_MAX_DEPTH} levels,"
    f" {FIELDS_MAX_KEYS} keys per object, {FIELDS_MAX_ITEMS} items per array and {FIELDS_MAX_STRING}"
    " characters per string."
)


def check_fields_bounds(fields: dict[str, Any]) -> dict[str, Any]:
    """Refuse free-form ``fields`` beyond the bounds above (ValueError names the bound)."""

    def walk(value: Any, depth: int) -> None:
        if isinstance(value, str):
            if len(value) > FIELDS_MAX_STRING:
                raise ValueError(f"strings in fields are at most {FIELDS_MAX_STRING} characters")
        elif isinstance(value, dict):
            if depth > FIELDS_MAX_DEPTH:
                raise ValueError(f"fields nest at most {FIELDS_MAX_DEPTH} levels")
            if len(value) > FIELDS_MAX_KEYS:
                raise ValueError(f"objects in fields have at most {FIELDS_MAX_KEYS} keys")
            for key, item in value.items():
                if len(key) > FIELDS_MAX_STRING:
                    raise ValueError(f"keys in fields are at most {FIELDS_MAX_STRING} characters")
                walk(item, depth + 1)
        elif isinstance(value, list):
            if depth > FIELDS_MAX_DEPTH:
                raise ValueError(f"fields nest at most {FIELDS_MAX_DEPTH} levels")
            if len(value) > FIELDS_MAX_ITEMS:
                raise ValueError(f"arrays in fields have at most {FIELDS_MAX_ITEMS} items")
            for item in value:
                walk(item, depth + 1)

    walk(fields, 0)
    size = len(json.dumps(fields, ensure_ascii=False, separators=(",", ":"), default=str).encode())
    if size > FIELDS_MAX_BYTES:
        raise ValueError(f"fields are at most {FIELDS_MAX_BYTES} bytes as JSON, not {size}")
    return fields


# Long text inside a category's typed fields (the whole of ``fields`` is bounded too).
FieldText = Annotated[str, free_text(FIELDS_MAX_STRING)]

# Free-form JSON (inside ``fields``) is ``shared.kernel.text.JsonData``.
Fields = Annotated[
    dict[JsonText, JsonData],
    KEYS_ARE_TEXT,
    Field(description="Typed fields of the category. " + FIELDS_NOTE, max_length=FIELDS_MAX_KEYS),
    AfterValidator(check_fields_bounds),
]


# JSON values as JSON Schema types them, without pydantic's lax conversions ("500" or true for a
# number, "yes" or 1 for a boolean, a Unix time or "2026-01-01" for a date-time): the server takes
# exactly what the schema allows.
# RFC 3339 date-time (JSON Schema's format), from year 0001 on (Python's first year).
DATE_TIME_PATTERN = (
    r"^(?!0000)[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
_RFC3339 = re.compile(DATE_TIME_PATTERN)


def _json_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a JSON number")
    return value


def _json_integer(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError("must be a JSON integer")
    return int(value)


def _json_date_time(value: Any) -> Any:
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-01-31T09:30:00Z")
    return value


JsonDateTime = Annotated[
    datetime, BeforeValidator(_json_date_time), Field(json_schema_extra={"pattern": DATE_TIME_PATTERN})
]
NonNegativeNumber = Annotated[float, Field(ge=0), BeforeValidator(_json_number)]
NonNegativeInteger = Annotated[int, Field(ge=0), BeforeValidator(_json_integer)]


# Typed fields per category: all optional (a ticket can be opened before everything is known),
# but typed, and unknown keys are refused.
class _Fields(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HealthFields(_Fields):
    component: Name | None = None
    status: Literal["degraded", "down", "recovering"] | None = None


class PipelineFailureFields(_Fields):
    pipeline: Name | None = None
    run_id: Name | None = None
    error: FieldText | None = None


class DataFreshnessFields(_Fields):
    dataset: Name | None = None
    expected_at: JsonDateTime | None = None
    lag_minutes: NonNegativeInteger | None = None


class SchemaDriftFields(_Fields):
    dataset: Name | None = None
    expected_schema: Annotated[dict[JsonText, JsonData], KEYS_ARE_TEXT] | None = None
    observed_schema: Annotated[dict[JsonText, JsonData], KEYS_ARE_TEXT] | None = None


class SecurityFindingFields(_Fields):
    finding_id: Name | None = None
    severity: Literal["informational", "low", "medium", "high", "critical"] | None = None
    resource: Name | None = None


class CostAnomalyFields(_Fields):
    service: Name | None = None
    expected_usd: NonNegativeNumber | None = None
    observed_usd: NonNegativeNumber | None = None


class SchemaChangeFields(_Fields):
    dataset: Name | None = None
    change: FieldText | None = None
    breaking: StrictBool | None = None


class NewConnectorFields(_Fields):
    connector_type: Name | None = None
    source: Name | None = None


class QuotaFields(_Fields):
    resource: Name | None = None
    current_limit: NonNegativeNumber | None = None
    requested_limit: NonNegativeNumber | None = None


class AccessFields(_Fields):
    resource: Name | None = None
    access_level: Literal["read", "write", "admin"] | None = None
    grantee: Name | None = None
    justification: FieldText | None = None


class ConfigurationFields(_Fields):
    setting: Name | None = None
    value: JsonData = None


class DeletionExportFields(_Fields):
    operation: Literal["delete", "export"] | None = None
    dataset: Name | None = None
    subject: Name | None = None
    legal_basis: Name | None = None


CATEGORY_FIELDS: dict[Category, type[_Fields]] = {
    Category.HEALTH: HealthFields,
    Category.PIPELINE_FAILURE: PipelineFailureFields,
    Category.DATA_FRESHNESS: DataFreshnessFields,
    Category.SCHEMA_DRIFT: SchemaDriftFields,
    Category.SECURITY_FINDING: SecurityFindingFields,
    Category.COST_ANOMALY: CostAnomalyFields,
    Category.SCHEMA_CHANGE: SchemaChangeFields,
    Category.NEW_CONNECTOR: NewConnectorFields,
    Category.QUOTA: QuotaFields,
    Category.ACCESS: AccessFields,
    Category.CONFIGURATION: ConfigurationFields,
    Category.DELETION_EXPORT: DeletionExportFields,
}


def validate_category_fields(category: Category | None, fields: dict[str, Any]) -> dict[str, Any]:
    if not fields:
        return {}
    if category is None:
        raise ValueError("fields need a category")
    try:
        model = CATEGORY_FIELDS[category].model_validate(fields)
    except ValidationError as exc:  # located under "fields", where the client put them
        errors: list[Any] = [
            {"type": e["type"], "loc": ("fields", *e["loc"]), "input": e["input"], "ctx": e.get("ctx") or {}}
            for e in exc.errors()
        ]
        raise ValidationError.from_exception_data(exc.title, errors) from None
    return model.model_dump(mode="json", exclude_none=True)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=drop_null_defaults)


def _with_ref(value: Any, old: str, new: str) -> Any:
    """``value`` with every ``{"$ref": old}`` pointing to ``new`` instead."""
    if isinstance(value, dict):
        return {k: (new if k == "$ref" and v == old else _with_ref(v, old, new)) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_ref(item, old, new) for item in value]
    return value


def _create_alternatives(schema: dict[str, Any]) -> None:
    """What the schema cannot say by property alone: a ticket has a kind or a category (or both,
    agreeing), and its ``fields`` are the typed fields of that category (none without one)."""
    drop_null_defaults(schema)
    # The typed fields' own schemas refer to free-form JSON as their own "#/$defs/JsonData"; in
    # here they must refer to the definition this schema uses for ``fields``, wherever the
    # generator puts it (a component of the OpenAPI document, or this schema's $defs).
    json_data = schema["properties"]["fields"]["patternProperties"][NO_NUL]["$ref"]
    branches: list[dict[str, Any]] = []
    for category, model in CATEGORY_FIELDS.items():
        fields_schema = _with_ref(model.model_json_schema(), "#/$defs/JsonData", json_data)
        fields_schema.pop("$defs", None)
        fields_schema.pop("title", None)
        fields_schema["description"] = f"Typed fields of {category.value}. " + FIELDS_NOTE
        branches.append(
            {
                "required": ["category"],
                "properties": {
                    "category": {"const": category.value},
                    "kind": {"enum": [kind_of(category).value, None]},  # absent or null: implied
                    "fields": fields_schema,
                },
            }
        )
    branches.append(
        {
            "required": ["kind"],
            "properties": {
                "kind": {"enum": [kind.value for kind in Kind]},
                "category": {"type": "null"},
                "fields": {"type": "object", "maxProperties": 0},
            },
        }
    )
    schema["anyOf"] = branches
    # A ticket seen by a tenant names that tenant (tenant roles may simply give their own).
    schema["allOf"] = [
        {
            "anyOf": [
                {"properties": {"visibility": {"enum": [Visibility.PLATFORM_ONLY.value, None]}}},
                {"required": ["tenant_id"], "properties": {"tenant_id": {"type": "string"}}},
            ]
        }
    ]
    schema["description"] = (
        "Give a kind or a category (the category implies the kind; both must agree). `fields` are the"
        " typed fields of the category: none without one. A `tenant` or `mixed` visibility needs a"
        " `tenant_id`."
    )


class TicketCreate(_Request):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_create_alternatives)

    title: Title
    kind: Kind | None = None
    category: Category | None = None
    priority: Priority = Priority.MEDIUM
    description: Description = ""
    tenant_id: TenantId | None = Field(
        default=None, description="Platform roles only; tenant roles always open tickets in their own tenant."
    )
    visibility: Visibility | None = None
    assignee: Name | None = None
    queue: Name | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=50)
    fields: Fields = Field(default_factory=dict)
    resources: list[Name] = Field(
        default_factory=list, max_length=50, description="Linked platform resources"
    )

    @model_validator(mode="after")
    def _kind_matches_category(self) -> TicketCreate:
        if self.category is None and self.kind is None:
            raise ValueError("give a kind or a category")
        if self.visibility in (Visibility.TENANT, Visibility.MIXED) and self.tenant_id is None:
            raise ValueError(f"a {self.visibility.value} ticket needs a tenant_id")
        if self.category is not None:
            expected = kind_of(self.category)
            if self.kind is not None and self.kind != expected:
                raise ValueError(
                    f"category {self.category.value} is a {expected.value}, not a {self.kind.value}"
                )
            self.kind = expected
        self.fields = validate_category_fields(self.category, self.fields)
        self.tags = list(dict.fromkeys(self.tags))
        return self


# PATCH members that may be changed but not cleared: their schema is not nullable, and null is a 422.
_NOT_CLEARABLE = ("title", "description", "priority", "visibility", "tags", "fields", "resources")


def _patch_schema(schema: dict[str, Any]) -> None:
    """Members that may be changed but not cleared are not nullable in the schema either; an empty
    patch changes nothing and is refused."""
    drop_null_defaults(schema)
    schema["minProperties"] = 1
    for name in _NOT_CLEARABLE:
        prop = schema["properties"][name]
        branches = [b for b in prop.pop("anyOf", []) if b != {"type": "null"}]
        if len(branches) == 1:
            prop.update(branches[0])
        elif branches:
            prop["anyOf"] = branches


class TicketPatch(_Request):
    """Fields a PATCH may change; absent fields stay as they are (JSON Merge Patch, RFC 7396:
    ``null`` clears ``assignee`` and ``queue``; the other members cannot be cleared)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_patch_schema)

    title: Title | None = None
    description: Description | None = None
    priority: Priority | None = None
    assignee: Name | None = None
    queue: Name | None = None
    visibility: Visibility | None = None
    tags: list[Tag] | None = Field(default=None, max_length=50)
    fields: Fields | None = Field(
        default=None, description="The ticket category's typed fields. " + FIELDS_NOTE
    )
    resources: list[Name] | None = Field(default=None, max_length=50)

    @field_validator(*_NOT_CLEARABLE, mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be changed but not cleared")
        return value

    @model_validator(mode="after")
    def _something(self) -> TicketPatch:
        if not self.model_fields_set:
            raise ValueError("nothing to change")
        if self.tags is not None:
            self.tags = list(dict.fromkeys(self.tags))
        return self


@cache
def always_needed() -> dict[str, frozenset[State]]:
    """What a move needs whatever the ticket's state, by member: the targets every policy of the
    lifecycle table asks a reason for (canceled), or a resolution (resolved). A reopen (resolved or
    closed → in_progress) needs a reason too, but moving to in_progress from elsewhere does not:
    that one depends on the ticket, and the lifecycle checks it."""
    from shared.tickets import lifecycle  # the lifecycle table imports this module

    needed: dict[str, frozenset[State]] = {}
    for member, needs in (("reason", "needs_reason"), ("resolution", "needs_resolution")):
        needed[member] = frozenset(
            target
            for target in State
            if (policies := [moves[target] for moves in lifecycle.TRANSITIONS.values() if target in moves])
            and all(getattr(policy, needs) for policy in policies)
        )
    return needed


def _transition_needs(schema: dict[str, Any]) -> None:
    """``always_needed`` in the schema: to such a target, the member is required (and not null)."""
    drop_null_defaults(schema)
    schema["allOf"] = [
        {
            "anyOf": [
                {"properties": {"to": {"enum": [s.value for s in State if s not in targets]}}},
                {"required": [member], "properties": {member: {"type": "string"}}},
            ]
        }
        for member, targets in always_needed().items()
        if targets
    ]
    schema["description"] = (
        "Moving to canceled needs a `reason`, to resolved a `resolution`; reopening (resolved or closed"
        " → in_progress) needs a `reason` too."
    )


class TransitionRequest(_Request):
    """A move. What every move to its target needs is refused here, before the ticket is read (so
    a request the schema refuses is a 422 whatever the ticket's state or version)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_transition_needs)

    to: State
    reason: Reason | None = None
    resolution: Reason | None = None

    @model_validator(mode="after")
    def _what_the_target_needs(self) -> TransitionRequest:
        for member, targets in always_needed().items():
            if self.to in targets and getattr(self, member) is None:
                problem = ValueError(f"moving to {self.to.value} needs a {member}")
                raise ValidationError.from_exception_data(
                    type(self).__name__,
                    [{"type": "value_error", "loc": (member,), "input": None, "ctx": {"error": problem}}],
                )
        return self


class CommentCreate(_Request):
    body: CommentBody
    visibility: CommentVisibility = CommentVisibility.PUBLIC


# ---- the SLA as clients see it on every ticket ---------------------------------------------------------

SlaStatus = Literal["on_track", "at_risk", "breached", "met", "paused", "none"]
ClockState = Literal["running", "paused", "met", "breached", "canceled"]
SLA_STATUSES: tuple[str, ...] = ("on_track", "at_risk", "breached", "met", "paused", "none")


class SlaClock(BaseModel):
    """One SLA clock (first response, or resolution) as of the moment it is read."""

    state: ClockState = Field(
        description="running, paused (the ticket waits on the requester or a dependency), met, breached"
        " (it stays breached once its target passed, met or not) or canceled."
    )
    policy_id: str
    target_s: int = Field(description="The target, in seconds of business time.")
    due_at: datetime | None = Field(description="When the target passes (null while paused or stopped).")
    at_risk_at: datetime | None = Field(description="When the clock becomes at risk (null while paused).")
    remaining_s: int | None = Field(
        description="Running: seconds until due_at (negative once it passed). Paused: business seconds left"
        " when it paused. Null once met or canceled."
    )
    breached_at: datetime | None
    met_at: datetime | None


class Sla(BaseModel):
    """The ticket's SLA: one clock per metric, and the status of the whole."""

    status: SlaStatus = Field(
        description="breached if any clock breached; else at_risk if a running clock is at risk; on_track"
        " while a clock runs; paused while the ticket waits; met once every clock is met; none without"
        " an SLA (no policy matched the ticket)."
    )
    policy_id: str | None = None
    first_response: SlaClock | None = None
    resolution: SlaClock | None = None


NO_SLA = Sla(status="none")


def _at(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def sla_clock(stored: dict[str, Any], now: datetime) -> SlaClock:
    """A stored clock summary (``shared.sla``) as of ``now``: a running clock whose due instant
    passed is breached from that instant, though the timer may not have fired yet."""
    state = stored["state"]
    due_at, at_risk_at = _at(stored.get("due_at")), _at(stored.get("at_risk_at"))
    breached_at = _at(stored.get("breached_at"))
    remaining: int | None = None
    if due_at is not None and state in ("running", "breached"):
        remaining = int((due_at - now) // timedelta(seconds=1))
    elif state == "paused" or (state == "breached" and stored.get("paused")):
        remaining = stored.get("remaining_s")
    if state == "running" and due_at is not None and due_at <= now:
        state, breached_at = "breached", due_at
    return SlaClock(
        state=state,
        policy_id=stored["policy_id"],
        target_s=stored["target_s"],
        due_at=due_at,
        at_risk_at=at_risk_at,
        remaining_s=remaining,
        breached_at=breached_at,
        met_at=_at(stored.get("met_at")),
    )


def sla_status(clocks: list[SlaClock], now: datetime) -> str:
    """The status of the whole, from its clocks as of ``now``."""
    live = [c for c in clocks if c.state != "canceled"]
    if not live:
        return "none"
    if any(c.state == "breached" for c in live):
        return "breached"
    running = [c for c in live if c.state == "running"]
    if any(c.at_risk_at is not None and c.at_risk_at <= now for c in running):
        return "at_risk"
    if running:
        return "on_track"
    if any(c.state == "paused" for c in live):
        return "paused"
    return "met"


def sla_view(stored: dict[str, Any] | None, now: datetime) -> Sla:
    if not stored:
        return NO_SLA
    clocks = {m: sla_clock(stored[m], now) for m in ("first_response", "resolution") if stored.get(m)}
    return Sla(
        status=sla_status(list(clocks.values()), now),  # type: ignore[arg-type]
        policy_id=stored.get("policy_id"),
        **clocks,
    )


class Ticket(BaseModel):
    id: UUID
    key: str
    tenant_id: str | None
    visibility: Visibility
    kind: Kind
    category: Category | None
    priority: Priority
    state: State
    title: str
    description: str
    requester: str
    assignee: str | None
    queue: str | None
    tags: list[str]
    fields: dict[str, Any]
    resources: list[str]
    source: str
    sla_policy: str | None = Field(
        description="The SLA policy a routing rule chose when the ticket was opened (null: none)."
    )
    correlation_id: str | None
    resolution: str | None
    occurrence_count: int
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime
    acked_at: datetime | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    canceled_at: datetime | None
    # Machine events (intake): the fingerprint the ticket was opened for, and the ticket of the
    # same fingerprint resolved before this one was opened.
    dedup_key: str | None = None
    previous_ticket_id: UUID | None = None
    sla: Sla = Field(default=NO_SLA, description="The ticket's SLA clocks and status, as of the read.")
    sla_escalation_level: int = Field(
        default=0, description="How many escalation steps of its SLA policy have fired (0: none)."
    )


class Comment(BaseModel):
    id: UUID
    ticket_id: UUID
    author: str
    body: str
    visibility: CommentVisibility
    created_at: datetime


class TicketEvent(BaseModel):
    seq: int = Field(
        description="Position in the trail: the audit sequence for platform roles; for tenant roles the"
        " position among the public events (1, 2, 3... without gaps)."
    )
    type: str
    actor: str
    at: datetime
    changes: dict[str, Any]
    visibility: CommentVisibility
    correlation_id: str | None
    hash: str | None = Field(
        description="The event's link in the ticket's audit hash chain (platform roles; null for tenants)."
    )


class TicketPage(BaseModel):
    items: list[Ticket]
    next_cursor: Cursor | None


class CommentPage(BaseModel):
    items: list[Comment]
    next_cursor: Cursor | None


class EventPage(BaseModel):
    items: list[TicketEvent]
    next_cursor: Cursor | None


# ---- query parameters ------------------------------------------------------------------------------


def _comma_separated(value: Any) -> Any:
    """A list filter's values, each of which may itself be a comma-separated list (``state=new,ack``
    is ``state=new&state=ack``). Split on commas only: nothing is trimmed and no empty item is
    dropped, so ``state=new,`` or ``state=`` is refused, as the schema's enum refuses it."""
    items = value if isinstance(value, list) else [value]
    return [part for item in items for part in (item.split(",") if isinstance(item, str) else [item])]


CommaSeparated = BeforeValidator(_comma_separated)
StateFilter = Annotated[list[State], CommaSeparated]
SlaStatusFilter = Annotated[list[SlaStatus], CommaSeparated]
PriorityFilter = Annotated[list[Priority], CommaSeparated]
KindFilter = Annotated[list[Kind], CommaSeparated]
CategoryFilter = Annotated[list[Category], CommaSeparated]
SearchText = Annotated[
    str,
    Field(
        max_length=500,
        description="Full-text query: English stemming, web-search syntax (quotes, OR, -word). " + TEXT_NOTE,
        json_schema_extra={"pattern": NO_NUL},
    ),
    AfterValidator(str.strip),
]
DedupKey = Annotated[str, StringConstraints(min_length=1, max_length=255)]
PageLimit = Annotated[int, Field(ge=1, le=200, description="Items per page (at most 200).")]
DEFAULT_PAGE_LIMIT = 50


class TicketQuery(BaseModel):
    """GET /tickets query parameters."""

    model_config = ConfigDict(extra="ignore")

    q: SearchText | None = None
    state: StateFilter | None = None
    priority: PriorityFilter | None = None
    kind: KindFilter | None = None
    category: CategoryFilter | None = None
    tenant_id: TenantId | None = None
    assignee: Name | None = None
    tag: Tag | None = None
    dedup_key: DedupKey | None = None
    sla_status: SlaStatusFilter | None = None
    sort: Literal["newest", "sla_due"] = "newest"
    limit: PageLimit = DEFAULT_PAGE_LIMIT
    cursor: Cursor | None = None
