"""The audit trail: every change appends hash-chained ticket_event rows.

Each row's hash is SHA-256 over the previous row's hash and the row's canonical JSON, so an
edited, removed or reordered row breaks every hash after it. The database refuses UPDATE and
DELETE on ticket_event; ``verify_chain`` detects what it cannot refuse (a superuser's edits).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

GENESIS = "0" * 64

INSERT_EVENT = """
INSERT INTO ticket_event
    (ticket_id, seq, type, actor, at, changes, visibility, correlation_id, prev_hash, hash)
VALUES (%(ticket_id)s, %(seq)s, %(type)s, %(actor)s, %(at)s, %(changes)s, %(visibility)s,
        %(correlation_id)s, %(prev_hash)s, %(hash)s)
"""


@dataclass(frozen=True, slots=True)
class AuditEvent:
    ticket_id: UUID
    seq: int
    type: str
    actor: str
    at: datetime
    changes: dict[str, Any]
    visibility: str
    correlation_id: str | None
    prev_hash: str
    hash: str


def canonical(
    *,
    ticket_id: UUID | str,
    seq: int,
    type: str,
    actor: str,
    at: datetime,
    changes: Mapping[str, Any],
    visibility: str,
    correlation_id: str | None,
) -> bytes:
    body = {
        "ticket_id": str(ticket_id),
        "seq": seq,
        "type": type,
        "actor": actor,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "changes": changes,
        "visibility": visibility,
        "correlation_id": correlation_id,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def chain_hash(prev_hash: str, payload: bytes) -> str:
    return hashlib.sha256(prev_hash.encode() + payload).hexdigest()


def next_event(
    *,
    ticket_id: UUID,
    prev_seq: int,
    prev_hash: str,
    type: str,
    actor: str,
    at: datetime,
    changes: dict[str, Any],
    visibility: str = "public",
    correlation_id: str | None = None,
) -> AuditEvent:
    fields: dict[str, Any] = {
        "ticket_id": ticket_id,
        "seq": prev_seq + 1,
        "type": type,
        "actor": actor,
        "at": at,
        "changes": changes,
        "visibility": visibility,
        "correlation_id": correlation_id,
    }
    return AuditEvent(**fields, prev_hash=prev_hash, hash=chain_hash(prev_hash, _payload(fields)))


def _payload(row: Mapping[str, Any]) -> bytes:
    return canonical(**{name: row[name] for name in _HASHED})


_HASHED = ("ticket_id", "seq", "type", "actor", "at", "changes", "visibility", "correlation_id")


def verify_chain(rows: Iterable[Mapping[str, Any]]) -> int | None:
    """The seq of the first row that breaks the chain, or None if the whole chain holds.

    ``rows`` are one ticket's full trail in seq order (as a platform principal reads it).
    """
    prev_hash, prev_seq = GENESIS, 0
    for row in rows:
        if row["seq"] != prev_seq + 1 or row["prev_hash"] != prev_hash:
            return int(row["seq"])
        if chain_hash(prev_hash, _payload(row)) != row["hash"]:
            return int(row["seq"])
        prev_hash, prev_seq = row["hash"], row["seq"]
    return None
