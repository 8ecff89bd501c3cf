"""Reading a ticket's audit trail (tenants see its public events; platform roles see all).

Platform roles page on the audit ``seq`` and see each event's chain ``hash``. Tenants see the
public events numbered by ``public_seq`` (1, 2, 3... with no gaps where internal events are) and
no hashes: a hash chains over the internal events too, so it would tell them one happened.
"""

from __future__ import annotations

from typing import Any

from shared.auth import Principal
from shared.db import UnitOfWork
from shared.kernel import pagination
from shared.kernel.errors import BadRequest
from shared.tickets import repository
from shared.tickets.models import TicketEvent

PLATFORM_LIST = """
SELECT seq, type, actor, at, changes, visibility, correlation_id, hash
FROM ticket_event
WHERE ticket_id = %(ticket_id)s AND seq > %(after)s
ORDER BY seq
LIMIT %(limit)s
"""
# Tenants are not shown which routing rules routed their ticket (platform configuration).
PUBLIC_LIST = """
SELECT public_seq AS seq, type, actor, at, changes - 'routing' AS changes, visibility, correlation_id,
       NULL AS hash
FROM ticket_event
WHERE ticket_id = %(ticket_id)s AND visibility = 'public' AND public_seq > %(after)s
ORDER BY public_seq
LIMIT %(limit)s
"""


def list_for_ticket(
    uow: UnitOfWork, principal: Principal, ref: str, *, limit: int = 100, cursor: str | None = None
) -> pagination.Page:
    if not 1 <= limit <= 200:
        raise BadRequest("limit must be between 1 and 200.")
    row = repository.load(uow, principal, ref)
    fingerprint = pagination.query_fingerprint({"events": str(row["id"]), "platform": principal.is_platform})
    after = pagination.decode(cursor, fingerprint, pagination.SeqPosition).seq if cursor else 0
    params: dict[str, Any] = {"ticket_id": row["id"], "after": after, "limit": limit + 1}
    rows = uow.execute(PLATFORM_LIST if principal.is_platform else PUBLIC_LIST, params).fetchall()
    items = [TicketEvent.model_validate(r) for r in rows[:limit]]
    return pagination.page(
        items,
        more=len(rows) > limit,
        position=lambda e: pagination.SeqPosition(seq=e.seq),
        fingerprint=fingerprint,
    )


TRAIL = "SELECT seq, type, at, changes FROM ticket_event WHERE ticket_id = %(ticket_id)s ORDER BY seq"


def trail(uow: UnitOfWork, ticket_id: Any) -> list[dict[str, Any]]:
    """Every event of a ticket in order (what happened, when, what changed): for a caller with
    the service's own scope that recomputes state from the trail (SLA repair)."""
    return uow.execute(TRAIL, {"ticket_id": ticket_id}).fetchall()
