"""Idempotency keys for POSTs, stored in PostgreSQL beside the effect they protect.

The key row is inserted in the same transaction as the change. A concurrent duplicate blocks
on the key's unique index until the first transaction ends: if it committed, the duplicate
gets the stored response; if it rolled back, the duplicate goes ahead. A duplicate that waits
longer than the lock timeout gets 409. Keys are scoped per principal and kept for at least
the configured TTL (24 h by default); the relay purges expired ones.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from psycopg import errors as pg_errors

from shared import db
from shared.auth import Principal
from shared.kernel.errors import BadRequest, IdempotencyInProgress, IdempotencyKeyReused

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")

DROP_EXPIRED = (
    "DELETE FROM idempotency_key WHERE principal = %(principal)s AND key = %(key)s AND expires_at < now()"
)
CLAIM = """
INSERT INTO idempotency_key (principal, key, request_hash, expires_at)
VALUES (%(principal)s, %(key)s, %(hash)s, now() + make_interval(hours => %(ttl)s))
ON CONFLICT (principal, key) DO NOTHING
RETURNING key
"""
READ = """
SELECT request_hash, status_code, response_body, headers FROM idempotency_key
WHERE principal = %(principal)s AND key = %(key)s
"""
COMPLETE = """
UPDATE idempotency_key SET status_code = %(status)s, response_body = %(body)s, headers = %(headers)s
WHERE principal = %(principal)s AND key = %(key)s
"""
PURGE = """
WITH gone AS (DELETE FROM idempotency_key WHERE expires_at < now() RETURNING 1)
SELECT count(*) AS purged FROM gone
"""


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: str  # the JSON text exactly as first sent
    headers: dict[str, str]


def validate_key(key: str) -> str:
    if not _KEY.match(key):
        raise BadRequest("Idempotency-Key must be 1-255 visible ASCII characters.")
    return key


def request_fingerprint(method: str, path: str, body: Any) -> str:
    """Same method, path and (canonical JSON) body → same fingerprint."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def claim(
    uow: db.UnitOfWork, principal: Principal, key: str, fingerprint: str, *, ttl_hours: int, wait: str = "5s"
) -> StoredResponse | None:
    """Claim ``key`` for this request, or return the stored response of an earlier one.

    Raises IdempotencyKeyReused (422) when the key was used with another request, and
    IdempotencyInProgress (409) when the first request is still running past ``wait``.
    """
    params = {"principal": principal.scope_key, "key": key, "hash": fingerprint, "ttl": ttl_hours}
    uow.execute("SELECT set_config('lock_timeout', %s, true)", (wait,))
    uow.execute(DROP_EXPIRED, params)
    try:
        with uow.savepoint():  # a savepoint: a lock timeout here leaves the outer transaction usable
            claimed = uow.execute(CLAIM, params).fetchone()
    except pg_errors.LockNotAvailable as exc:
        raise IdempotencyInProgress(
            "A request with this Idempotency-Key is still in progress; retry later."
        ) from exc
    finally:
        uow.execute("SELECT set_config('lock_timeout', '0', true)")
    if claimed:
        return None
    row = uow.execute(READ, params).fetchone()
    if row is None:  # expired and purged between the two statements: treat as new
        raise IdempotencyInProgress("The Idempotency-Key is being recycled; retry the request.")
    if row["request_hash"] != fingerprint:
        raise IdempotencyKeyReused("This Idempotency-Key was already used with a different request.")
    if row["status_code"] is None:
        raise IdempotencyInProgress("A request with this Idempotency-Key is still in progress; retry later.")
    return StoredResponse(int(row["status_code"]), row["response_body"], dict(row["headers"] or {}))


def complete(uow: db.UnitOfWork, principal: Principal, key: str, response: StoredResponse) -> None:
    uow.execute(
        COMPLETE,
        {
            "principal": principal.scope_key,
            "key": key,
            "status": response.status,
            "body": response.body,
            "headers": db.jsonb(response.headers),
        },
    )


def purge_expired() -> int:
    with db.transaction(Principal.system("idempotency")) as uow:
        row = uow.execute(PURGE).fetchone()
        return int(row["purged"]) if row else 0
