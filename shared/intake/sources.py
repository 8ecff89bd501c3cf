"""From what arrives on the intake queue to ``IntakeEvent``s.

Three shapes arrive:

- **Platform events** (an EventBridge event from the ticket bus; ``source`` is one of the
  platform sources of cdk.json's ``platformEventSources``), whose ``detail`` is ``PlatformDetail``.
- **AWS's own events** from the account's default bus: CloudWatch alarm state changes, Security
  Hub findings (one event may carry several; each is its own fingerprint), GuardDuty findings
  and AWS Health events.
- **Accepted ``POST /v2/enqueue`` calls** (``EnqueuedEvent``, from the outbox).

Anything that does not fit its schema raises ``Rejected`` with a reason a person can act on; the
worker records it (``intake_rejection``) and does not retry it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.auth import is_tenant_id
from shared.intake.classify import UNCLASSIFIED_TAG, classify
from shared.intake.model import (
    DEDUP_KEY_MAX,
    DETAILS_MAX_BYTES,
    ENQUEUED_DETAIL_TYPE,
    PRIORITY_OF_SEVERITY,
    SUMMARY_MAX,
    EnqueuedEvent,
    IntakeEvent,
    fingerprint,
    json_size,
)

PAGERDUTY_DETAIL_TYPE = "PagerDuty Event"
_TAG = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")


class Rejected(Exception):
    """An event that does not fit its schema: recorded, acknowledged, never retried."""


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'detail'}: {e['msg']}"
        for e in exc.errors(include_input=False)
    )


# ---- the EventBridge envelope ---------------------------------------------------------------------


class Envelope(BaseModel):
    """An EventBridge event as a rule's SQS target receives it."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str = Field(min_length=1, max_length=256)
    source: str = Field(min_length=1, max_length=256)
    detail_type: str = Field(alias="detail-type", min_length=1, max_length=256)
    account: str = ""
    time: datetime
    region: str = ""
    resources: list[str] = Field(default_factory=list)
    detail: dict[str, Any]


# ---- platform events -------------------------------------------------------------------------------


class PlatformDetail(BaseModel):
    """The ``detail`` of a platform event (issue 10 §1). Fields beyond these are ignored, so that a
    producer adding one does not lose its events."""

    model_config = ConfigDict(extra="ignore")

    action: Literal["trigger", "acknowledge", "resolve"] = "trigger"
    tenant_id: str | None = None
    dedup_key: str | None = Field(default=None, min_length=1, max_length=DEDUP_KEY_MAX)
    summary: str | None = Field(default=None, min_length=1, max_length=SUMMARY_MAX)
    severity: Literal["critical", "error", "warning", "info"] | None = None
    resource: str | None = Field(default=None, min_length=1, max_length=2048)
    occurred_at: datetime | None = None
    details: dict[str, Any] = Field(default_factory=dict)

    @field_validator("tenant_id")
    @classmethod
    def _tenant(cls, value: str | None) -> str | None:
        if value is not None and not is_tenant_id(value):
            raise ValueError(
                "not a tenant id (lowercase letters, digits and '-_.', starting with a letter or digit,"
                " at most 63 characters)"
            )
        return value

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must be an RFC 3339 time with its offset")
        return value

    @field_validator("details")
    @classmethod
    def _bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        size = json_size(value)
        if size > DETAILS_MAX_BYTES:
            raise ValueError(f"details are at most {DETAILS_MAX_BYTES} bytes as JSON, not {size}")
        return value


def _classified(source: str, detail_type: str, severity: str | None) -> dict[str, Any]:
    found, known = classify(source, detail_type)
    return {
        "kind": found.kind,
        "category": found.category,
        "priority": PRIORITY_OF_SEVERITY[severity] if severity else found.priority,
        "tags": [] if known else [UNCLASSIFIED_TAG],
    }


def platform_events(envelope: Envelope) -> list[IntakeEvent]:
    try:
        detail = PlatformDetail.model_validate(envelope.detail)
    except ValidationError as exc:
        raise Rejected(
            f"the detail of a {envelope.source} event does not fit its schema: {_problems(exc)}"
        ) from exc
    if detail.action == "trigger" and not detail.summary:
        raise Rejected("summary: a trigger needs a summary")
    key = detail.dedup_key or fingerprint(
        envelope.source, envelope.detail_type, detail.tenant_id, detail.resource
    )
    return [
        IntakeEvent(
            event_id=envelope.id,
            source=envelope.source,
            detail_type=envelope.detail_type,
            action=detail.action,
            tenant_id=detail.tenant_id,
            dedup_key=key,
            summary=detail.summary,
            severity=detail.severity,
            resource=detail.resource,
            occurred_at=detail.occurred_at or envelope.time,
            details=detail.details,
            **_classified(envelope.source, envelope.detail_type, detail.severity),
        )
    ]


# ---- AWS's own events ------------------------------------------------------------------------------


def _tenant_from_tags(tags: Any) -> str | None:
    """A ``tenant`` tag, as a mapping ({"tenant": "acme"}) or a list of {key, value} pairs."""
    if isinstance(tags, Mapping):
        value = tags.get("tenant")
    elif isinstance(tags, list):
        value = next(
            (
                t.get("value", t.get("Value"))
                for t in tags
                if isinstance(t, Mapping) and t.get("key", t.get("Key")) == "tenant"
            ),
            None,
        )
    else:
        value = None
    return value if isinstance(value, str) and is_tenant_id(value) else None


def _str(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text[:limit] or None


def _aws_event(
    envelope: Envelope,
    *,
    event_id: str,
    action: str,
    dedup_key: str,
    summary: str | None,
    severity: str | None,
    resource: str | None,
    tenant_id: str | None,
    details: dict[str, Any],
    count: int | None = None,
) -> IntakeEvent:
    if not dedup_key:
        raise Rejected(f"a {envelope.detail_type} event without the id it is deduplicated on")
    return IntakeEvent(
        event_id=event_id[:512],
        source=envelope.source,
        detail_type=envelope.detail_type,
        action=action,  # type: ignore[arg-type]
        tenant_id=tenant_id,
        dedup_key=dedup_key[:DEDUP_KEY_MAX],
        summary=(summary or envelope.detail_type)[:SUMMARY_MAX],
        severity=severity,  # type: ignore[arg-type]
        resource=resource[:2048] if resource else None,
        occurred_at=envelope.time,
        details=details,
        count=count,
        **_classified(envelope.source, envelope.detail_type, severity),
    )


def _cloudwatch(envelope: Envelope, tenants: Mapping[str, str]) -> Iterator[IntakeEvent]:
    detail = envelope.detail
    state = detail.get("state") or {}
    value = state.get("value") if isinstance(state, Mapping) else None
    if value not in ("ALARM", "OK", "INSUFFICIENT_DATA"):
        raise Rejected(
            "state.value: an alarm state change names its new state (ALARM, OK or INSUFFICIENT_DATA)"
        )
    if value == "INSUFFICIENT_DATA":
        return  # neither a problem nor its end
    name = _str(detail.get("alarmName"), 255) or "CloudWatch alarm"
    arn = envelope.resources[0] if envelope.resources else f"{envelope.account}:{envelope.region}:{name}"
    reason = _str(state.get("reason"), SUMMARY_MAX)
    yield _aws_event(
        envelope,
        event_id=envelope.id,
        action="trigger" if value == "ALARM" else "resolve",
        dedup_key=arn,
        summary=f"{name}: {reason}" if reason else name,
        severity="error",
        resource=arn,
        tenant_id=tenants.get(envelope.account),
        details={
            "alarm": name,
            "state": value,
            "previous_state": (detail.get("previousState") or {}).get("value"),
        },
    )


_SECURITY_HUB_SEVERITY = {
    "CRITICAL": "critical",
    "HIGH": "error",
    "MEDIUM": "warning",
    "LOW": "info",
    "INFORMATIONAL": "info",
}


def _security_hub(envelope: Envelope, tenants: Mapping[str, str]) -> Iterator[IntakeEvent]:
    findings = envelope.detail.get("findings")
    if not isinstance(findings, list) or not findings:
        raise Rejected("findings: a Security Hub event carries a list of findings")
    for index, finding in enumerate(findings):
        if not isinstance(finding, Mapping) or not isinstance(finding.get("Id"), str):
            raise Rejected(f"findings.{index}.Id: every finding has an Id")
        workflow = ((finding.get("Workflow") or {}).get("Status") or "").upper()
        compliance = ((finding.get("Compliance") or {}).get("Status") or "").upper()
        resolved = workflow in ("RESOLVED", "SUPPRESSED") or compliance == "PASSED"
        resources = [r for r in finding.get("Resources") or [] if isinstance(r, Mapping)]
        tenant = next((t for r in resources if (t := _tenant_from_tags(r.get("Tags")))), None)
        account = str(finding.get("AwsAccountId") or envelope.account)
        label = ((finding.get("Severity") or {}).get("Label") or "").upper()
        yield _aws_event(
            envelope,
            event_id=f"{envelope.id}/{finding['Id']}",
            action="resolve" if resolved else "trigger",
            dedup_key=finding["Id"],
            summary=_str(finding.get("Title"), SUMMARY_MAX),
            severity=_SECURITY_HUB_SEVERITY.get(label, "warning"),
            resource=_str(resources[0].get("Id"), 2048) if resources else None,
            tenant_id=tenant or tenants.get(account),
            details={
                "finding_id": finding["Id"],
                "description": _str(finding.get("Description"), 4000),
                "workflow_status": workflow or None,
                "compliance_status": compliance or None,
                "product_arn": finding.get("ProductArn"),
            },
        )


def _guardduty_severity(value: Any) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "warning"
    return "critical" if number >= 9 else "error" if number >= 7 else "warning" if number >= 4 else "info"


def _guardduty(envelope: Envelope, tenants: Mapping[str, str]) -> Iterator[IntakeEvent]:
    detail = envelope.detail
    finding_id = detail.get("id")
    if not isinstance(finding_id, str) or not finding_id:
        raise Rejected("id: a GuardDuty finding has an id")
    service = detail.get("service") or {}
    count = service.get("count") if isinstance(service, Mapping) else None
    resource = detail.get("resource") or {}
    instance = resource.get("instanceDetails") or {} if isinstance(resource, Mapping) else {}
    tenant = _tenant_from_tags(instance.get("tags") if isinstance(instance, Mapping) else None)
    account = str(detail.get("accountId") or envelope.account)
    yield _aws_event(
        envelope,
        event_id=envelope.id,
        action="resolve" if isinstance(service, Mapping) and service.get("archived") is True else "trigger",
        dedup_key=finding_id,
        summary=_str(detail.get("title"), SUMMARY_MAX),
        severity=_guardduty_severity(detail.get("severity")),
        resource=_str(instance.get("instanceId") if isinstance(instance, Mapping) else None, 2048)
        or _str(resource.get("resourceType") if isinstance(resource, Mapping) else None, 2048),
        tenant_id=tenant or tenants.get(account),
        details={"finding_id": finding_id, "type": detail.get("type"), "severity": detail.get("severity")},
        count=count if isinstance(count, int) and not isinstance(count, bool) and count >= 1 else None,
    )


_HEALTH_SEVERITY = {
    "issue": "error",
    "scheduledChange": "warning",
    "accountNotification": "info",
    "investigation": "warning",
}


def _health(envelope: Envelope, tenants: Mapping[str, str]) -> Iterator[IntakeEvent]:
    detail = envelope.detail
    arn = detail.get("eventArn")
    if not isinstance(arn, str) or not arn:
        raise Rejected("eventArn: an AWS Health event has an eventArn")
    descriptions = detail.get("eventDescription") or []
    text = next(
        (
            d.get("latestDescription")
            for d in descriptions
            if isinstance(d, Mapping) and d.get("latestDescription")
        ),
        None,
    )
    entities = [e for e in detail.get("affectedEntities") or [] if isinstance(e, Mapping)]
    tenant = next((t for e in entities if (t := _tenant_from_tags(e.get("tags")))), None)
    service, code = detail.get("service") or "AWS", detail.get("eventTypeCode") or "event"
    yield _aws_event(
        envelope,
        event_id=envelope.id,
        action="resolve" if str(detail.get("statusCode", "")).lower() == "closed" else "trigger",
        dedup_key=arn,
        summary=f"{service} {code}" + (f": {text}" if text else ""),
        severity=_HEALTH_SEVERITY.get(str(detail.get("eventTypeCategory")), "warning"),
        resource=_str(entities[0].get("entityValue"), 2048) if entities else None,
        tenant_id=tenant or tenants.get(envelope.account),
        details={
            "event_arn": arn,
            "status": detail.get("statusCode"),
            "category": detail.get("eventTypeCategory"),
        },
    )


AWS_SOURCES = {
    ("aws.cloudwatch", "CloudWatch Alarm State Change"): _cloudwatch,
    ("aws.securityhub", "Security Hub Findings - Imported"): _security_hub,
    ("aws.guardduty", "GuardDuty Finding"): _guardduty,
    ("aws.health", "AWS Health Event"): _health,
}


# ---- PagerDuty Events API v2 (through POST /v2/enqueue and the outbox) ------------------------------


def enqueued_events(body: dict[str, Any]) -> list[IntakeEvent]:
    try:
        enqueued = EnqueuedEvent.model_validate(body)
    except ValidationError as exc:
        raise Rejected(f"an enqueued event that does not fit EnqueuedEvent: {_problems(exc)}") from exc
    event, integration = enqueued.event, enqueued.integration
    raw_payload = event.get("payload")
    payload: dict[str, Any] = dict(raw_payload) if isinstance(raw_payload, Mapping) else {}
    severity = payload.get("severity") if payload.get("severity") in PRIORITY_OF_SEVERITY else None
    action = event.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve") or not event.get("dedup_key"):
        raise Rejected("event: an enqueued event has its event_action and dedup_key")
    occurred = enqueued.received_at
    if isinstance(payload.get("timestamp"), str):
        try:
            parsed = datetime.fromisoformat(payload["timestamp"].replace("Z", "+00:00"))
            occurred = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            pass
    details = {
        k: payload[k]
        for k in ("source", "component", "group", "class", "custom_details")
        if payload.get(k) is not None
    }
    details |= {k: event[k] for k in ("links", "images", "client", "client_url") if event.get(k)}
    if json_size(details) > DETAILS_MAX_BYTES:
        details = {k: v for k, v in details.items() if k != "custom_details"} | {
            "custom_details": {"omitted": True}
        }
    tags = [t for t in integration.tags if _TAG.match(t)]
    source = f"integration:{integration.name}"[:255]
    component = payload.get("component")
    return [
        IntakeEvent(
            event_id=enqueued.event_id,
            source=source,
            detail_type=PAGERDUTY_DETAIL_TYPE,
            action=action,
            tenant_id=integration.tenant_id,
            dedup_key=str(event["dedup_key"])[:DEDUP_KEY_MAX],
            summary=_str(payload.get("summary"), SUMMARY_MAX),
            severity=severity,
            resource=_str(component, 2048),
            occurred_at=occurred,
            details=details,
            kind="incident",
            category=integration.category,
            priority=PRIORITY_OF_SEVERITY[severity] if severity else "medium",
            tags=tags,
            queue=integration.queue,
            integration_id=integration.id,
        )
    ]


# ---- one record ----------------------------------------------------------------------------------------


def normalize(
    body: Any, *, detail_type: str | None = None, account_tenants: Mapping[str, str] | None = None
) -> list[IntakeEvent]:
    """The events one intake queue record carries (a Security Hub event may carry several; an
    alarm's INSUFFICIENT_DATA none). ``detail_type`` is the record's ``detail_type`` attribute,
    which the outbox sets on the messages it sends."""
    if not isinstance(body, dict):
        raise Rejected("the message is not a JSON object")
    if detail_type == ENQUEUED_DETAIL_TYPE:
        return enqueued_events(body)
    try:
        envelope = Envelope.model_validate(body)
    except ValidationError as exc:
        raise Rejected(f"not an EventBridge event: {_problems(exc)}") from exc
    tenants = account_tenants or {}
    adapter = AWS_SOURCES.get((envelope.source, envelope.detail_type))
    try:
        if adapter is not None:
            return list(adapter(envelope, tenants))
        if envelope.source.startswith("aws."):
            raise Rejected(f"intake does not take {envelope.source} {envelope.detail_type!r} events")
        return platform_events(envelope)
    except ValidationError as exc:  # an adapter's output that the normalized model refuses
        raise Rejected(f"the {envelope.detail_type} event does not fit: {_problems(exc)}") from exc
