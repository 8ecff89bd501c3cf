"""Webhook endpoints: who registers them, their URLs vetted, their signing secrets shown once.

An endpoint belongs to a tenant (it receives that tenant's tickets' events, as a tenant may see
them) or to the platform (``tenant_id`` null: every tenant's tickets). Who may do what (checked
here; row-level security repeats it, migration 0011):

- platform admins manage every endpoint, for every tenant or for one;
- tenant admins manage their own tenant's;
- platform operators read every endpoint and quarantine one (a pause with a reason its owner
  sees); only its owner's ``resume`` lifts it;
- tenant users and the service role: nothing. Another tenant's endpoint is a 404, never a 403.

The URL is vetted when it is set (``urls.vet_url``: https, and every address the host resolves to
public) and again by the dispatcher at each delivery, since DNS can change. Every change is in
the configuration audit log, without the secret.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg import sql

from shared.audit import config as audit_config
from shared.auth import Principal, Role
from shared.db import UnitOfWork
from shared.kernel import pagination
from shared.kernel.errors import Conflict, Forbidden, NotFound, PreconditionFailed, ValidationFailed
from shared.kernel.ids import uuid7
from shared.webhooks import signing, urls
from shared.webhooks.model import (
    QuarantineReason,
    StateReason,
    Webhook,
    WebhookCreate,
    WebhookQuery,
    WebhookUpdate,
    WebhookWithSecret,
)

ENTITY_TYPE = "webhook_endpoint"
ROTATION_OVERLAP = timedelta(hours=24)

READERS = frozenset({Role.PLATFORM_ADMIN, Role.PLATFORM_OPERATOR, Role.TENANT_ADMIN})
OWNERS = frozenset({Role.PLATFORM_ADMIN, Role.TENANT_ADMIN})
QUARANTINERS = frozenset({Role.PLATFORM_ADMIN, Role.PLATFORM_OPERATOR})

Resolver = Callable[[str, int], list[str]]

# ---- SQL ---------------------------------------------------------------------------------------------

COLUMNS = (
    "id, tenant_id, url, description, event_types, state, state_reason, state_changed_at,"
    " state_changed_by, secret_hint, previous_secret_expires_at, failing_since, version, created_at,"
    " created_by, updated_at, updated_by"
)
INSERT = f"""
INSERT INTO webhook_endpoint (id, tenant_id, url, description, event_types, secret, secret_hint,
                              created_at, created_by, updated_at, updated_by)
VALUES (%(id)s, %(tenant_id)s, %(url)s, %(description)s, %(event_types)s, %(secret)s, %(secret_hint)s,
        %(now)s, %(actor)s, %(now)s, %(actor)s)
RETURNING {COLUMNS}
"""
ROTATE = f"""
UPDATE webhook_endpoint
SET previous_secret = secret, previous_secret_expires_at = %(expires_at)s, secret = %(secret)s,
    secret_hint = %(secret_hint)s, version = version + 1, updated_at = %(now)s, updated_by = %(actor)s
WHERE id = %(id)s
RETURNING {COLUMNS}
"""
SET_STATE = f"""
UPDATE webhook_endpoint
SET state = %(state)s, state_reason = %(reason)s, state_changed_at = %(now)s, state_changed_by = %(actor)s,
    failing_since = CASE WHEN %(state)s = 'enabled' THEN NULL ELSE failing_since END,
    version = version + 1, updated_at = %(now)s, updated_by = %(actor)s
WHERE id = %(id)s
RETURNING {COLUMNS}
"""
DELETE = "DELETE FROM webhook_endpoint WHERE id = %(id)s"


def _scope(principal: Principal) -> tuple[sql.Composable, dict[str, Any]]:
    """The first wall: platform readers see every endpoint, a tenant admin its tenant's."""
    if principal.is_platform:
        return sql.SQL("TRUE"), {}
    return sql.SQL("tenant_id = %(scope_tenant)s"), {"scope_tenant": principal.tenant}


def model_of(row: dict[str, Any]) -> Webhook:
    return Webhook.model_validate({**row, "event_types": list(row["event_types"] or [])})


def _audited(endpoint: Webhook) -> dict[str, Any]:
    """The endpoint as the audit log keeps it: everything a read shows (never the secret)."""
    return endpoint.model_dump(mode="json")


def _vetted(url: str, policy: urls.UrlPolicy, resolve: Resolver | None, *, loc: str = "url") -> str:
    try:
        vetted = urls.vet_url(url, policy, resolve=resolve or urls.default_resolver)
    except urls.UrlRefused as refused:
        raise ValidationFailed(
            f"The URL is refused: {refused}",
            errors=[{"loc": ["body", loc], "msg": str(refused), "type": f"url_{refused.reason}"}],
        ) from None
    return vetted.url


def log_change(
    uow: UnitOfWork,
    principal: Principal,
    action: str,
    before: Webhook | None,
    after: Webhook | None,
    *,
    correlation_id: str | None,
    now: datetime,
) -> None:
    subject = after or before
    assert subject is not None
    audit_config.record_change(
        uow,
        actor=principal.sub,
        entity_type=ENTITY_TYPE,
        entity_id=str(subject.id),
        action=action,
        before=_audited(before) if before is not None else None,
        after=_audited(after) if after is not None else None,
        tenant_id=subject.tenant_id,
        correlation_id=correlation_id,
        at=now,
    )


def load(uow: UnitOfWork, principal: Principal, endpoint_id: str, *, lock: bool = False) -> Webhook:
    try:
        wanted = UUID(endpoint_id)
    except ValueError:
        raise NotFound(f"No webhook endpoint '{endpoint_id}'.") from None
    scope, params = _scope(principal)
    query = sql.SQL("SELECT {cols} FROM webhook_endpoint WHERE id = %(id)s AND {scope}{lock}").format(
        cols=sql.SQL(COLUMNS), scope=scope, lock=sql.SQL(" FOR UPDATE" if lock else "")
    )
    row = uow.execute(query, {"id": wanted, **params}).fetchone()
    if row is None:
        raise NotFound(f"No webhook endpoint '{endpoint_id}'.")
    return model_of(row)


def _check_version(endpoint: Webhook, if_match: int | None) -> None:
    if if_match is not None and if_match != endpoint.version:
        raise PreconditionFailed(
            f"The endpoint is at version {endpoint.version}, not {if_match}; re-read it and retry.",
            current_version=endpoint.version,
        )


# ---- the service -------------------------------------------------------------------------------------


def create(
    uow: UnitOfWork,
    principal: Principal,
    request: WebhookCreate,
    *,
    url_policy: urls.UrlPolicy,
    now: datetime,
    correlation_id: str | None = None,
    resolve: Resolver | None = None,
) -> WebhookWithSecret:
    """A new endpoint and its signing secret (shown only in what this returns)."""
    principal.require_any(OWNERS, "create webhook endpoints")
    tenant_id = request.tenant_id
    if Role.PLATFORM_ADMIN not in principal.roles:
        if tenant_id is None:
            tenant_id = principal.tenant
        elif tenant_id != principal.tenant:
            raise Forbidden("Tenant admins create webhook endpoints for their own tenant only.")
    url = _vetted(request.url, url_policy, resolve)
    secret = signing.new_secret()
    row = uow.execute(
        INSERT,
        {
            "id": uuid7(),
            "tenant_id": tenant_id,
            "url": url,
            "description": request.description,
            "event_types": request.event_types,
            "secret": secret,
            "secret_hint": secret[-4:],
            "now": now,
            "actor": principal.sub,
        },
    ).fetchone()
    assert row is not None  # INSERT ... RETURNING
    created = model_of(row)
    log_change(uow, principal, "create", None, created, correlation_id=correlation_id, now=now)
    return WebhookWithSecret(**created.model_dump(), secret=secret)


def get(uow: UnitOfWork, principal: Principal, endpoint_id: str) -> Webhook:
    """One endpoint the principal may read; another tenant's (or no such) is NotFound."""
    principal.require_any(READERS, "read webhook endpoints")
    return load(uow, principal, endpoint_id)


def list_page(uow: UnitOfWork, principal: Principal, query: WebhookQuery) -> pagination.Page:
    """Newest first, in keyset pages (``next_cursor``), optionally one tenant's or one state."""
    principal.require_any(READERS, "read webhook endpoints")
    if query.tenant_id is not None and not principal.is_platform and query.tenant_id != principal.tenant:
        raise Forbidden("Only platform roles may list another tenant's webhook endpoints.")
    filters = {"tenant_id": query.tenant_id, "state": query.state, "failing": query.failing}
    fingerprint = pagination.query_fingerprint({"webhooks": principal.tenant, **filters})
    after = pagination.decode(query.cursor, fingerprint, pagination.IdPosition).id if query.cursor else None
    scope, params = _scope(principal)
    conditions: list[sql.Composable] = [scope]
    if query.tenant_id is not None:
        conditions.append(sql.SQL("tenant_id = %(tenant_id)s"))
    if query.state is not None:
        conditions.append(sql.SQL("state = %(state)s"))
    if query.failing is not None:
        conditions.append(sql.SQL("failing_since IS NOT NULL" if query.failing else "failing_since IS NULL"))
    if after is not None:
        conditions.append(sql.SQL("id < %(after)s"))
    statement = sql.SQL(
        "SELECT {cols} FROM webhook_endpoint WHERE {where} ORDER BY id DESC LIMIT %(limit)s"
    ).format(cols=sql.SQL(COLUMNS), where=sql.SQL(" AND ").join(conditions))
    rows = uow.execute(
        statement,
        {**params, **filters, "after": after, "limit": query.limit + 1},
    ).fetchall()
    items = [model_of(row) for row in rows[: query.limit]]
    return pagination.page(
        items,
        more=len(rows) > query.limit,
        position=lambda item: pagination.IdPosition(id=item.id),
        fingerprint=fingerprint,
    )


def update(
    uow: UnitOfWork,
    principal: Principal,
    endpoint_id: str,
    change: WebhookUpdate,
    *,
    url_policy: urls.UrlPolicy,
    if_match: int | None,
    now: datetime,
    correlation_id: str | None = None,
    resolve: Resolver | None = None,
) -> Webhook:
    """Change the members given (a new URL is vetted as on create)."""
    principal.require_any(OWNERS, "change webhook endpoints")
    before = load(uow, principal, endpoint_id, lock=True)
    _check_version(before, if_match)
    values: dict[str, Any] = {}
    if "url" in change.model_fields_set and change.url is not None:
        values["url"] = _vetted(change.url, url_policy, resolve)
    if "event_types" in change.model_fields_set and change.event_types is not None:
        values["event_types"] = change.event_types
    if "description" in change.model_fields_set:
        values["description"] = change.description
    if all(getattr(before, k) == v for k, v in values.items()):
        return before
    sets = [sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in values]
    statement = sql.SQL(
        "UPDATE webhook_endpoint SET {sets}, version = version + 1, updated_at = %(now)s,"
        " updated_by = %(actor)s WHERE id = %(id)s RETURNING {cols}"
    ).format(sets=sql.SQL(", ").join(sets), cols=sql.SQL(COLUMNS))
    row = uow.execute(statement, {**values, "id": before.id, "now": now, "actor": principal.sub}).fetchone()
    assert row is not None  # locked above
    after = model_of(row)
    log_change(uow, principal, "update", before, after, correlation_id=correlation_id, now=now)
    return after


def delete(
    uow: UnitOfWork,
    principal: Principal,
    endpoint_id: str,
    *,
    if_match: int | None,
    now: datetime,
    correlation_id: str | None = None,
) -> Webhook:
    """Remove the endpoint: nothing more is delivered to it (the configuration log keeps it).
    Returns it as it was."""
    principal.require_any(OWNERS, "delete webhook endpoints")
    before = load(uow, principal, endpoint_id, lock=True)
    _check_version(before, if_match)
    uow.execute(DELETE, {"id": before.id})
    log_change(uow, principal, "delete", before, None, correlation_id=correlation_id, now=now)
    return before


def rotate_secret(
    uow: UnitOfWork,
    principal: Principal,
    endpoint_id: str,
    *,
    now: datetime,
    correlation_id: str | None = None,
) -> WebhookWithSecret:
    """A new signing secret (returned this once). For 24 hours the previous one signs too, and
    each delivery carries both signatures, so receivers can switch without missing one."""
    principal.require_any(OWNERS, "rotate webhook secrets")
    before = load(uow, principal, endpoint_id, lock=True)
    secret = signing.new_secret()
    row = uow.execute(
        ROTATE,
        {
            "id": before.id,
            "secret": secret,
            "secret_hint": secret[-4:],
            "expires_at": now + ROTATION_OVERLAP,
            "now": now,
            "actor": principal.sub,
        },
    ).fetchone()
    assert row is not None  # locked above
    after = model_of(row)
    log_change(uow, principal, "rotate_secret", before, after, correlation_id=correlation_id, now=now)
    return WebhookWithSecret(**after.model_dump(), secret=secret)


def set_state(
    uow: UnitOfWork,
    principal: Principal,
    before: Webhook,
    state: str,
    reason: str | None,
    action: str,
    *,
    now: datetime,
    correlation_id: str | None,
) -> Webhook:
    row = uow.execute(
        SET_STATE, {"id": before.id, "state": state, "reason": reason, "now": now, "actor": principal.sub}
    ).fetchone()
    assert row is not None  # locked by the caller
    after = model_of(row)
    log_change(uow, principal, action, before, after, correlation_id=correlation_id, now=now)
    return after


def pause(
    uow: UnitOfWork,
    principal: Principal,
    endpoint_id: str,
    request: StateReason,
    *,
    now: datetime,
    correlation_id: str | None = None,
) -> Webhook:
    """Its owner pauses it: deliveries wait (they are not dropped) until ``resume``. Pausing a
    paused endpoint changes nothing; a quarantined or disabled one stays as it is (409)."""
    principal.require_any(OWNERS, "pause webhook endpoints")
    before = load(uow, principal, endpoint_id, lock=True)
    if before.state == "paused":
        return before
    if before.state != "enabled":
        raise Conflict(f"The endpoint is {before.state}; resume it first.")
    return set_state(
        uow, principal, before, "paused", request.reason, "pause", now=now, correlation_id=correlation_id
    )


def quarantine(
    uow: UnitOfWork,
    principal: Principal,
    endpoint_id: str,
    request: QuarantineReason,
    *,
    now: datetime,
    correlation_id: str | None = None,
) -> Webhook:
    """An operator stops deliveries to an endpoint (they wait), with a reason its owner sees."""
    principal.require_any(QUARANTINERS, "quarantine webhook endpoints")
    before = load(uow, principal, endpoint_id, lock=True)
    if before.state == "quarantined" and before.state_reason == request.reason:
        return before
    return set_state(
        uow,
        principal,
        before,
        "quarantined",
        request.reason,
        "quarantine",
        now=now,
        correlation_id=correlation_id,
    )


def resume(
    uow: UnitOfWork,
    principal: Principal,
    endpoint_id: str,
    *,
    now: datetime,
    correlation_id: str | None = None,
) -> Webhook:
    """Its owner re-enables it, from paused, quarantined or disabled: waiting deliveries go out."""
    principal.require_any(OWNERS, "resume webhook endpoints")
    before = load(uow, principal, endpoint_id, lock=True)
    if before.state == "enabled":
        return before
    return set_state(
        uow, principal, before, "enabled", None, "resume", now=now, correlation_id=correlation_id
    )
