"""The audit trail: every change appends hash-chained ticket_event rows.

Each row's hash is SHA-256 over the previous row's hash and the row's canonical JSON, so an
edited, removed or reordered row breaks every hash after it. The database refuses UPDATE and
DELETE on ticket_event; ``verify_chain`` and ``check_stored`` detect what it cannot refuse (a
superuser's edits). ``functions/audit_verify`` runs ``check_stored`` every day and on demand.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

if TYPE_CHECKING:
    from shared.db import UnitOfWork

GENESIS = "0" * 64

INSERT_EVENT = """
INSERT INTO ticket_event
    (ticket_id, seq, type, actor, at, changes, visibility, correlation_id, prev_hash, hash, public_seq)
VALUES (%(ticket_id)s, %(seq)s, %(type)s, %(actor)s, %(at)s, %(changes)s, %(visibility)s,
        %(correlation_id)s, %(prev_hash)s, %(hash)s, %(public_seq)s)
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
    found = first_break(rows)
    return found[0] if found else None


def first_break(rows: Iterable[Mapping[str, Any]]) -> tuple[int, str] | None:
    """(seq, what is wrong) for the first row that breaks the chain, or None if it holds."""
    prev_hash, prev_seq = GENESIS, 0
    for row in rows:
        seq = int(row["seq"])
        if seq != prev_seq + 1:
            return seq, f"event {seq} follows event {prev_seq}: the trail has a gap"
        if row["prev_hash"] != prev_hash:
            return seq, f"event {seq} does not carry the hash of the event before it"
        if chain_hash(prev_hash, _payload(row)) != row["hash"]:
            return seq, f"event {seq} does not match its hash: its content was changed"
        prev_hash, prev_seq = row["hash"], seq
    return None


# -- checking what is stored ------------------------------------------------------------------

_TICKETS = """
SELECT id, key, tenant_id, audit_seq, audit_hash FROM ticket
WHERE {where}
ORDER BY id
LIMIT %(limit)s
"""

_TRAILS = """
SELECT ticket_id, seq, type, actor, at, changes, visibility, correlation_id, prev_hash, hash
FROM ticket_event
WHERE ticket_id = ANY(%(ids)s)
ORDER BY ticket_id, seq
"""


@dataclass(frozen=True, slots=True)
class ChainBreak:
    ticket_id: UUID
    key: str
    tenant_id: str | None
    seq: int | None  # the first event that breaks the chain; None when only the ticket's head disagrees
    reason: str


@dataclass(frozen=True, slots=True)
class CheckResult:
    tickets: int
    events: int
    broken: list[ChainBreak]
    next_after: UUID | None  # the last ticket checked, when a next batch may follow


def check_stored(
    uow: UnitOfWork,
    *,
    ticket: UUID | int | None = None,
    tenant_id: str | None = None,
    updated_since: datetime | None = None,
    after: UUID | None = None,
    limit: int = 500,
) -> CheckResult:
    """Verify the stored trails of up to ``limit`` tickets, in id order after ``after``.

    ``ticket`` is one ticket's id, or its key number (42 for TCK-42). Each trail must chain from
    the genesis hash, and its last event must be the one the ticket row names as its head
    (``audit_seq``/``audit_hash``, written in the same transaction as every event), so that
    events removed from the end are found too. ``uow`` must see every row: a platform scope.
    """
    conditions = (
        ("id = %(ticket)s" if isinstance(ticket, UUID) else "key_num = %(ticket)s", "ticket", ticket),
        ("tenant_id = %(tenant_id)s", "tenant_id", tenant_id),
        ("updated_at >= %(updated_since)s", "updated_since", updated_since),
        ("id > %(after)s", "after", after),
    )
    where = ["TRUE", *(condition for condition, _, value in conditions if value is not None)]
    params: dict[str, Any] = {"limit": limit} | {n: v for _, n, v in conditions if v is not None}
    tickets = uow.execute(_TICKETS.format(where=" AND ".join(where)), params).fetchall()
    if not tickets:
        return CheckResult(tickets=0, events=0, broken=[], next_after=None)
    trails: dict[UUID, list[dict[str, Any]]] = {t["id"]: [] for t in tickets}
    events = 0
    for row in uow.execute(_TRAILS, {"ids": list(trails)}):
        trails[row["ticket_id"]].append(row)
        events += 1
    broken: list[ChainBreak] = []
    for t in tickets:
        trail = trails[t["id"]]
        found = first_break(trail)
        if found is None:
            last_seq, last_hash = (trail[-1]["seq"], trail[-1]["hash"]) if trail else (0, GENESIS)
            if (t["audit_seq"], t["audit_hash"]) != (last_seq, last_hash):
                reason = (
                    f"the ticket names event {t['audit_seq']} as its last, but its trail ends at {last_seq}"
                    if t["audit_seq"] != last_seq
                    else f"the ticket's head hash differs from event {last_seq}'s hash"
                )
                broken.append(ChainBreak(t["id"], t["key"], t["tenant_id"], None, reason))
        else:
            broken.append(ChainBreak(t["id"], t["key"], t["tenant_id"], found[0], found[1]))
    more = len(tickets) == limit and ticket is None
    return CheckResult(
        tickets=len(tickets), events=events, broken=broken, next_after=tickets[-1]["id"] if more else None
    )
