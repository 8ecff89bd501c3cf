"""What intake keeps besides tickets: each ticket's occurrence log (``intake_event`` rows) and
the events it refused (``intake_rejection``), and reading them.

Occurrences follow their ticket's visibility (a tenant reads those of its own visible tickets;
row-level security repeats it); rejections are the platform's to read.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from shared.auth import Principal
from shared.db import UnitOfWork
from shared.kernel import pagination
from shared.kernel.errors import BadRequest
from shared.tickets import repository as tickets

PAYLOAD_HEAD_BYTES = 4096


class Occurrence(BaseModel):
    """One event of a ticket's problem, as intake took it."""

    id: int
    at: datetime
    received_at: datetime
    source: str
    detail_type: str
    action: str
    outcome: str
    summary: str | None
    severity: str | None
    details: dict[str, Any]


class OccurrencePage(BaseModel):
    items: list[Occurrence]
    next_cursor: str | None


class Rejection(BaseModel):
    """An event intake refused: where it came from, why, and enough of it to find it again."""

    id: int
    received_at: datetime
    source: str
    detail_type: str | None
    message_id: str | None
    reason: str
    payload_sha256: str
    payload_bytes: int
    payload_head: str


class RejectionPage(BaseModel):
    items: list[Rejection]
    next_cursor: str | None


INSERT_REJECTION = """
INSERT INTO intake_rejection (source, detail_type, message_id, reason, payload_sha256, payload_bytes,
                              payload_head)
VALUES (%(source)s, %(detail_type)s, %(message_id)s, %(reason)s, %(sha256)s, %(bytes)s, %(head)s)
"""
LIST_OCCURRENCES = """
SELECT id, at, received_at, source, detail_type, action, outcome, summary, severity, details
FROM intake_event WHERE ticket_id = %(ticket_id)s AND id > %(after)s ORDER BY id LIMIT %(limit)s
"""
LIST_REJECTIONS = """
SELECT id, received_at, source, detail_type, message_id, reason, payload_sha256, payload_bytes, payload_head
FROM intake_rejection WHERE id < %(before)s ORDER BY id DESC LIMIT %(limit)s
"""


def _head(payload: bytes) -> str:
    """The first 4 KB of a payload as text, cut on a character boundary."""
    head = payload[:PAYLOAD_HEAD_BYTES].decode("utf-8", errors="ignore").replace("\x00", "")
    while len(head.encode()) > PAYLOAD_HEAD_BYTES:
        head = head[:-1]
    return head


def record_rejection(
    uow: UnitOfWork,
    *,
    source: str,
    detail_type: str | None,
    message_id: str | None,
    reason: str,
    payload: bytes,
) -> None:
    uow.execute(
        INSERT_REJECTION,
        {
            "source": source[:255],
            "detail_type": detail_type[:255] if detail_type else None,
            "message_id": message_id,
            "reason": reason[:2000],
            "sha256": hashlib.sha256(payload).hexdigest(),
            "bytes": len(payload),
            "head": _head(payload),
        },
    )


def _limit(limit: int) -> None:
    if not 1 <= limit <= 200:
        raise BadRequest("limit must be between 1 and 200.")


def occurrences(
    uow: UnitOfWork, principal: Principal, ref: str, *, limit: int = 50, cursor: str | None = None
) -> pagination.Page:
    """A ticket's occurrence log, oldest first, if the principal may see the ticket."""
    _limit(limit)
    row = tickets.load(uow, principal, ref)
    fingerprint = pagination.query_fingerprint({"occurrences": str(row["id"])})
    after = pagination.decode(cursor, fingerprint, pagination.RowPosition).row if cursor else 0
    rows = uow.execute(
        LIST_OCCURRENCES, {"ticket_id": row["id"], "after": after, "limit": limit + 1}
    ).fetchall()
    items = [Occurrence.model_validate(r) for r in rows[:limit]]
    return pagination.page(
        items,
        more=len(rows) > limit,
        position=lambda o: pagination.RowPosition(row=o.id),
        fingerprint=fingerprint,
    )


def rejections(
    uow: UnitOfWork, principal: Principal, *, limit: int = 50, cursor: str | None = None
) -> pagination.Page:
    """Refused events, newest first (platform roles only)."""
    principal.require_platform("read intake rejections")
    _limit(limit)
    fingerprint = pagination.query_fingerprint({"rejections": True})
    before = pagination.decode(cursor, fingerprint, pagination.RowPosition).row if cursor else 2**63 - 1
    rows = uow.execute(LIST_REJECTIONS, {"before": before, "limit": limit + 1}).fetchall()
    items = [Rejection.model_validate(r) for r in rows[:limit]]
    return pagination.page(
        items,
        more=len(rows) > limit,
        position=lambda r: pagination.RowPosition(row=r.id),
        fingerprint=fingerprint,
    )
