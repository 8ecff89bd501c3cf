"""Webhook deliveries: the fan-out of events to endpoints, each attempt's before and after, the
delivery log, retrying one, replaying a range, and the one-minute sweep.

How a delivery travels (README "Outbound webhooks"):

1. **Fan-out.** The webhook queue gets a copy of each ticket-bus event a webhook may carry
   (``shared.webhooks.events``). ``fan_out`` finds the endpoints subscribed to its type that may
   see it (a tenant's endpoints never get another tenant's tickets, internal events, internal
   comments or platform-only tickets), renders the body once per audience (the ticket as that
   audience reads it through the API) and writes one delivery per endpoint and type, each with its
   own ``msg_id``. A repeat of the event adds nothing (unique per endpoint, event and type).
2. **Attempts.** Each delivery due now is a message on the webhook queue (``{delivery_id,
   generation}``, sent after commit through the outbox). ``begin`` re-reads it under lock: a
   message for an older generation, or for a delivery no longer pending, does nothing; an
   endpoint that is not enabled makes it wait; an endpoint with ``max_in_flight`` attempts already
   in flight puts it back on the queue for a few seconds (so one slow endpoint holds at most that
   many of the dispatcher's threads). The request itself is made outside any transaction;
   ``finish`` records the attempt and decides (``shared.webhooks.retries``): done, retried (its
   message delayed when the retry is within 15 minutes, else the sweeper sends it when it comes
   due: the SLA engine's durable-timer mechanism), or failed and dead-lettered.
3. **Endpoint health.** A success clears ``failing_since``; a failure sets it if unset. An endpoint
   that answers 410, or whose every attempt failed for 5 days, is disabled: a ``Webhook Endpoint
   Disabled`` event goes to the bus, and its deliveries wait for its owner's ``resume``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg import sql

from shared import outbox
from shared.auth import Principal, Role
from shared.db import UnitOfWork
from shared.kernel import pagination
from shared.kernel.errors import NotFound, ValidationFailed
from shared.kernel.ids import uuid7
from shared.tickets import repository as tickets_repository
from shared.tickets import service as tickets_service
from shared.webhooks import endpoints, events, retries
from shared.webhooks.model import (
    Attempt,
    Delivery,
    DeliveryQuery,
    DeliveryWithBody,
    ReplayJob,
    ReplayRequest,
    Webhook,
)

DISPATCH_WORKER = "webhook_dispatch"
DELIVERY_DETAIL_TYPE = "Webhook Delivery"
REPLAY_DETAIL_TYPE = "Webhook Replay"
DISABLED_DETAIL_TYPE = "Webhook Endpoint Disabled"
# The dispatcher's dead-letter queue, as the outbox names it (shared.runtime.settings.queue_urls).
DEAD_LETTERS = outbox.queue(f"{DISPATCH_WORKER}_dlq")

RETENTION = timedelta(days=30)
# SQS delays a message up to 15 minutes; a retry further out waits for the sweeper.
HORIZON = timedelta(minutes=15)
# A due attempt this late whose message went out this long ago is sent again by the sweeper.
GRACE = timedelta(minutes=2)
RESEND_AFTER = timedelta(minutes=5)
DEFAULT_MAX_IN_FLIGHT = 4
# A lease outlives the longest attempt (15 s) with room to record it.
LEASE = timedelta(seconds=60)
BUSY_DELAY = timedelta(seconds=2)
REPLAY_CHUNK = 200
SHOWN_ATTEMPTS = 50
# Deliveries an endpoint's resume sends at once; the sweeper sends the rest within a minute.
RESUME_SENDS = 100

READERS = endpoints.READERS  # platform admins, operators, the tenant's admins
OPERATORS = READERS  # ...who may also retry, replay and test

SERVICE = Principal.system("webhook_dispatch")  # the dispatcher and the sweeper, as the service

# ---- SQL ---------------------------------------------------------------------------------------------

MATCHING_ENDPOINTS = """
SELECT id, tenant_id, state, event_types FROM webhook_endpoint
WHERE event_types && %(types)s::text[]
  AND (tenant_id IS NULL OR (tenant_id = %(tenant_id)s AND NOT %(internal)s))
ORDER BY id
"""
INSERT_DELIVERY = """
INSERT INTO webhook_delivery (id, endpoint_id, tenant_id, msg_id, event_id, event_type, ticket_id, body,
                              next_attempt_at, enqueued_at, created_at, updated_at)
VALUES (%(id)s, %(endpoint_id)s, %(tenant_id)s, %(msg_id)s, %(event_id)s, %(event_type)s, %(ticket_id)s,
        %(body)s, %(next_attempt_at)s, %(enqueued_at)s, %(now)s, %(now)s)
ON CONFLICT (endpoint_id, event_id, event_type) WHERE event_id IS NOT NULL DO NOTHING
RETURNING id, tenant_id, generation, next_attempt_at
"""
LOCK_DELIVERY = """
SELECT d.id, d.endpoint_id, d.tenant_id, d.msg_id, d.body, d.status, d.generation, d.round_attempts,
       d.next_attempt_at, d.next_trigger, d.event_type,
       e.url, e.state, e.secret, e.previous_secret, e.previous_secret_expires_at
FROM webhook_delivery d JOIN webhook_endpoint e ON e.id = d.endpoint_id
WHERE d.id = %(id)s
FOR UPDATE OF d
"""
HOLD = """
UPDATE webhook_delivery SET next_attempt_at = NULL, enqueued_at = NULL, next_trigger = 'resume',
                            updated_at = %(now)s
WHERE id = %(id)s
"""
MARK_ENQUEUED = "UPDATE webhook_delivery SET enqueued_at = %(now)s WHERE id = ANY(%(ids)s)"
LOCK_ENDPOINT = "SELECT id FROM webhook_endpoint WHERE id = %(id)s FOR NO KEY UPDATE"
LEASES_IN_USE = """
WITH gone AS (DELETE FROM webhook_lease WHERE endpoint_id = %(endpoint_id)s AND expires_at < %(now)s)
SELECT count(*) AS n FROM webhook_lease WHERE endpoint_id = %(endpoint_id)s AND expires_at >= %(now)s
"""
TAKE_LEASE = """
INSERT INTO webhook_lease (delivery_id, endpoint_id, expires_at)
VALUES (%(id)s, %(endpoint_id)s, %(expires_at)s)
ON CONFLICT (delivery_id) DO UPDATE SET expires_at = EXCLUDED.expires_at
    WHERE webhook_lease.expires_at < %(now)s
RETURNING delivery_id
"""
DROP_LEASE = "DELETE FROM webhook_lease WHERE delivery_id = %(id)s"
RESTART = """
UPDATE webhook_delivery
SET status = 'pending', round_attempts = 0, generation = generation + 1, next_trigger = %(trigger)s,
    next_attempt_at = %(now)s, enqueued_at = NULL, updated_at = %(now)s
WHERE id = ANY(%(ids)s)
RETURNING id, tenant_id, generation
"""
INSERT_ATTEMPT = """
INSERT INTO webhook_attempt (delivery_id, endpoint_id, tenant_id, attempted_at, trigger, outcome, status,
                             latency_ms, response_body, error)
VALUES (%(delivery_id)s, %(endpoint_id)s, %(tenant_id)s, %(at)s, %(trigger)s, %(outcome)s, %(status)s,
        %(latency_ms)s, %(response_body)s, %(error)s)
"""
COUNT_ATTEMPT = """
UPDATE webhook_delivery
SET attempts = attempts + 1, round_attempts = round_attempts + 1, last_attempt_at = %(at)s,
    last_status = %(status)s, last_error = %(error)s, updated_at = %(now)s
WHERE id = %(id)s
RETURNING generation, round_attempts, status
"""
SETTLE = """
UPDATE webhook_delivery
SET status = %(status)s, next_attempt_at = %(next_attempt_at)s, enqueued_at = %(enqueued_at)s,
    generation = generation + %(bump)s, next_trigger = %(trigger)s, updated_at = %(now)s
WHERE id = %(id)s
RETURNING generation
"""
ENDPOINT_HEALTH = """
SELECT id, tenant_id, url, state, failing_since, created_by FROM webhook_endpoint WHERE id = %(id)s
FOR NO KEY UPDATE
"""
ENDPOINT_SUCCEEDED = (
    "UPDATE webhook_endpoint SET failing_since = NULL WHERE id = %(id)s AND failing_since IS NOT NULL"
)
ENDPOINT_FAILED = """
UPDATE webhook_endpoint SET failing_since = coalesce(failing_since, %(at)s) WHERE id = %(id)s
RETURNING failing_since
"""
RELEASE_WAITING = """
UPDATE webhook_delivery
SET next_attempt_at = %(now)s, generation = generation + 1, enqueued_at = NULL, next_trigger = 'resume',
    updated_at = %(now)s
WHERE endpoint_id = %(endpoint_id)s AND status = 'pending' AND next_attempt_at IS NULL
RETURNING id, tenant_id, generation
"""
DUE = """
SELECT id, tenant_id, generation, next_attempt_at FROM webhook_delivery
WHERE status = 'pending' AND next_attempt_at <= %(horizon)s
  AND (enqueued_at IS NULL OR (next_attempt_at < %(overdue_before)s AND enqueued_at < %(resend_before)s))
ORDER BY next_attempt_at
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED
"""
OVERDUE = """
SELECT count(*) AS n, coalesce(extract(epoch FROM %(now)s - min(next_attempt_at)), 0) AS oldest_s
FROM webhook_delivery WHERE status = 'pending' AND next_attempt_at < %(overdue_before)s
"""
FAILING_TOO_LONG = """
SELECT id FROM webhook_endpoint WHERE state = 'enabled' AND failing_since < %(before)s ORDER BY id LIMIT 100
"""
PURGE = """
WITH old AS (SELECT id FROM webhook_delivery WHERE created_at < %(before)s
             ORDER BY created_at LIMIT %(limit)s),
     gone AS (DELETE FROM webhook_delivery d USING old WHERE d.id = old.id RETURNING 1)
SELECT count(*) AS n FROM gone
"""
PURGE_REPLAYS = "DELETE FROM webhook_replay WHERE created_at < %(before)s"
PURGE_LEASES = "DELETE FROM webhook_lease WHERE expires_at < %(now)s"

DELIVERY_COLUMNS = (
    "id, endpoint_id, msg_id, event_id, event_type, ticket_id, status, next_attempt_at, attempts,"
    " last_attempt_at, last_status, created_at, updated_at"
)
ATTEMPTS_OF = """
SELECT delivery_id, attempted_at, trigger, outcome, status, latency_ms, response_body, error FROM (
    SELECT a.*, row_number() OVER (PARTITION BY delivery_id ORDER BY id DESC) AS newest
    FROM webhook_attempt a WHERE delivery_id = ANY(%(ids)s)
) recent WHERE newest <= %(shown)s ORDER BY delivery_id, attempted_at, newest DESC
"""
REPLAY_COLUMNS = (
    "id, endpoint_id, since, until, status_filter, state, total, replayed, cursor, created_at, created_by,"
    " started_at, completed_at"
)


# ---- queue messages ----------------------------------------------------------------------------------


def _enqueue(
    uow: UnitOfWork,
    delivery_id: UUID,
    generation: int,
    tenant_id: str | None,
    *,
    deliver_at: datetime | None = None,
    redrive: bool = False,
    destination: str | None = None,
    reason: str | None = None,
) -> None:
    outbox.record(
        uow,
        detail_type=DELIVERY_DETAIL_TYPE,
        detail={
            "delivery_id": str(delivery_id),
            "generation": generation,
            **({"redrive": True} if redrive else {}),
            **({"reason": reason} if reason else {}),
        },
        aggregate_type="webhook_delivery",
        aggregate_id=str(delivery_id),
        tenant_id=tenant_id,
        visibility=outbox.INTERNAL,
        destination=destination or outbox.queue(DISPATCH_WORKER),
        deliver_at=deliver_at,
    )


def _enqueue_all(uow: UnitOfWork, rows: Sequence[Mapping[str, Any]], now: datetime) -> None:
    for row in rows:
        _enqueue(uow, row["id"], row["generation"], row["tenant_id"])
    if rows:
        uow.execute(MARK_ENQUEUED, {"ids": [row["id"] for row in rows], "now": now})


# ---- fan-out ------------------------------------------------------------------------------------------


def _json_value(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _body(event_type: str, timestamp: str, data: Mapping[str, Any]) -> str:
    """What is POSTed, serialized once: every attempt, retry and replay sends these bytes."""
    return json.dumps(
        {"type": event_type, "timestamp": timestamp, "data": data},
        separators=(",", ":"),
        ensure_ascii=False,
        default=_json_value,
    )


def _audience(tenant_id: str | None, ticket_tenant: str | None) -> Principal:
    """Whose eyes a body is rendered for: the platform's, or a tenant's (a tenant user's view)."""
    if tenant_id is None:
        return SERVICE
    return Principal(sub=SERVICE.sub, tenant=ticket_tenant, roles=frozenset({Role.TENANT_USER}))


def _render(
    uow: UnitOfWork, detail: Mapping[str, Any], event_type: str, viewer: Principal
) -> dict[str, Any] | None:
    """``data`` for one audience: the ticket as ``viewer`` reads it through the API; for a comment,
    the comment (with its ticket's id, key and version); for an SLA event, the clock's figures.
    None when the viewer may not see it (the ticket became platform-only since)."""
    ticket = detail.get("ticket") or {}
    ticket_ref = {
        "ticket_id": detail.get("ticket_id"),
        "ticket_key": detail.get("ticket_key"),
        "ticket_version": ticket.get("version"),
    }
    if event_type.startswith("sla."):
        return {**ticket_ref, **(detail.get("changes") or {})}
    try:
        row = tickets_repository.load(uow, viewer, str(detail["ticket_id"]))
    except NotFound:
        return None
    if event_type == "ticket.commented":
        comment_id = (detail.get("comment") or {}).get("id")
        found = uow.execute(
            "SELECT id, author, body, visibility, created_at FROM ticket_comment WHERE id = %(id)s",
            {"id": comment_id},
        ).fetchone()
        if found is None or (not viewer.is_platform and found["visibility"] != "public"):
            return None
        return {**found, **ticket_ref, "ticket_version": row["version"]}
    return tickets_service.to_model(row, viewer).model_dump(mode="json")


@dataclass(frozen=True)
class FanOut:
    deliveries: int  # made now (a repeat of the event makes none)
    waiting: int  # of those, for endpoints that are not enabled


def fan_out(uow: UnitOfWork, detail: Mapping[str, Any], *, now: datetime) -> FanOut:
    """One delivery per subscribed endpoint (that may see it) and webhook type of a bus event."""
    types = events.webhook_types(detail)
    event_id = detail.get("event_id")
    if not types or not event_id or not detail.get("ticket_id"):
        return FanOut(0, 0)
    internal = events.is_internal(detail)
    ticket_tenant = detail.get("tenant_id")
    rows = uow.execute(
        MATCHING_ENDPOINTS,
        {"types": [*types, "*"], "tenant_id": ticket_tenant, "internal": internal},
    ).fetchall()
    if not rows:
        return FanOut(0, 0)
    timestamp = str(detail.get("at") or now.isoformat())
    bodies: dict[tuple[str, bool], str | None] = {}
    made = waiting = 0
    to_send: list[dict[str, Any]] = []
    for endpoint in rows:
        subscribed = set(endpoint["event_types"])
        platform = endpoint["tenant_id"] is None
        for event_type in types:
            if "*" not in subscribed and event_type not in subscribed:
                continue
            key = (event_type, platform)
            if key not in bodies:
                data = _render(uow, detail, event_type, _audience(endpoint["tenant_id"], ticket_tenant))
                bodies[key] = None if data is None else _body(event_type, timestamp, data)
            body = bodies[key]
            if body is None:
                continue
            enabled = endpoint["state"] == "enabled"
            delivery_id = uuid7()
            inserted = uow.execute(
                INSERT_DELIVERY,
                {
                    "id": delivery_id,
                    "endpoint_id": endpoint["id"],
                    "tenant_id": endpoint["tenant_id"],
                    "msg_id": f"msg_{delivery_id.hex}",
                    "event_id": event_id,
                    "event_type": event_type,
                    "ticket_id": detail.get("ticket_id"),
                    "body": body,
                    "next_attempt_at": now if enabled else None,
                    "enqueued_at": now if enabled else None,
                    "now": now,
                },
            ).fetchone()
            if inserted is None:
                continue
            made += 1
            if enabled:
                to_send.append(inserted)
            else:
                waiting += 1
    for row in to_send:
        _enqueue(uow, row["id"], row["generation"], row["tenant_id"])
    return FanOut(made, waiting)


# ---- one attempt ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """An attempt to make now, outside any transaction (the lease is held)."""

    delivery_id: UUID
    endpoint_id: UUID
    tenant_id: str | None
    url: str
    secrets: tuple[str, ...]
    msg_id: str
    body: str
    generation: int
    trigger: str
    event_type: str


@dataclass(frozen=True)
class Skipped:
    reason: str  # gone, stale, waiting, early, busy
    generation: int | None = None  # busy: the delivery's generation now (a re-drive bumps it)


def begin(
    uow: UnitOfWork,
    delivery_id: UUID,
    generation: int,
    *,
    now: datetime,
    redrive: bool = False,
    max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    requeue_when_busy: bool = True,
    rng: random.Random | None = None,
) -> Planned | Skipped:
    """Claim the delivery's next attempt: a ``Planned`` attempt (its lease taken), or why not. An
    endpoint with ``max_in_flight`` attempts in flight is ``busy``: the delivery goes back on the
    queue for a few seconds, unless ``requeue_when_busy`` is False (the caller waits a moment and
    asks again; nothing was changed)."""
    row = uow.execute(LOCK_DELIVERY, {"id": delivery_id}).fetchone()
    if row is None:
        return Skipped("gone")  # its endpoint was deleted, or it was forgotten after 30 days
    if redrive:
        # From the DLQ (ticketing-replay-dlq): the schedule starts over for a delivery that failed.
        if row["status"] != "failed" or row["generation"] != generation:
            return Skipped("stale")
        restarted = uow.execute(RESTART, {"ids": [delivery_id], "trigger": "redrive", "now": now}).fetchone()
        assert restarted is not None
        row = {
            **row,
            "status": "pending",
            "generation": restarted["generation"],
            "next_trigger": "redrive",
            "round_attempts": 0,
            "next_attempt_at": now,
        }
    elif row["status"] != "pending" or row["generation"] != generation:
        return Skipped("stale")
    if row["next_attempt_at"] is None:
        return Skipped("waiting")
    if row["state"] != "enabled":
        uow.execute(HOLD, {"id": delivery_id, "now": now})
        return Skipped("waiting")
    if row["next_attempt_at"] > now + timedelta(seconds=1):
        # Early (SQS delivers a delayed message on time, but a re-sent one may come early).
        if row["next_attempt_at"] - now <= HORIZON:
            _enqueue(uow, delivery_id, row["generation"], row["tenant_id"], deliver_at=row["next_attempt_at"])
            uow.execute(MARK_ENQUEUED, {"ids": [delivery_id], "now": now})
        else:
            uow.execute(
                "UPDATE webhook_delivery SET enqueued_at = NULL WHERE id = %(id)s", {"id": delivery_id}
            )
        return Skipped("early")
    uow.execute(LOCK_ENDPOINT, {"id": row["endpoint_id"]})
    in_use = uow.execute(LEASES_IN_USE, {"endpoint_id": row["endpoint_id"], "now": now}).fetchone()
    if in_use is not None and in_use["n"] >= max_in_flight:
        if not requeue_when_busy:
            return Skipped("busy", row["generation"])
        jitter = (rng or random).uniform(0, BUSY_DELAY.total_seconds())
        _enqueue(
            uow,
            delivery_id,
            row["generation"],
            row["tenant_id"],
            deliver_at=now + BUSY_DELAY + timedelta(seconds=jitter),
        )
        return Skipped("busy")
    leased = uow.execute(
        TAKE_LEASE,
        {"id": delivery_id, "endpoint_id": row["endpoint_id"], "expires_at": now + LEASE, "now": now},
    ).fetchone()
    if leased is None:
        return Skipped("busy")  # another worker is making this very attempt (a duplicate message)
    live = [row["secret"]]
    expires = row["previous_secret_expires_at"]
    if row["previous_secret"] and expires is not None and expires > now:
        live.append(row["previous_secret"])
    return Planned(
        delivery_id=delivery_id,
        endpoint_id=row["endpoint_id"],
        tenant_id=row["tenant_id"],
        url=row["url"],
        secrets=tuple(live),
        msg_id=row["msg_id"],
        body=row["body"],
        generation=row["generation"],
        trigger=row["next_trigger"],
        event_type=row["event_type"],
    )


@dataclass(frozen=True)
class Result:
    """What an attempt's outcome did."""

    kind: retries.Kind
    retry_in_s: float | None = None
    dead_lettered: bool = False
    disabled: bool = False


def finish(
    uow: UnitOfWork,
    planned: Planned,
    *,
    status: int | None,
    latency_ms: int | None,
    response_body: str | None,
    error: str | None,
    retry_after_s: float | None,
    refused: bool = False,
    started: datetime,
    now: datetime,
    schedule: Sequence[int],
    rng: random.Random | None = None,
) -> Result:
    """Record an attempt and settle its delivery: done, retried (when), waiting, or failed."""
    kind = retries.classify(status, refused=refused)
    uow.execute(
        INSERT_ATTEMPT,
        {
            "delivery_id": planned.delivery_id,
            "endpoint_id": planned.endpoint_id,
            "tenant_id": planned.tenant_id,
            "at": started,
            "trigger": planned.trigger,
            "outcome": kind,
            "status": status,
            "latency_ms": latency_ms,
            "response_body": (response_body or "")[:1024] or None,
            "error": error[:1000] if error else None,
        },
    )
    uow.execute(DROP_LEASE, {"id": planned.delivery_id})
    counted = uow.execute(
        COUNT_ATTEMPT,
        {"id": planned.delivery_id, "at": started, "status": status, "error": error, "now": now},
    ).fetchone()
    if counted is None:
        return Result(kind)  # deleted meanwhile (with its endpoint)
    current = counted["generation"] == planned.generation and counted["status"] == "pending"
    if kind == "succeeded":
        # No lock on the endpoint (its other attempts claim slots under it): the update touches
        # the row only when it was failing.
        uow.execute(ENDPOINT_SUCCEEDED, {"id": planned.endpoint_id})
        if current:
            _settle(uow, planned.delivery_id, "succeeded", now=now)
        return Result(kind)
    endpoint = uow.execute(ENDPOINT_HEALTH, {"id": planned.endpoint_id}).fetchone()
    if endpoint is None:
        return Result(kind)
    failing = uow.execute(ENDPOINT_FAILED, {"id": planned.endpoint_id, "at": started}).fetchone()
    failing_since = failing["failing_since"] if failing else started
    reason = None
    if kind == "gone":
        reason = f"The endpoint answered 410 Gone at {started.isoformat()}."
    elif failing_since <= now - retries.FAILING_DISABLES_AFTER:
        reason = f"Every attempt has failed since {failing_since.isoformat()} (5 days)."
    if reason is not None:
        disabled = disable(uow, planned.endpoint_id, reason, now=now)
        if current:
            _settle(uow, planned.delivery_id, "pending", now=now, trigger="resume")  # waits for resume
        return Result(kind, disabled=disabled)
    if not current:
        return Result(kind)
    upcoming = retries.after_failure(schedule, counted["round_attempts"], kind, retry_after_s, rng=rng)
    if upcoming.delay_s is None:
        failed_generation = _settle(uow, planned.delivery_id, "failed", now=now)
        # Its message goes to the webhook DLQ; ticketing-replay-dlq puts it back (``redrive``).
        _enqueue(
            uow,
            planned.delivery_id,
            failed_generation,
            planned.tenant_id,
            redrive=True,
            destination=DEAD_LETTERS,
            reason=f"{counted['round_attempts']} attempts failed; the last: "
            + (f"HTTP {status}" if status is not None else (error or "no response")),
        )
        return Result(kind, dead_lettered=True)
    at = now + timedelta(seconds=upcoming.delay_s)
    soon = at - now <= HORIZON
    generation = _settle(
        uow, planned.delivery_id, "pending", now=now, next_attempt_at=at, enqueued=soon, trigger="scheduled"
    )
    if soon:
        _enqueue(uow, planned.delivery_id, generation, planned.tenant_id, deliver_at=at)
    return Result(kind, retry_in_s=upcoming.delay_s)


def _settle(
    uow: UnitOfWork,
    delivery_id: UUID,
    status: str,
    *,
    now: datetime,
    next_attempt_at: datetime | None = None,
    enqueued: bool = False,
    trigger: str = "scheduled",
) -> int:
    row = uow.execute(
        SETTLE,
        {
            "id": delivery_id,
            "status": status,
            "next_attempt_at": next_attempt_at,
            "enqueued_at": now if enqueued else None,
            "bump": 1,
            "trigger": trigger,
            "now": now,
        },
    ).fetchone()
    assert row is not None
    generation: int = row["generation"]
    return generation


def disable(uow: UnitOfWork, endpoint_id: UUID, reason: str, *, now: datetime) -> bool:
    """The service disables an endpoint (410, or failing for 5 days): logged, and announced on the
    bus (``Webhook Endpoint Disabled``) for its owner. False if it was disabled already."""
    try:
        before = endpoints.load(uow, SERVICE, str(endpoint_id), lock=True)
    except NotFound:
        return False
    if before.state == "disabled":
        return False
    after = endpoints.set_state(
        uow, SERVICE, before, "disabled", reason, "disable", now=now, correlation_id=None
    )
    outbox.record(
        uow,
        detail_type=DISABLED_DETAIL_TYPE,
        detail={
            "webhook_id": str(endpoint_id),
            "tenant_id": after.tenant_id,
            "url": after.url,
            "reason": reason,
            "failing_since": after.failing_since.isoformat() if after.failing_since else None,
            "disabled_at": now.isoformat(),
            "owner": after.created_by,
        },
        aggregate_type="webhook_endpoint",
        aggregate_id=str(endpoint_id),
        tenant_id=after.tenant_id,
        visibility=outbox.INTERNAL,
    )
    return True


# ---- what people do: test, retry, replay, resume, read the log ---------------------------------------------


def _endpoint(uow: UnitOfWork, principal: Principal, endpoint_id: str, action: str) -> Webhook:
    principal.require_any(OPERATORS, action)
    return endpoints.load(uow, principal, endpoint_id)


def _delivery_uuid(delivery_id: str) -> UUID:
    try:
        return UUID(delivery_id)
    except ValueError:
        raise NotFound(f"No delivery '{delivery_id}'.") from None


def send_test(uow: UnitOfWork, principal: Principal, endpoint_id: str, *, now: datetime) -> Delivery:
    """A ``webhook.test`` delivery to the endpoint, sent now (or when it is enabled again)."""
    endpoint = _endpoint(uow, principal, endpoint_id, "send test webhooks")
    delivery_id = uuid7()
    body = _body(
        events.TEST,
        now.isoformat(),
        {"webhook_id": str(endpoint.id), "message": "A test event, sent by POST /webhooks/{id}/test."},
    )
    enabled = endpoint.state == "enabled"
    row = uow.execute(
        INSERT_DELIVERY,
        {
            "id": delivery_id,
            "endpoint_id": endpoint.id,
            "tenant_id": endpoint.tenant_id,
            "msg_id": f"msg_{delivery_id.hex}",
            "event_id": None,
            "event_type": events.TEST,
            "ticket_id": None,
            "body": body,
            "next_attempt_at": now if enabled else None,
            "enqueued_at": now if enabled else None,
            "now": now,
        },
    ).fetchone()
    assert row is not None
    if enabled:
        _enqueue(uow, row["id"], row["generation"], row["tenant_id"])
    return get(uow, principal, endpoint_id, str(delivery_id))


def retry(
    uow: UnitOfWork, principal: Principal, endpoint_id: str, delivery_id: str, *, now: datetime
) -> Delivery:
    """Send one delivery again now, whatever its status, with the same msg_id; the retry schedule
    starts over for it. For an endpoint that is not enabled, it waits for ``resume``."""
    endpoint = _endpoint(uow, principal, endpoint_id, "retry webhook deliveries")
    wanted = _delivery_uuid(delivery_id)
    found = uow.execute(
        "SELECT id FROM webhook_delivery WHERE id = %(id)s AND endpoint_id = %(endpoint_id)s FOR UPDATE",
        {"id": wanted, "endpoint_id": endpoint.id},
    ).fetchone()
    if found is None:
        raise NotFound(f"No delivery '{delivery_id}' of this endpoint.")
    _restart(uow, endpoint, [wanted], "retry", now=now)
    return get(uow, principal, endpoint_id, delivery_id)


def _restart(uow: UnitOfWork, endpoint: Webhook, ids: list[UUID], trigger: str, *, now: datetime) -> int:
    rows = uow.execute(RESTART, {"ids": ids, "trigger": trigger, "now": now}).fetchall()
    if endpoint.state != "enabled":
        uow.execute(
            "UPDATE webhook_delivery SET next_attempt_at = NULL, next_trigger = %(trigger)s"
            " WHERE id = ANY(%(ids)s)",
            {"ids": ids, "trigger": trigger},
        )
        return len(rows)
    _enqueue_all(uow, rows, now)
    return len(rows)


def resume(
    uow: UnitOfWork,
    principal: Principal,
    endpoint_id: str,
    *,
    now: datetime,
    correlation_id: str | None = None,
) -> Webhook:
    """Its owner re-enables the endpoint (``endpoints.resume``), and the deliveries that were
    waiting go out: the first ``RESUME_SENDS`` at once, the rest by the sweeper within a minute."""
    resumed = endpoints.resume(uow, principal, endpoint_id, now=now, correlation_id=correlation_id)
    released = uow.execute(RELEASE_WAITING, {"endpoint_id": resumed.id, "now": now}).fetchall()
    _enqueue_all(uow, released[:RESUME_SENDS], now)
    return resumed


def start_replay(
    uow: UnitOfWork, principal: Principal, endpoint_id: str, request: ReplayRequest, *, now: datetime
) -> ReplayJob:
    """A background job that sends again the endpoint's deliveries made in [since, until)."""
    endpoint = _endpoint(uow, principal, endpoint_id, "replay webhook deliveries")
    until = request.until or now
    if request.since >= until:
        raise ValidationFailed(
            "since must be before until.",
            errors=[
                {
                    "loc": ["body", "since"],
                    "msg": "must be before until (default: now)",
                    "type": "value_error",
                }
            ],
        )
    counted = uow.execute(
        """SELECT count(*) AS n FROM webhook_delivery WHERE endpoint_id = %(endpoint_id)s
           AND created_at >= %(since)s AND created_at < %(until)s
           AND (%(status)s::text IS NULL OR status = %(status)s)""",
        {"endpoint_id": endpoint.id, "since": request.since, "until": until, "status": request.status},
    ).fetchone()
    job_id = uuid7()
    row = uow.execute(
        f"""INSERT INTO webhook_replay (id, endpoint_id, tenant_id, since, until, status_filter, total,
                                        created_at, created_by)
            VALUES (%(id)s, %(endpoint_id)s, %(tenant_id)s, %(since)s, %(until)s, %(status)s, %(total)s,
                    %(now)s, %(actor)s)
            RETURNING {REPLAY_COLUMNS}""",
        {
            "id": job_id,
            "endpoint_id": endpoint.id,
            "tenant_id": endpoint.tenant_id,
            "since": request.since,
            "until": until,
            "status": request.status,
            "total": int(counted["n"]) if counted else 0,
            "now": now,
            "actor": principal.sub,
        },
    ).fetchone()
    assert row is not None
    _enqueue_replay(uow, job_id, endpoint.tenant_id)
    return _replay_model(row)


def _enqueue_replay(uow: UnitOfWork, job_id: UUID, tenant_id: str | None) -> None:
    outbox.record(
        uow,
        detail_type=REPLAY_DETAIL_TYPE,
        detail={"replay_id": str(job_id)},
        aggregate_type="webhook_replay",
        aggregate_id=str(job_id),
        tenant_id=tenant_id,
        visibility=outbox.INTERNAL,
        destination=outbox.queue(DISPATCH_WORKER),
    )


def run_replay(uow: UnitOfWork, replay_id: UUID, *, now: datetime, chunk: int = REPLAY_CHUNK) -> int:
    """The next chunk of a replay job (the dispatcher, one message per chunk): its deliveries start
    over with the same msg_ids; another message is sent for the next chunk. Returns how many."""
    job = uow.execute(
        f"""UPDATE webhook_replay SET state = 'running', started_at = coalesce(started_at, %(now)s)
            WHERE id = %(id)s AND state <> 'completed' RETURNING {REPLAY_COLUMNS}, tenant_id""",
        {"id": replay_id, "now": now},
    ).fetchone()
    if job is None:
        return 0
    try:
        endpoint = endpoints.load(uow, SERVICE, str(job["endpoint_id"]))
    except NotFound:
        return 0
    ids = [
        row["id"]
        for row in uow.execute(
            """SELECT id FROM webhook_delivery WHERE endpoint_id = %(endpoint_id)s
               AND created_at >= %(since)s AND created_at < %(until)s
               AND (%(status)s::text IS NULL OR status = %(status)s)
               AND (%(after)s::uuid IS NULL OR id > %(after)s)
               ORDER BY id LIMIT %(limit)s FOR UPDATE""",
            {
                "endpoint_id": job["endpoint_id"],
                "since": job["since"],
                "until": job["until"],
                "status": job["status_filter"],
                "after": job["cursor"],
                "limit": chunk,
            },
        ).fetchall()
    ]
    replayed = _restart(uow, endpoint, ids, "replay", now=now) if ids else 0
    done = len(ids) < chunk
    uow.execute(
        """UPDATE webhook_replay SET replayed = replayed + %(n)s, cursor = coalesce(%(cursor)s, cursor),
               state = CASE WHEN %(done)s THEN 'completed' ELSE state END,
               completed_at = CASE WHEN %(done)s THEN %(now)s END
           WHERE id = %(id)s""",
        {"id": replay_id, "n": replayed, "cursor": ids[-1] if ids else None, "done": done, "now": now},
    )
    if not done:
        _enqueue_replay(uow, replay_id, job["tenant_id"])
    return replayed


def get_replay(uow: UnitOfWork, principal: Principal, endpoint_id: str, job_id: str) -> ReplayJob:
    endpoint = _endpoint(uow, principal, endpoint_id, "read webhook replays")
    try:
        wanted = UUID(job_id)
    except ValueError:
        raise NotFound(f"No replay '{job_id}'.") from None
    row = uow.execute(
        f"SELECT {REPLAY_COLUMNS} FROM webhook_replay WHERE id = %(id)s AND endpoint_id = %(endpoint_id)s",
        {"id": wanted, "endpoint_id": endpoint.id},
    ).fetchone()
    if row is None:
        raise NotFound(f"No replay '{job_id}' of this endpoint.")
    return _replay_model(row)


def _replay_model(row: Mapping[str, Any]) -> ReplayJob:
    return ReplayJob.model_validate({**row, "webhook_id": row["endpoint_id"], "status": row["status_filter"]})


def _attempts(uow: UnitOfWork, ids: list[UUID]) -> dict[UUID, list[Attempt]]:
    found: dict[UUID, list[Attempt]] = {delivery_id: [] for delivery_id in ids}
    if not ids:
        return found
    for row in uow.execute(ATTEMPTS_OF, {"ids": ids, "shown": SHOWN_ATTEMPTS}).fetchall():
        found[row["delivery_id"]].append(Attempt.model_validate({**row, "at": row["attempted_at"]}))
    return found


def _delivery_values(row: Mapping[str, Any], attempts: list[Attempt]) -> dict[str, Any]:
    return {
        **row,
        "webhook_id": row["endpoint_id"],
        "waiting": row["status"] == "pending" and row["next_attempt_at"] is None,
        "attempt_count": row["attempts"],
        "attempts": attempts,
    }


def get(uow: UnitOfWork, principal: Principal, endpoint_id: str, delivery_id: str) -> DeliveryWithBody:
    endpoint = _endpoint(uow, principal, endpoint_id, "read webhook deliveries")
    wanted = _delivery_uuid(delivery_id)
    row = uow.execute(
        f"SELECT {DELIVERY_COLUMNS}, body FROM webhook_delivery"
        " WHERE id = %(id)s AND endpoint_id = %(endpoint_id)s",
        {"id": wanted, "endpoint_id": endpoint.id},
    ).fetchone()
    if row is None:
        raise NotFound(f"No delivery '{delivery_id}' of this endpoint.")
    values = _delivery_values(row, _attempts(uow, [wanted])[wanted])
    return DeliveryWithBody.model_validate({**values, "body": json.loads(row["body"])})


def list_page(
    uow: UnitOfWork, principal: Principal, endpoint_id: str, query: DeliveryQuery
) -> pagination.Page:
    """The endpoint's deliveries, newest first, in keyset pages, with their attempts."""
    endpoint = _endpoint(uow, principal, endpoint_id, "read webhook deliveries")
    filters = {
        "status": query.status,
        "event_type": query.event_type,
        "since": query.since.isoformat() if query.since else None,
        "until": query.until.isoformat() if query.until else None,
    }
    fingerprint = pagination.query_fingerprint({"deliveries": str(endpoint.id), **filters})
    after = pagination.decode(query.cursor, fingerprint, pagination.IdPosition).id if query.cursor else None
    conditions = [sql.SQL("endpoint_id = %(endpoint_id)s")]
    if query.status is not None:
        conditions.append(sql.SQL("status = %(status)s"))
    if query.event_type is not None:
        conditions.append(sql.SQL("event_type = %(event_type)s"))
    if query.since is not None:
        conditions.append(sql.SQL("created_at >= %(since)s"))
    if query.until is not None:
        conditions.append(sql.SQL("created_at < %(until)s"))
    if after is not None:
        conditions.append(sql.SQL("id < %(after)s"))
    statement = sql.SQL(
        "SELECT {cols} FROM webhook_delivery WHERE {where} ORDER BY id DESC LIMIT %(limit)s"
    ).format(cols=sql.SQL(DELIVERY_COLUMNS), where=sql.SQL(" AND ").join(conditions))
    rows = uow.execute(
        statement,
        {
            "endpoint_id": endpoint.id,
            "status": query.status,
            "event_type": query.event_type,
            "since": query.since,
            "until": query.until,
            "after": after,
            "limit": query.limit + 1,
        },
    ).fetchall()
    shown = rows[: query.limit]
    attempts = _attempts(uow, [row["id"] for row in shown])
    items = [Delivery.model_validate(_delivery_values(row, attempts[row["id"]])) for row in shown]
    return pagination.page(
        items,
        more=len(rows) > query.limit,
        position=lambda item: pagination.IdPosition(id=item.id),
        fingerprint=fingerprint,
    )


# ---- the one-minute sweep ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepResult:
    enqueued: int
    overdue: int
    oldest_overdue_s: float
    disabled: int
    purged: int


def sweep(uow: UnitOfWork, *, now: datetime, limit: int = 5000) -> SweepResult:
    """Send the attempts due within 15 minutes that have no message on the way (and again those
    overdue whose message is taken as lost), disable endpoints failing for 5 days, and forget
    deliveries older than 30 days."""
    overdue = uow.execute(OVERDUE, {"now": now, "overdue_before": now - GRACE}).fetchone()
    due = uow.execute(
        DUE,
        {
            "horizon": now + HORIZON,
            "overdue_before": now - GRACE,
            "resend_before": now - RESEND_AFTER,
            "limit": limit,
        },
    ).fetchall()
    for row in due:
        at = row["next_attempt_at"]
        _enqueue(uow, row["id"], row["generation"], row["tenant_id"], deliver_at=at if at > now else None)
    if due:
        uow.execute(MARK_ENQUEUED, {"ids": [row["id"] for row in due], "now": now})
    disabled = 0
    for row in uow.execute(FAILING_TOO_LONG, {"before": now - retries.FAILING_DISABLES_AFTER}).fetchall():
        failing = uow.execute(ENDPOINT_HEALTH, {"id": row["id"]}).fetchone()
        if failing is None or failing["failing_since"] is None:
            continue
        since = failing["failing_since"].isoformat()
        if disable(uow, row["id"], f"Every attempt has failed since {since} (5 days).", now=now):
            disabled += 1
    purged = uow.execute(PURGE, {"before": now - RETENTION, "limit": 10_000}).fetchone()
    uow.execute(PURGE_REPLAYS, {"before": now - RETENTION})
    uow.execute(PURGE_LEASES, {"now": now})
    return SweepResult(
        enqueued=len(due),
        overdue=int(overdue["n"]) if overdue else 0,
        oldest_overdue_s=float(overdue["oldest_s"]) if overdue else 0.0,
        disabled=disabled,
        purged=int(purged["n"]) if purged else 0,
    )
