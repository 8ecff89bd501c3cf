"""The ticket service's vocabulary and its request/response models (pydantic v2)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
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


Text = Annotated[str, StringConstraints(strip_whitespace=True)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Description = Annotated[str, StringConstraints(max_length=20_000)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Tag = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[\w.:/-]+$")
]
TenantId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5_000)]


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
    error: Description | None = None


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
    change: Description | None = None
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
    justification: Description | None = None


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


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TicketCreate(_Request):
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
    fields: dict[str, Any] = Field(default_factory=dict, description="Typed fields of the category")
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


class TicketPatch(_Request):
    """Fields a PATCH may change; absent fields stay as they are."""

    title: Title | None = None
    description: Description | None = None
    priority: Priority | None = None
    assignee: Name | None = None
    queue: Name | None = None
    visibility: Visibility | None = None
    tags: list[Tag] | None = Field(default=None, max_length=50)
    fields: dict[str, Any] | None = None
    resources: list[Name] | None = Field(default=None, max_length=50)

    @field_validator("title", "priority", "visibility", "tags", "resources", "fields", "description")
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
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
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
    seq: int
    type: str
    actor: str
    at: datetime
    changes: dict[str, Any]
    visibility: CommentVisibility
    correlation_id: str | None
    hash: str


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

    q: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    state: list[State] | None = None
    priority: list[Priority] | None = None
    kind: list[Kind] | None = None
    category: list[Category] | None = None
    tenant_id: TenantId | None = None
    assignee: Name | None = None
    tag: Tag | None = None
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = None


class PageQuery(BaseModel):
    """Query parameters of a paged sub-resource list."""

    model_config = ConfigDict(extra="ignore")

    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = None
