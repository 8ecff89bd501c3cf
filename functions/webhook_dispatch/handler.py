"""The webhook dispatcher, fed by the webhook queue. Each message is one of:

- **an event** (a copy of a ticket-bus event, from the outbox's bus publisher): fanned out to the
  endpoints subscribed to it, one delivery each (``shared.webhooks.deliveries.fan_out``);
- **a delivery's attempt** (``{delivery_id, generation}``, or ``redrive`` from the DLQ): the URL
  vetted again (DNS may have changed) and the connection pinned to the vetted address, the body
  signed (Standard Webhooks), POSTed with a 15 s limit and no redirects, and the outcome recorded
  (``begin`` / ``finish``: retried, waiting, or failed and dead-lettered);
- **a replay job's next chunk** (``{replay_id}``).

No transaction is open while a request is in flight, and a batch's records run side by side, so a
slow endpoint holds one thread (and at most ``max_in_flight`` of them across the fleet) while the
others' deliveries go on. Failed attempts are counted as ``ticket_webhook_out_fail_total``.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from uuid import UUID

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared import db
from shared.auth import Principal
from shared.config.settings import WebhookSettings
from shared.observability import logger, metrics
from shared.runtime import catalog, entrypoints, workers
from shared.webhooks import deliveries, sender, signing, urls

SPEC = entrypoints.spec_of(catalog.WEBHOOK_DISPATCH)
PRINCIPAL = Principal.system(catalog.WEBHOOK_DISPATCH)
FAIL_METRIC = catalog.WEBHOOK_FAIL_METRIC
# Records of a batch handled side by side (the queue's batch size).
PARALLEL = 10
# How long an attempt waits in its thread for one of its endpoint's slots before going back on the
# queue (for a few seconds), and how often it looks.
SLOT_WAIT_S = 1.0
SLOT_POLL_S = 0.005


class DispatchMessage(BaseModel):
    """What the webhook queue carries (the outbox adds ``event_id`` to each)."""

    model_config = ConfigDict(extra="ignore")

    # a ticket-bus event
    type: str | None = None
    ticket_id: UUID | None = None
    event_id: UUID | None = None
    # a delivery's attempt
    delivery_id: UUID | None = None
    generation: int | None = Field(default=None, ge=1)
    redrive: bool = False
    # a replay job's next chunk
    replay_id: UUID | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> DispatchMessage:
        if self.delivery_id is not None:
            if self.generation is None:
                raise ValueError("a delivery message names its generation")
        elif self.replay_id is None and (
            self.type is None or self.ticket_id is None or self.event_id is None
        ):
            raise ValueError(
                "a message is an event (type, ticket_id, event_id), a delivery (delivery_id, generation)"
                " or a replay (replay_id)"
            )
        return self


def _settings() -> WebhookSettings:
    settings = entrypoints.services(SPEC).settings
    assert isinstance(settings, WebhookSettings)
    return settings


def send(planned: deliveries.Planned, policy: urls.UrlPolicy) -> tuple[sender.Outcome, bool]:
    """One attempt: the URL vetted again and the request pinned to the vetted address, signed
    with every live secret. Returns the outcome, and whether the URL was refused."""
    try:
        vetted = urls.vet_url(planned.url, policy)
    except urls.UrlRefused as refused:
        return sender.Outcome(None, 0, "", f"refused: {refused}", None, None), True
    body = planned.body.encode()
    headers = signing.headers(planned.secrets, planned.msg_id, int(time.time()), body)
    return sender.post(vetted, body, headers), False


def claim(delivery_id: UUID, generation: int, *, redrive: bool) -> deliveries.Planned | deliveries.Skipped:
    """The attempt's lease; while its endpoint has every slot in flight, wait for one a moment
    (in this thread: the batch's others go on), then put the delivery back on the queue."""
    services = entrypoints.services(SPEC)
    deadline = time.monotonic() + SLOT_WAIT_S
    while True:
        last_try = time.monotonic() >= deadline
        with db.transaction(PRINCIPAL) as uow:
            planned = deliveries.begin(
                uow,
                delivery_id,
                generation,
                now=services.clock(),
                redrive=redrive,
                requeue_when_busy=last_try,
            )
        if last_try or not (isinstance(planned, deliveries.Skipped) and planned.reason == "busy"):
            return planned
        # A re-drive restarted the delivery's schedule already: ask again for that generation.
        generation, redrive = planned.generation or generation, False
        time.sleep(SLOT_POLL_S)


def dispatch(message: DispatchMessage, record: SQSRecord) -> None:
    services = entrypoints.services(SPEC)
    now = services.clock()
    if message.type is not None:
        with db.transaction(PRINCIPAL) as uow:
            made = deliveries.fan_out(uow, json.loads(record.body or "{}"), now=now)
        if made.deliveries:
            metrics.add_metric(name="WebhookDeliveriesMade", unit=MetricUnit.Count, value=made.deliveries)
        return
    if message.replay_id is not None:
        with db.transaction(PRINCIPAL) as uow:
            replayed = deliveries.run_replay(uow, message.replay_id, now=now)
        logger.info("webhook replay chunk", extra={"replay_id": str(message.replay_id), "replayed": replayed})
        return
    assert message.delivery_id is not None and message.generation is not None
    planned = claim(message.delivery_id, message.generation, redrive=message.redrive)
    if isinstance(planned, deliveries.Skipped):
        metrics.add_metric(
            name=f"WebhookAttempt{planned.reason.capitalize()}", unit=MetricUnit.Count, value=1
        )
        return
    settings = _settings()
    policy = urls.UrlPolicy.from_env(
        settings.webhook_allow_loopback, require_https=settings.webhook_require_https
    )
    started = services.clock()
    outcome, refused = send(planned, policy)
    finished_at = started + timedelta(milliseconds=outcome.latency_ms)
    with db.transaction(PRINCIPAL) as uow:
        result = deliveries.finish(
            uow,
            planned,
            status=outcome.status,
            latency_ms=outcome.latency_ms,
            response_body=outcome.body,
            error=outcome.error,
            retry_after_s=outcome.retry_after_s,
            refused=refused,
            started=started,
            now=max(finished_at, services.clock()),
            schedule=settings.retry_delays_s,
        )
    metrics.add_metric(name="WebhookAttemptLatency", unit=MetricUnit.Milliseconds, value=outcome.latency_ms)
    if result.kind == "succeeded":
        metrics.add_metric(name="WebhookDelivered", unit=MetricUnit.Count, value=1)
        return
    metrics.add_metric(name=FAIL_METRIC, unit=MetricUnit.Count, value=1)
    logger.warning(
        "webhook attempt failed",
        extra={
            "delivery_id": str(planned.delivery_id),
            "webhook_id": str(planned.endpoint_id),
            "msg_id": planned.msg_id,
            "outcome": result.kind,
            "status": outcome.status,
            "error": outcome.error,
            "retry_in_s": round(result.retry_in_s, 1) if result.retry_in_s is not None else None,
            "dead_lettered": result.dead_lettered,
            "disabled": result.disabled,
        },
    )
    if result.dead_lettered:
        metrics.add_metric(name="WebhookDeadLettered", unit=MetricUnit.Count, value=1)
    if result.disabled:
        metrics.add_metric(name="WebhookEndpointsDisabled", unit=MetricUnit.Count, value=1)


handler = workers.worker(
    SPEC, None, DispatchMessage, own_transactions=dispatch, inbound_log=False, parallel=PARALLEL
)
