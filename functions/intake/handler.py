"""The intake worker: each record of the intake queue (a platform event from the ticket bus, an
AWS event from the default bus, or an accepted ``POST /v2/enqueue`` call) becomes deduplicated
incidents (``shared.intake``), in the record's own transaction, as ``Principal.system("intake")``.

A record that does not fit its schema is recorded as a rejection (``GET /intake/rejections``),
counted (``IntakeRejected``) and acknowledged, never retried; any other failure (the database)
fails that record only, and SQS redelivers it, then moves it to the DLQ (``ticketing-replay-dlq``).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import RootModel

from shared import db
from shared.config.settings import IntakeConfigSettings
from shared.intake import records, sources
from shared.intake.service import IntakeSettings, ingest
from shared.kernel.clock import utcnow
from shared.observability import logger, metrics
from shared.runtime import entrypoints, workers

FUNCTION = "intake"


class Body(RootModel[Any]):
    """Any JSON: what it must be depends on where it came from (``shared.intake.sources``)."""


SPEC = entrypoints.spec_of(FUNCTION)
_configured: dict[int, tuple[dict[str, str], IntakeSettings]] = {}


def _config() -> tuple[dict[str, str], IntakeSettings]:
    """The function's intake settings (validated with its other settings on the first invocation)."""
    services = entrypoints.cached_services(SPEC)
    settings = services.settings if services is not None else None
    if not isinstance(settings, IntakeConfigSettings):
        return {}, IntakeSettings()
    found = _configured.get(id(settings))
    if found is None:
        found = (
            settings.intake_account_tenants,
            IntakeSettings(reopen_window=timedelta(minutes=settings.intake_reopen_window_minutes)),
        )
        _configured.clear()
        _configured[id(settings)] = found
    return found


def _attribute(record: SQSRecord, name: str) -> str | None:
    attribute = record.message_attributes[name]
    return attribute.string_value if attribute is not None else None


def handle(uow: db.UnitOfWork, body: Body, record: SQSRecord) -> None:
    tenants, settings = _config()
    try:
        events = sources.normalize(
            body.root, detail_type=_attribute(record, "detail_type"), account_tenants=tenants
        )
    except sources.Rejected as exc:
        raise workers.Refused(str(exc)) from exc
    now = utcnow()
    for event in events:
        outcome = ingest(uow, event, now=now, settings=settings)
        metrics.add_metric(name=f"Intake{outcome.outcome.capitalize()}", unit=MetricUnit.Count, value=1)
        if outcome.opened_last_hour is not None:
            metrics.add_metric(
                name="FingerprintTicketsPerHour", unit=MetricUnit.Count, value=outcome.opened_last_hour
            )
        logger.info(
            "intake event",
            extra={
                "event_id": event.event_id,
                "source": event.source,
                "detail_type": event.detail_type,
                "action": event.action,
                "tenant_id": event.tenant_id,
                "outcome": outcome.outcome,
                "ticket": outcome.ticket_key,
            },
        )


def _source_of(body: str) -> tuple[str, str | None]:
    try:
        parsed = json.loads(body)
    except ValueError:
        return "unknown", None
    if isinstance(parsed, dict):
        if isinstance(parsed.get("integration"), dict):
            return f"integration:{parsed['integration'].get('name', '?')}", "PagerDuty Event"
        source, detail_type = parsed.get("source"), parsed.get("detail-type")
        return (str(source) if source else "unknown"), (str(detail_type) if detail_type else None)
    return "unknown", None


def refused(uow: db.UnitOfWork, record: SQSRecord, reason: str) -> None:
    body = record.body or ""
    source, detail_type = _source_of(body)
    records.record_rejection(
        uow,
        source=source,
        detail_type=detail_type,
        message_id=record.message_id,
        reason=reason,
        payload=body.encode("utf-8", errors="replace"),
    )
    metrics.add_metric(name="IntakeRejected", unit=MetricUnit.Count, value=1)


# Events are deduplicated by their own id (intake_event), across SQS messages too: the inbound
# log would only add a round trip per record.
handler = workers.worker(FUNCTION, handle, Body, on_refused=refused, inbound_log=False)
