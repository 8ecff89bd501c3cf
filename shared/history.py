"""Reading a ticket's audit trail (tenants see its public events; platform roles see all)."""

from __future__ import annotations

from shared import pagination, tickets
from shared.auth import Principal
from shared.db import Connection
from shared.errors import BadRequest
from shared.models import EventPage, TicketEvent

LIST = """
SELECT ticket_id, seq, type, actor, at, changes, visibility, correlation_id, prev_hash, hash
FROM ticket_event
WHERE ticket_id = %(ticket_id)s AND (%(platform)s OR visibility = 'public') AND seq > %(after)s
ORDER BY seq
LIMIT %(limit)s
"""


def list_for_ticket(
    conn: Connection, principal: Principal, ref: str, *, limit: int = 100, cursor: str | None = None
) -> EventPage:
    if not 1 <= limit <= 200:
        raise BadRequest("limit must be between 1 and 200.")
    row = tickets.load_row(conn, principal, ref)
    fingerprint = pagination.query_fingerprint({"events": str(row["id"])})
    after = 0
    if cursor:
        position = pagination.decode(cursor, fingerprint)
        if not isinstance(position.get("seq"), int):
            raise BadRequest("The cursor is not one this API issued.")
        after = position["seq"]
    rows = conn.execute(
        LIST, {"ticket_id": row["id"], "platform": principal.is_platform, "after": after, "limit": limit + 1}
    ).fetchall()
    items = [TicketEvent.model_validate(r) for r in rows[:limit]]
    next_cursor = pagination.encode({"seq": items[-1].seq}, fingerprint) if len(rows) > limit else None
    return EventPage(items=items, next_cursor=next_cursor)
