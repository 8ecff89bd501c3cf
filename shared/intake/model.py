"""What intake works on, whatever the path an event took.

Every path normalizes its input to an ``IntakeEvent``: platform events on the ticket bus and
AWS's own events on the default bus (``shared.intake.sources``), and PagerDuty Events API v2
calls through ``POST /v2/enqueue`` (``shared.intake.pagerduty``). The dedup engine
(``shared.intake.service``) only ever sees this shape.

``POST /v2/enqueue`` answers 202 once the event is stored in the outbox; the outbox sends it to
the intake queue as an ``EnqueuedEvent`` (detail-type ``ENQUEUED_DETAIL_TYPE``), which the
intake worker turns into an ``IntakeEvent``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

Action = Literal["trigger", "acknowledge", "resolve"]
Severity = Literal["critical", "error", "warning", "info"]

# Severity → ticket priority (issue 10 §1).
PRIORITY_OF_SEVERITY: dict[str, str] = {
    "critical": "critical",
    "error": "high",
    "warning": "medium",
    "info": "low",
}

DEDUP_KEY_MAX = 255
SUMMARY_MAX = 1024
DETAILS_MAX_BYTES = 32 * 1024
ENQUEUED_DETAIL_TYPE = "Intake Event Enqueued"
INTAKE_WORKER = "intake"


def json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode())


def bounded_details(details: dict[str, Any] | None, limit: int = DETAILS_MAX_BYTES) -> dict[str, Any]:
    """``details`` as kept with an occurrence: whole when at most ``limit`` bytes as compact JSON,
    else a marker naming its size and digest (the source still has it)."""
    if not details:
        return {}
    text = json.dumps(details, separators=(",", ":"), ensure_ascii=False, default=str)
    size = len(text.encode())
    if size <= limit:
        return details
    return {"omitted": True, "bytes": size, "sha256": hashlib.sha256(text.encode()).hexdigest()}


def fingerprint(*parts: str | None) -> str:
    """A dedup key derived from what identifies a problem when its source gave none."""
    canonical = json.dumps(list(parts), separators=(",", ":"), ensure_ascii=False)
    return "fp:" + hashlib.sha256(canonical.encode()).hexdigest()


DedupKey = Annotated[str, StringConstraints(min_length=1, max_length=DEDUP_KEY_MAX)]


class IntakeEvent(BaseModel):
    """One normalized event: what opens, repeats, acknowledges or resolves an incident."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str = Field(min_length=1, max_length=512)  # occurrences are idempotent by it
    source: str = Field(min_length=1, max_length=255)  # platform.health, aws.guardduty, integration:<id>
    detail_type: str = Field(min_length=1, max_length=255)
    action: Action = "trigger"
    tenant_id: str | None = None  # None: platform-wide (a platform-only ticket)
    dedup_key: DedupKey
    summary: str | None = Field(default=None, max_length=SUMMARY_MAX)
    severity: Severity | None = None
    resource: str | None = Field(default=None, max_length=2048)
    occurred_at: datetime
    details: Annotated[dict[str, Any], AfterValidator(bounded_details)] = Field(default_factory=dict)
    # Classification (shared.intake.classify) or the integration's defaults.
    kind: Literal["incident", "request"] = "incident"
    category: str | None = None
    priority: str = "medium"
    tags: list[str] = Field(default_factory=list)
    queue: str | None = None
    integration_id: str | None = None
    # How many times the source has seen it, when the source counts (GuardDuty's service.count).
    count: int | None = Field(default=None, ge=1)


class IntegrationRef(BaseModel):
    """The integration a ``POST /v2/enqueue`` call came through, as it was when it was accepted."""

    model_config = ConfigDict(extra="ignore")

    id: str
    name: str
    tenant_id: str | None
    category: str | None = None
    queue: str | None = None
    tags: list[str] = Field(default_factory=list)


class EnqueuedEvent(BaseModel):
    """The intake queue message of an accepted ``POST /v2/enqueue`` call (the outbox detail)."""

    model_config = ConfigDict(extra="ignore")

    event_id: str  # the outbox event id (prepare adds it)
    integration: IntegrationRef
    received_at: datetime
    # The PagerDuty event as validated, dedup_key filled in, custom_details bounded.
    event: dict[str, Any]
