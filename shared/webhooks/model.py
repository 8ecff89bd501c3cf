"""What clients send and see of webhook endpoints, and the event types an endpoint subscribes to."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from shared.kernel.text import TEXT_NOTE, drop_null_defaults, free_text, required_text, trimmed
from shared.tickets.models import Cursor, JsonDateTime, TenantId

# The event types the service delivers (README "Outbound webhooks"); "*" subscribes to all of them,
# including types added later.
EVENT_TYPES: dict[str, str] = {
    "ticket.created": "A ticket was opened.",
    "ticket.updated": "A ticket's fields changed (title, description, priority, tags, ...).",
    "ticket.state_changed": "A ticket moved through its lifecycle (acknowledged, resolved, reopened, ...).",
    "ticket.assigned": "A ticket's assignee or queue changed.",
    "ticket.commented": "A public comment was added (internal comments are never delivered to tenants).",
    "incident.occurrences_added": "An open incident's problem happened again (intake deduplication).",
    "sla.applied": "An SLA policy was applied to a ticket.",
    "sla.at_risk": "An SLA clock passed its at-risk threshold.",
    "sla.breached": "An SLA clock passed its target.",
    "sla.met": "An SLA clock was met.",
    "sla.escalated": "An SLA escalation step fired.",
    "webhook.test": "Sent by POST /webhooks/{id}/test.",
}
ALL = "*"
EventType = Literal[
    "*",
    "ticket.created",
    "ticket.updated",
    "ticket.state_changed",
    "ticket.assigned",
    "ticket.commented",
    "incident.occurrences_added",
    "sla.applied",
    "sla.at_risk",
    "sla.breached",
    "sla.met",
    "sla.escalated",
    "webhook.test",
]
assert set(get_args(EventType)) == {ALL, *EVENT_TYPES}, "EventType and EVENT_TYPES must name the same types"
State = Literal["enabled", "paused", "quarantined", "disabled"]

Url = Annotated[
    str,
    Field(
        min_length=1,
        max_length=2048,
        description=f"An absolute http(s) URL. {TEXT_NOTE}",
        json_schema_extra={"pattern": r"^[^\x00]*$"},
    ),
    AfterValidator(str.strip),
]
Description = Annotated[str, free_text(500), AfterValidator(str.strip)]
Reason = Annotated[str, required_text(500), AfterValidator(trimmed)]


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


EventTypes = Annotated[list[EventType], Field(min_length=1, max_length=50), AfterValidator(_unique)]


class WebhookCreate(BaseModel):
    """A new endpoint: where deliveries go, which event types, and whose tickets."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=drop_null_defaults)

    url: Url = Field(
        description="https URL that receives a POST per event. A host that resolves to a loopback,"
        " private, link-local, CGNAT, multicast or metadata address is refused (422)."
    )
    event_types: EventTypes = Field(
        description=f'Event types to deliver ({", ".join(EVENT_TYPES)}), or ["*"] for all.'
    )
    description: Description | None = Field(default=None, description="What receives it, for people.")
    tenant_id: TenantId | None = Field(
        default=None,
        description="Whose tickets: a tenant's, or none for every tenant's (platform admins only). Tenant"
        " admins may leave it out (their tenant) or name only their own.",
    )


class WebhookUpdate(BaseModel):
    """A change to an endpoint: only the members given change."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=drop_null_defaults)

    url: Url | None = Field(default=None, description="A new URL (vetted as on create).")
    event_types: EventTypes | None = Field(default=None, description="The new list of event types.")
    description: Description | None = Field(default=None, description="A new description.")

    @model_validator(mode="after")
    def _something(self) -> WebhookUpdate:
        if not self.model_fields_set:
            raise ValueError("name at least one of url, event_types, description")
        for name in ("url", "event_types"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class StateReason(BaseModel):
    """Why an endpoint is paused (kept, and shown with it)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=drop_null_defaults)

    reason: Reason | None = Field(default=None, description="Why, for whoever reads the endpoint.")


class QuarantineReason(BaseModel):
    """Why an operator quarantines an endpoint: shown to its owner."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason = Field(description="Why deliveries stop, for the endpoint's owner.")


class Webhook(BaseModel):
    """An endpoint as every read shows it: never its signing secret."""

    id: UUID
    url: str
    event_types: list[str]
    description: str | None
    tenant_id: str | None = Field(description="Whose tickets' events it receives; null: every tenant's.")
    state: State = Field(
        description="enabled; paused (by its owner) or quarantined (by an operator): deliveries wait;"
        " disabled (by the service, after 410 Gone or 5 days of failures): resume re-enables it."
    )
    state_reason: str | None = Field(description="Why it is paused, quarantined or disabled.")
    state_changed_at: datetime | None
    state_changed_by: str | None
    secret_hint: str = Field(description="The last four characters of its current signing secret.")
    previous_secret_expires_at: datetime | None = Field(
        description="After a rotation: until when the previous secret signs too (24 hours)."
    )
    failing_since: datetime | None = Field(
        description="The first failed attempt of the current run of failures; null after a success."
    )
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


class WebhookWithSecret(Webhook):
    """An endpoint just made, or its secret just rotated: with the secret, shown this once."""

    secret: str = Field(
        description="whsec_ + base64 of the key: verify each delivery's webhook-signature with it (any"
        " Standard Webhooks library). Shown only now; rotate it if it is lost."
    )


class WebhookPage(BaseModel):
    items: list[Webhook]
    next_cursor: Cursor | None


class WebhookQuery(BaseModel):
    tenant_id: str | None = None
    state: State | None = None
    failing: bool | None = None
    limit: int = 50
    cursor: str | None = None


# ---- deliveries, attempts, replays ---------------------------------------------------------------

DeliveryStatus = Literal["pending", "succeeded", "failed"]
Trigger = Literal["scheduled", "retry", "replay", "redrive", "resume"]
AttemptOutcome = Literal["succeeded", "failed", "throttled", "gone", "refused"]


class Attempt(BaseModel):
    """One attempt: what came back, or why nothing did."""

    at: datetime
    trigger: Trigger = Field(
        description="scheduled (the first attempt and the retry schedule's), retry (POST .../retry),"
        " replay, redrive (from the dead-letter queue) or resume (waiting for the endpoint)."
    )
    outcome: AttemptOutcome = Field(
        description="succeeded (2xx); failed; throttled (429, 502, 503, 504: Retry-After honoured);"
        " gone (410: the endpoint is disabled); refused (the URL's address is not allowed now)."
    )
    status: int | None = Field(description="The response's HTTP status; null when no response came.")
    latency_ms: int | None
    response_body: str | None = Field(description="The first 1 KB of the response body.")
    error: str | None = Field(description="Why no response came (timeout, connection, TLS, address).")


class Delivery(BaseModel):
    """One message to one endpoint, with its attempts (newest delivery first in the log)."""

    id: UUID
    webhook_id: UUID
    msg_id: str = Field(description="The webhook-id header: the same on every attempt, retry and replay.")
    event_type: str
    event_id: UUID | None = Field(description="The service event it carries (none for webhook.test).")
    ticket_id: UUID | None
    status: DeliveryStatus = Field(
        description="pending (an attempt is due at next_attempt_at, or, with waiting, the endpoint is"
        " not enabled), succeeded, or failed (its retries are exhausted: it is on the webhook DLQ)."
    )
    waiting: bool = Field(
        description="Pending until its endpoint is resumed (paused, quarantined, disabled)."
    )
    attempt_count: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status: int | None
    created_at: datetime
    updated_at: datetime
    attempts: list[Attempt] = Field(description="Its attempts, oldest first (the last 50).")


class DeliveryWithBody(Delivery):
    """One delivery as ``GET .../deliveries/{id}`` shows it: with the body every attempt sends."""

    body: dict[str, Any] = Field(description='What is POSTed: {"type", "timestamp", "data"}.')


class DeliveryPage(BaseModel):
    items: list[Delivery]
    next_cursor: Cursor | None


class DeliveryQuery(BaseModel):
    status: DeliveryStatus | None = None
    event_type: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    cursor: str | None = None


class ReplayRequest(BaseModel):
    """Send again an endpoint's deliveries made in [since, until), optionally only of one status."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=drop_null_defaults)

    since: JsonDateTime = Field(description="From this instant (inclusive): when the deliveries were made.")
    until: JsonDateTime | None = Field(default=None, description="To this instant (exclusive); default now.")
    status: DeliveryStatus | None = Field(default=None, description="Only deliveries in this status.")


class ReplayJob(BaseModel):
    """A replay's progress."""

    id: UUID
    webhook_id: UUID
    since: datetime
    until: datetime
    status: DeliveryStatus | None = Field(description="The status filter, if one was given.")
    state: Literal["queued", "running", "completed"]
    total: int = Field(description="How many deliveries matched when the job was made.")
    replayed: int = Field(description="How many have been sent again so far.")
    created_at: datetime
    created_by: str
    started_at: datetime | None
    completed_at: datetime | None
