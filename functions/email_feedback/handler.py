"""SES bounces and complaints (the configuration set's SNS topic, subscribed by this worker's
queue): the addresses of permanent bounces and of complaints are suppressed, and nothing is sent
to them again (``shared.notify.sending.suppress``). A transient bounce suppresses nobody."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import BaseModel, ConfigDict, Field

from shared import db
from shared.notify import sending
from shared.observability import logger, metrics
from shared.runtime import catalog, entrypoints, workers

SPEC = entrypoints.spec_of(catalog.EMAIL_FEEDBACK)


class SnsNotification(BaseModel):
    """SNS's envelope around an SES notification (not raw delivery)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    type: str = Field(alias="Type")
    message: str = Field(alias="Message")


def handle(uow: db.UnitOfWork, envelope: SnsNotification, record: SQSRecord) -> None:
    if envelope.type == "SubscriptionConfirmation":
        return  # the stack subscribes the queue itself; nothing to confirm
    try:
        notification: dict[str, Any] = json.loads(envelope.message)
    except json.JSONDecodeError:
        raise workers.Refused("the SNS message is not an SES notification (not JSON)") from None
    if not isinstance(notification, dict):
        raise workers.Refused("the SNS message is not an SES notification (not an object)")
    suppressed = sending.suppress(uow, notification, now=entrypoints.services(SPEC).clock())
    if suppressed:
        metrics.add_metric(name="EmailAddressesSuppressed", unit=MetricUnit.Count, value=suppressed)
    logger.info(
        "ses feedback",
        extra={
            "kind": notification.get("notificationType") or notification.get("eventType"),
            "ses_message_id": (notification.get("mail") or {}).get("messageId"),
            "suppressed": suppressed,
        },
    )


handler = workers.worker(SPEC, handle, SnsNotification)
