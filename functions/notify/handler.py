"""The notify worker: ticket events from the bus (an EventBridge rule: created, public comments,
waiting/resolved/closed, SLA at risk and breached) become e-mails to the people on the ticket,
through SES (``shared.notify.sending``). Each message is recorded with the Message-ID SES used
(``email_message``); a repeat of an event sends nothing twice. The log has ids and event types,
never addresses or content."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import BaseModel, ConfigDict, Field

from shared import db
from shared.aws.email import ses_sender
from shared.config.settings import EmailSettings
from shared.notify import sending
from shared.observability import logger, metrics
from shared.runtime import catalog, entrypoints, workers

SPEC = entrypoints.spec_of(catalog.NOTIFY)


class BusEvent(BaseModel):
    """An EventBridge event as its rule puts it on the queue."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str
    source: str
    detail_type: str = Field(alias="detail-type")
    detail: dict[str, Any]


def _config() -> tuple[sending.Send, sending.EmailConfig]:
    settings = entrypoints.services(SPEC).settings
    assert isinstance(settings, EmailSettings)
    send = ses_sender(
        source=settings.ses_from_address, configuration_set=settings.ses_configuration_set or None
    )
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return send, sending.EmailConfig(
        sender=settings.ses_from_address,
        sender_name=settings.email_sender_name,
        reply_domain=settings.reply_domain,
        region=region,
    )


def handle(uow: db.UnitOfWork, event: BusEvent, record: SQSRecord) -> None:
    if event.source != catalog.SERVICE_EVENT_SOURCE:
        raise workers.Refused(f"events of {event.source!r} are not the service's own")
    send, config = _config()
    now = entrypoints.services(SPEC).clock()
    if event.detail_type == sending.ENDPOINT_DISABLED:
        outcome = sending.notify_endpoint_disabled(uow, event.detail, now=now, send=send, config=config)
    else:
        outcome = sending.notify(uow, event.detail, now=now, send=send, config=config)
    for name, value in (
        ("EmailsSent", outcome.sent),
        ("EmailsSuppressed", outcome.suppressed),
        ("EmailsFailed", outcome.failed),
    ):
        if value:
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    if outcome.sent or outcome.suppressed or outcome.failed:
        logger.info(
            "emails sent",
            extra={
                "event_id": event.detail.get("event_id"),
                "event_type": event.detail.get("type"),
                "ticket": event.detail.get("ticket_key"),
                "sent": outcome.sent,
                "suppressed": outcome.suppressed,
                "failed": outcome.failed,
                "repeated": outcome.repeated,
            },
        )


handler = workers.worker(SPEC, handle, BusEvent)
