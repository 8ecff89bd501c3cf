"""The ticket service's vocabulary and its request/response models (pydantic v2)."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from shared.auth import TENANT_ID_PATTERN
from shared.kernel.pagination import CURSOR_MAX_LENGTH, CURSOR_PATTERN


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


# Text as clients send it. Lengths are checked on what the client sent, before any trimming,
# so the server never accepts what its own schema refuses; required text is then trimmed and
# must keep a non-whitespace character. NUL characters (PostgreSQL text cannot hold them) and
# lone surrogates are refused before validation (``shared.api``); the patterns say so too.
NO_NUL = r"^[^\x00]*$"
SOME_TEXT = r"^[^\x00]*[^\s\x00][^\x00]*$"
_TEXT_NOTE = "No NUL characters or lone surrogates."


def _trimmed(value: str) -> str:
    trimmed = value.strip()
    if not trimmed:
        raise ValueError("must contain a non-whitespace character")
    return trimmed


def _required_text(max_length: int) -> Any:
    """Text of 1..max_length characters as sent, then trimmed (AfterValidator), not blank."""
    return Field(
        min_length=1,
        max_length=max_length,
        description=f"Trimmed; not blank. {_TEXT_NOTE}",
        json_schema_extra={"pattern": SOME_TEXT},
    )


def _free_text(max_length: int) -> Any:
    """Text kept exactly as sent (may be empty)."""
    return Field(max_length=max_length, description=_TEXT_NOTE, json_schema_extra={"pattern": NO_NUL})


Title = Annotated[str, _required_text(300), AfterValidator(_trimmed)]
Description = Annotated[str, _free_text(20_000)]
Name = Annotated[str, _required_text(200), AfterValidator(_trimmed)]
Reason = Annotated[str, _required_text(5_000), AfterValidator(_trimmed)]
CommentBody = Annotated[str, _required_text(20_000), AfterValidator(_trimmed)]
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
FieldText = Annotated[str, _free_text(FIELDS_MAX_STRING)]

Fields = Annotated[
    dict[str, Any],
    Field(description="Typed fields of the category. " + FIELDS_NOTE, max_length=FIELDS_MAX_KEYS),
    AfterValidator(check_fields_bounds),
]


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
    expected_at: datetime | None = None
    lag_minutes: int | None = Field(default=None, ge=0)


class SchemaDriftFields(_Fields):
    dataset: Name | None = None
    expected_schema: dict[str, Any] | None = None
    observed_schema: dict[str, Any] | None = None


class SecurityFindingFields(_Fields):
    finding_id: Name | None = None
    severity: Literal["informational", "low", "medium", "high", "critical"] | None = None
    resource: Name | None = None


class CostAnomalyFields(_Fields):
    service: Name | None = None
    expected_usd: float | None = Field(default=None, ge=0)
    observed_usd: float | None = Field(default=None, ge=0)


class SchemaChangeFields(_Fields):
    dataset: Name | None = None
    change: FieldText | None = None
    breaking: bool | None = None


class NewConnectorFields(_Fields):
    connector_type: Name | None = None
    source: Name | None = None


class QuotaFields(_Fields):
    resource: Name | None = None
    current_limit: float | None = Field(default=None, ge=0)
    requested_limit: float | None = Field(default=None, ge=0)


class AccessFields(_Fields):
    resource: Name | None = None
    access_level: Literal["read", "write", "admin"] | None = None
    grantee: Name | None = None
    justification: FieldText | None = None


class ConfigurationFields(_Fields):
    setting: Name | None = None
    value: Any = None


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


def _drop_null_defaults(schema: dict[str, Any]) -> None:
    """Optional members of a request are simply absent: their schema carries no ``default: null``."""
    for prop in (schema.get("properties") or {}).values():
        if isinstance(prop, dict) and "default" in prop and prop["default"] is None:
            del prop["default"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_drop_null_defaults)


def _create_alternatives(schema: dict[str, Any]) -> None:
    """What the schema cannot say by property alone: a ticket has a kind or a category (or both,
    agreeing), and its ``fields`` are the typed fields of that category (none without one)."""
    _drop_null_defaults(schema)
    branches: list[dict[str, Any]] = []
    for category, model in CATEGORY_FIELDS.items():
        fields_schema = model.model_json_schema()
        fields_schema.pop("title", None)
        fields_schema["description"] = f"Typed fields of {category.value}. " + FIELDS_NOTE
        branches.append(
            {
                "required": ["category"],
                "properties": {
                    "category": {"const": category.value},
                    "kind": {"enum": [kind_of(category).value]},
                    "fields": fields_schema,
                },
            }
        )
    branches.append(
        {
            "required": ["kind"],
            "properties": {"category": {"type": "null"}, "fields": {"type": "object", "maxProperties": 0}},
        }
    )
    schema["anyOf"] = branches
    schema["description"] = (
        "Give a kind or a category (the category implies the kind; both must agree). `fields` are the"
        " typed fields of the category: none without one."
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
    """Members that may be changed but not cleared are not nullable in the schema either."""
    _drop_null_defaults(schema)
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


class TransitionRequest(_Request):
    to: State
    reason: Reason | None = None
    resolution: Reason | None = None


class CommentCreate(_Request):
    body: CommentBody
    visibility: CommentVisibility = CommentVisibility.PUBLIC


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
    next_cursor: str | None


class CommentPage(BaseModel):
    items: list[Comment]
    next_cursor: str | None


class EventPage(BaseModel):
    items: list[TicketEvent]
    next_cursor: str | None


class TicketQuery(BaseModel):
    """GET /tickets query parameters."""

    model_config = ConfigDict(extra="ignore")

    q: (
        Annotated[
            str,
            Field(max_length=500, description="Full-text query. " + _TEXT_NOTE),
            AfterValidator(str.strip),
        ]
        | None
    ) = None
    state: list[State] | None = None
    priority: list[Priority] | None = None
    kind: list[Kind] | None = None
    category: list[Category] | None = None
    tenant_id: TenantId | None = None
    assignee: Name | None = None
    tag: Tag | None = None
    limit: int = Field(default=50, ge=1, le=200)
    cursor: Cursor | None = None


class PageQuery(BaseModel):
    """Query parameters of a paged sub-resource list."""

    model_config = ConfigDict(extra="ignore")

    limit: int = Field(default=50, ge=1, le=200)
    cursor: Cursor | None = None
