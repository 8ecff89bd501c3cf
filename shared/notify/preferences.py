"""Each person's notification preferences: their address and the e-mails they do not want, read
and replaced by themselves only (``/me/notification-preferences``), read by the notify worker.

A person is (tenant or none, subject): a tenant person under their tenant, a platform person under
none. Their row's key is their principal's scope key (``Principal.scope_key``), which every
transaction also carries as ``app.principal``: the queries look a person up by it, and row-level
security (migration 0013) lets a principal's transaction see and write that row only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from shared.auth import Principal
from shared.auth.principal import scope_key
from shared.db import UnitOfWork
from shared.notify.model import NotificationPreferences, StoredPreferences

__all__ = ["NotificationPreferences", "StoredPreferences", "for_subjects", "get", "key", "replace"]

SELECT_OWN = "SELECT email, opt_out, updated_at FROM notification_preference WHERE owner_key = %(key)s"
SELECT_MANY = "SELECT owner_key, email, opt_out FROM notification_preference WHERE owner_key = ANY(%(keys)s)"
UPSERT = """
INSERT INTO notification_preference (owner_key, tenant_id, subject, email, opt_out, updated_at)
VALUES (%(key)s, %(tenant_id)s, %(subject)s, %(email)s, %(opt_out)s, %(now)s)
ON CONFLICT (owner_key) DO UPDATE
    SET email = EXCLUDED.email, opt_out = EXCLUDED.opt_out, updated_at = EXCLUDED.updated_at
RETURNING email, opt_out, updated_at
"""


def key(tenant_id: str | None, subject: str) -> str:
    """A person's key: the scope key of their principal (a token's principal is a platform one
    exactly when it has no tenant: ``Principal.from_claims``)."""
    return scope_key(tenant_id, subject, tenant_id is None)


def get(uow: UnitOfWork, principal: Principal) -> StoredPreferences:
    """The principal's own preferences; the defaults (no address, no opt-out) if never saved."""
    row = uow.execute(SELECT_OWN, {"key": principal.scope_key}).fetchone()
    return StoredPreferences.model_validate(row) if row else StoredPreferences()


def replace(
    uow: UnitOfWork, principal: Principal, prefs: NotificationPreferences, *, now: datetime
) -> StoredPreferences:
    """Replace the principal's own preferences with ``prefs`` (the whole document)."""
    row = uow.execute(
        UPSERT,
        {
            "key": principal.scope_key,
            "tenant_id": principal.tenant,
            "subject": principal.sub,
            "email": prefs.email,
            "opt_out": list(prefs.opt_out),
            "now": now,
        },
    ).fetchone()
    return StoredPreferences.model_validate(row)


def for_subjects(
    uow: UnitOfWork, people: Sequence[tuple[str | None, str]]
) -> dict[tuple[str | None, str], NotificationPreferences]:
    """The preferences of each (tenant or none, subject) that saved some; those who never did are
    absent (their defaults: no address, no opt-out). The notify worker's read, as the service."""
    keys = {key(tenant, subject): (tenant, subject) for tenant, subject in people}
    if not keys:
        return {}
    rows = uow.execute(SELECT_MANY, {"keys": list(keys)}).fetchall()
    return {
        keys[row["owner_key"]]: NotificationPreferences.model_construct(
            email=row["email"], opt_out=list(row["opt_out"])
        )
        for row in rows
    }
