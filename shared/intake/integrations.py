"""Integrations: the routing keys of ``POST /v2/enqueue`` and who manages them; and taking an event
in through one (``enqueue``).

An integration belongs to a tenant (its events open tickets in that tenant and nowhere else) or to
the platform (``tenant_id`` null: platform-wide events). It carries the defaults of the tickets
its events open (category, queue, tags) and a routing key, which is shown once, when it is made
(create, rotate), and never stored: the table keeps its SHA-256 (``key_hash``) and its last four
characters (``routing_key_hint``), so that people can tell keys apart.

Who may do what (the policy is checked here, and row-level security repeats it, migration 0007):
platform admins manage every integration; tenant admins manage their own tenant's, without a
``queue`` (tickets' queues are the platform's, as on tickets) or a rate limit of their own;
platform operators read every integration; tenant users and the service role nothing. Another
tenant's integration is a 404, never a 403. Every change is written to the configuration audit
log (``shared.audit.config``), without the key or its hash.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from psycopg import sql
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared import outbox
from shared.audit import config as audit_config
from shared.auth import Principal, Role
from shared.db import UnitOfWork
from shared.intake import pagerduty
from shared.intake.model import ENQUEUED_DETAIL_TYPE, INTAKE_WORKER, IntegrationRef
from shared.kernel import pagination
from shared.kernel.errors import Conflict, Forbidden, NotFound
from shared.kernel.ids import uuid7
from shared.kernel.text import drop_null_defaults
from shared.tickets.models import Cursor, Name, Tag, TenantId

ENTITY_TYPE = "integration"
DEFAULT_RATE_LIMIT_PER_MINUTE = 120
RATE_LIMIT_MAX = 100_000
_KEY_ALPHABET = "0123456789abcdef"

READERS = frozenset({Role.PLATFORM_ADMIN, Role.PLATFORM_OPERATOR, Role.TENANT_ADMIN})
WRITERS = frozenset({Role.PLATFORM_ADMIN, Role.TENANT_ADMIN})

# The categories of incidents: what machine events open (shared.tickets.models.SYSTEM_CATEGORIES).
IncidentCategory = Literal[
    "health", "pipeline_failure", "data_freshness", "schema_drift", "security_finding", "cost_anomaly"
]
Status = Literal["active", "revoked"]


# ---- models -------------------------------------------------------------------------------------------


class IntegrationCreate(BaseModel):
    """A new integration: its name, whose it is, and the defaults of the tickets its events open."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=drop_null_defaults)

    name: Name = Field(description="What sends through it, e.g. 'Prometheus Alertmanager (prod)'.")
    tenant_id: TenantId | None = Field(
        default=None,
        description="Whose events: a tenant, or none for platform-wide events (platform admins only)."
        " Tenant admins may leave it out (their tenant) or name only their own.",
    )
    category: IncidentCategory | None = Field(
        default=None, description="The category of the incidents its events open (an incident category)."
    )
    queue: Name | None = Field(default=None, description="The queue of its tickets (platform admins only).")
    tags: list[Tag] = Field(default_factory=list, max_length=50, description="Tags of its tickets.")
    rate_limit_per_minute: Annotated[int, Field(ge=1, le=RATE_LIMIT_MAX)] | None = Field(
        default=None,
        description="Events per minute its key may send before 429 (platform admins only); none: the"
        f" service's setting ({DEFAULT_RATE_LIMIT_PER_MINUTE} unless configured).",
    )

    @model_validator(mode="after")
    def _unique_tags(self) -> IntegrationCreate:
        self.tags = list(dict.fromkeys(self.tags))
        return self


class Integration(BaseModel):
    """An integration as every read shows it: never its routing key."""

    id: UUID
    name: str
    tenant_id: str | None = Field(description="Whose events it takes; null: platform-wide events.")
    category: str | None
    queue: str | None
    tags: list[str]
    rate_limit_per_minute: int | None = Field(description="Null: the service's setting.")
    status: Status = Field(description="active: its key is accepted; revoked: refused, for good.")
    routing_key_hint: str = Field(description="The last four characters of its current routing key.")
    created_at: datetime
    created_by: str
    rotated_at: datetime | None
    rotated_by: str | None
    revoked_at: datetime | None
    revoked_by: str | None


class IntegrationWithKey(Integration):
    """An integration just made or re-keyed, with its routing key: shown this once."""

    routing_key: str = Field(
        description="Send it as routing_key to POST /v2/enqueue. Shown only now: it is not stored, and"
        " cannot be read again (rotate the key if it is lost)."
    )


class IntegrationPage(BaseModel):
    items: list[Integration]
    next_cursor: Cursor | None


class IntegrationQuery(BaseModel):
    tenant_id: str | None = None
    status: Status | None = None
    limit: int = 50
    cursor: str | None = None


# ---- keys -----------------------------------------------------------------------------------------------


def new_routing_key() -> str:
    """A routing key: 32 hex digits (128 random bits), shaped like PagerDuty's."""
    return "".join(secrets.choice(_KEY_ALPHABET) for _ in range(pagerduty.ROUTING_KEY_LENGTH))


def key_hash(routing_key: str) -> str:
    """What is stored of a key: its SHA-256 in hex. A key is 128 random bits, so the digest needs
    no salt or slow hash to be irreversible, and it can be looked up by equality."""
    return hashlib.sha256(routing_key.encode()).hexdigest()


# ---- SQL -------------------------------------------------------------------------------------------------

_COLUMNS = (
    "id, tenant_id, name, category, queue, tags, rate_limit_per_minute, key_hint, created_at, created_by,"
    " rotated_at, rotated_by, revoked_at, revoked_by"
)
INSERT = f"""
INSERT INTO integration (id, tenant_id, name, category, queue, tags, rate_limit_per_minute, key_hash,
                         key_hint, created_at, created_by)
VALUES (%(id)s, %(tenant_id)s, %(name)s, %(category)s, %(queue)s, %(tags)s, %(rate_limit_per_minute)s,
        %(key_hash)s, %(key_hint)s, %(now)s, %(actor)s)
RETURNING {_COLUMNS}
"""
REVOKE = f"""
UPDATE integration SET revoked_at = %(now)s, revoked_by = %(actor)s
WHERE id = %(id)s AND revoked_at IS NULL
RETURNING {_COLUMNS}
"""
ROTATE = f"""
UPDATE integration SET key_hash = %(key_hash)s, key_hint = %(key_hint)s, rotated_at = %(now)s,
                       rotated_by = %(actor)s
WHERE id = %(id)s
RETURNING {_COLUMNS}
"""
# POST /v2/enqueue in one round trip: the active integration of the key's hash, and its call
# counted in this minute's window (the database's clock, the same for every function).
LOOKUP_AND_COUNT = """
WITH hit AS (
    SELECT id, tenant_id, name, category, queue, tags, rate_limit_per_minute
    FROM integration WHERE key_hash = %(key_hash)s AND revoked_at IS NULL
), counted AS (
    INSERT INTO integration_rate (integration_id, window_start, count)
    SELECT id, date_trunc('minute', statement_timestamp()), 1 FROM hit
    ON CONFLICT (integration_id, window_start) DO UPDATE SET count = integration_rate.count + 1
    RETURNING count, window_start
)
SELECT hit.*, counted.count, counted.window_start,
       ceil(extract(epoch FROM counted.window_start + interval '1 minute' - statement_timestamp()))::int
           AS retry_after
FROM hit, counted
"""
# When a new window starts, the integration's older windows are of no more use.
PURGE_WINDOWS = "DELETE FROM integration_rate WHERE integration_id = %(id)s AND window_start < %(window)s"


def _scope(principal: Principal) -> tuple[sql.Composable, dict[str, Any]]:
    """The first wall: platform readers see every integration, a tenant admin its tenant's."""
    if principal.is_platform:
        return sql.SQL("TRUE"), {}
    return sql.SQL("tenant_id = %(scope_tenant)s"), {"scope_tenant": principal.tenant}


def _model(row: dict[str, Any]) -> Integration:
    return Integration(
        id=row["id"],
        name=row["name"],
        tenant_id=row["tenant_id"],
        category=row["category"],
        queue=row["queue"],
        tags=list(row["tags"] or []),
        rate_limit_per_minute=row["rate_limit_per_minute"],
        status="revoked" if row["revoked_at"] is not None else "active",
        routing_key_hint=row["key_hint"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        rotated_at=row["rotated_at"],
        rotated_by=row["rotated_by"],
        revoked_at=row["revoked_at"],
        revoked_by=row["revoked_by"],
    )


def _audited(integration: Integration) -> dict[str, Any]:
    """The integration as the audit log keeps it: everything a read shows (never the key)."""
    return integration.model_dump(mode="json")


# ---- who may ---------------------------------------------------------------------------------------------


def _is_platform_admin(principal: Principal) -> bool:
    return Role.PLATFORM_ADMIN in principal.roles


# ---- the service -----------------------------------------------------------------------------------------


def create(
    uow: UnitOfWork,
    principal: Principal,
    request: IntegrationCreate,
    *,
    now: datetime,
    correlation_id: str | None = None,
) -> IntegrationWithKey:
    """A new integration and its routing key (shown only in what this returns)."""
    principal.require_any(WRITERS, "create integrations")
    tenant_id = request.tenant_id
    if not _is_platform_admin(principal):
        if tenant_id is None:
            tenant_id = principal.tenant
        elif tenant_id != principal.tenant:
            raise Forbidden("Tenant admins create integrations for their own tenant only.")
        if request.queue is not None:
            raise Forbidden("Only platform admins may set an integration's queue.")
        if request.rate_limit_per_minute is not None:
            raise Forbidden("Only platform admins may set an integration's rate limit.")
    routing_key = new_routing_key()
    row = uow.execute(
        INSERT,
        {
            "id": uuid7(),
            "tenant_id": tenant_id,
            "name": request.name,
            "category": request.category,
            "queue": request.queue,
            "tags": request.tags,
            "rate_limit_per_minute": request.rate_limit_per_minute,
            "key_hash": key_hash(routing_key),
            "key_hint": routing_key[-4:],
            "now": now,
            "actor": principal.sub,
        },
    ).fetchone()
    assert row is not None  # INSERT ... RETURNING
    created = _model(row)
    _log_change(uow, principal, "create", None, created, correlation_id=correlation_id, now=now)
    return IntegrationWithKey(**created.model_dump(), routing_key=routing_key)


def _log_change(
    uow: UnitOfWork,
    principal: Principal,
    action: str,
    before: Integration | None,
    after: Integration,
    *,
    correlation_id: str | None,
    now: datetime,
) -> None:
    """One entry of the configuration log for an integration (never its key)."""
    audit_config.record_change(
        uow,
        actor=principal.sub,
        entity_type=ENTITY_TYPE,
        entity_id=str(after.id),
        action=action,
        before=_audited(before) if before is not None else None,
        after=_audited(after),
        tenant_id=after.tenant_id,
        correlation_id=correlation_id,
        at=now,
    )


def _load(uow: UnitOfWork, principal: Principal, integration_id: str, *, lock: bool = False) -> Integration:
    try:
        wanted = UUID(integration_id)
    except ValueError:
        raise NotFound(f"No integration '{integration_id}'.") from None
    scope, params = _scope(principal)
    query = sql.SQL("SELECT {cols} FROM integration WHERE id = %(id)s AND {scope}{lock}").format(
        cols=sql.SQL(_COLUMNS), scope=scope, lock=sql.SQL(" FOR UPDATE" if lock else "")
    )
    row = uow.execute(query, {"id": wanted, **params}).fetchone()
    if row is None:
        raise NotFound(f"No integration '{integration_id}'.")
    return _model(row)


def get(uow: UnitOfWork, principal: Principal, integration_id: str) -> Integration:
    """One integration the principal may read; another tenant's (or no such) is NotFound."""
    principal.require_any(READERS, "read integrations")
    return _load(uow, principal, integration_id)


def list_page(uow: UnitOfWork, principal: Principal, query: IntegrationQuery) -> pagination.Page:
    """Newest first, in keyset pages (``next_cursor``), optionally one tenant's or one status."""
    principal.require_any(READERS, "read integrations")
    if query.tenant_id is not None and not principal.is_platform and query.tenant_id != principal.tenant:
        raise Forbidden("Only platform roles may list another tenant's integrations.")
    filters = {"tenant_id": query.tenant_id, "status": query.status}
    fingerprint = pagination.query_fingerprint({"integrations": principal.tenant, **filters})
    after = pagination.decode(query.cursor, fingerprint, pagination.IdPosition).id if query.cursor else None
    scope, params = _scope(principal)
    conditions: list[sql.Composable] = [scope]
    if query.tenant_id is not None:
        conditions.append(sql.SQL("tenant_id = %(tenant_id)s"))
    if query.status == "active":
        conditions.append(sql.SQL("revoked_at IS NULL"))
    elif query.status == "revoked":
        conditions.append(sql.SQL("revoked_at IS NOT NULL"))
    if after is not None:
        conditions.append(sql.SQL("id < %(after)s"))
    statement = sql.SQL(
        "SELECT {cols} FROM integration WHERE {where} ORDER BY id DESC LIMIT %(limit)s"
    ).format(cols=sql.SQL(_COLUMNS), where=sql.SQL(" AND ").join(conditions))
    rows = uow.execute(
        statement, {**params, "tenant_id": query.tenant_id, "after": after, "limit": query.limit + 1}
    ).fetchall()
    items = [_model(row) for row in rows[: query.limit]]
    return pagination.page(
        items,
        more=len(rows) > query.limit,
        position=lambda item: pagination.IdPosition(id=item.id),
        fingerprint=fingerprint,
    )


def revoke(
    uow: UnitOfWork,
    principal: Principal,
    integration_id: str,
    *,
    now: datetime,
    correlation_id: str | None = None,
) -> Integration:
    """Refuse the integration's key from now on, for good; the row stays. Revoking a revoked
    integration changes nothing (and is not audited again)."""
    principal.require_any(WRITERS, "revoke integrations")
    before = _load(uow, principal, integration_id, lock=True)
    if before.status == "revoked":
        return before
    row = uow.execute(REVOKE, {"id": before.id, "now": now, "actor": principal.sub}).fetchone()
    assert row is not None  # locked above, and not revoked
    after = _model(row)
    _log_change(uow, principal, "revoke", before, after, correlation_id=correlation_id, now=now)
    return after


def rotate_key(
    uow: UnitOfWork,
    principal: Principal,
    integration_id: str,
    *,
    now: datetime,
    correlation_id: str | None = None,
) -> IntegrationWithKey:
    """A new routing key for the integration (returned this once); the old one stops working at
    once. A revoked integration keeps no key (409: create another)."""
    principal.require_any(WRITERS, "rotate integration keys")
    before = _load(uow, principal, integration_id, lock=True)
    if before.status == "revoked":
        raise Conflict("The integration is revoked; create a new one instead of rotating its key.")
    routing_key = new_routing_key()
    row = uow.execute(
        ROTATE,
        {
            "id": before.id,
            "key_hash": key_hash(routing_key),
            "key_hint": routing_key[-4:],
            "now": now,
            "actor": principal.sub,
        },
    ).fetchone()
    assert row is not None  # locked above
    after = _model(row)
    _log_change(uow, principal, "rotate_key", before, after, correlation_id=correlation_id, now=now)
    return IntegrationWithKey(**after.model_dump(), routing_key=routing_key)


# ---- taking an event in -----------------------------------------------------------------------------------


def enqueue(
    uow: UnitOfWork,
    event: pagerduty.PagerDutyTrigger | pagerduty.PagerDutyFollowUp,
    *,
    received_at: datetime,
    default_limit: int = DEFAULT_RATE_LIMIT_PER_MINUTE,
) -> str:
    """Queue a validated PagerDuty event for the intake worker, in ``uow`` (the service's own
    scope); its dedup key (generated for a trigger without one).

    The routing key must be an active integration's (``pagerduty.InvalidEvent`` otherwise, as
    PagerDuty answers an unknown key), and the call is counted in the integration's window of
    this minute: past its limit (the integration's, else ``default_limit``) it is
    ``pagerduty.Throttled`` with the seconds to the window's end. Raising rolls the transaction
    back, so a refused event leaves nothing queued (and is not counted). The message carries the
    integration's tenant: its events open tickets in that tenant only (none: platform-wide).
    """
    hit = uow.execute(LOOKUP_AND_COUNT, {"key_hash": key_hash(event.routing_key)}).fetchone()
    if hit is None:
        raise pagerduty.InvalidEvent([pagerduty.INVALID_ROUTING_KEY])
    limit = hit["rate_limit_per_minute"] or default_limit
    if hit["count"] == 1:
        uow.execute(PURGE_WINDOWS, {"id": hit["id"], "window": hit["window_start"]})
    if hit["count"] > limit:
        raise pagerduty.Throttled(limit=limit, retry_after=int(hit["retry_after"]))
    dedup_key = pagerduty.dedup_key_of(event) or pagerduty.new_dedup_key()
    integration = IntegrationRef(
        id=str(hit["id"]),
        name=hit["name"],
        tenant_id=hit["tenant_id"],
        category=hit["category"],
        queue=hit["queue"],
        tags=list(hit["tags"] or []),
    )
    outbox.record(
        uow,
        detail_type=ENQUEUED_DETAIL_TYPE,
        detail={
            "integration": integration.model_dump(mode="json"),
            "received_at": received_at.isoformat(),
            "event": pagerduty.forwarded(event, dedup_key),
        },
        aggregate_type=ENTITY_TYPE,
        aggregate_id=str(hit["id"]),
        tenant_id=hit["tenant_id"],
        visibility=outbox.INTERNAL,
        destination=outbox.queue(INTAKE_WORKER),
    )
    return dedup_key
