"""Comments on tickets: public ones reach the tenant, internal ones stay with the platform."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from shared.auth import Principal
from shared.db import Connection
from shared.kernel import pagination
from shared.kernel.errors import BadRequest, Forbidden
from shared.kernel.ids import uuid7
from shared.tickets import service as tickets
from shared.tickets.models import Comment, CommentCreate, CommentVisibility

INSERT = """
INSERT INTO ticket_comment (id, ticket_id, author, body, visibility, created_at)
VALUES (%(id)s, %(ticket_id)s, %(author)s, %(body)s, %(visibility)s, %(now)s)
RETURNING id, ticket_id, author, body, visibility, created_at
"""
# Tenants never see internal comments: the query says so, and row-level security repeats it.
LIST = """
SELECT id, ticket_id, author, body, visibility, created_at FROM ticket_comment
WHERE ticket_id = %(ticket_id)s AND (%(platform)s OR visibility = 'public') AND id > %(after)s
ORDER BY id
LIMIT %(limit)s
"""
_MIN_UUID = UUID(int=0)
# A public comment's body travels in its event up to this size (UTF-8 bytes).
EVENT_BODY_BYTES = 4096


def add(
    conn: Connection,
    principal: Principal,
    ref: str,
    data: CommentCreate,
    *,
    correlation_id: str | None,
    now: datetime | None = None,
) -> Comment:
    now = now or tickets.utcnow()
    if data.visibility is CommentVisibility.INTERNAL and not principal.is_platform:
        raise Forbidden("Internal comments are for platform roles only.")
    row = tickets.load_row(conn, principal, ref, lock=True)
    comment = conn.execute(
        INSERT,
        {
            "id": uuid7(),
            "ticket_id": row["id"],
            "author": principal.sub,
            "body": data.body,
            "visibility": data.visibility.value,
            "now": now,
        },
    ).fetchone()
    assert comment is not None
    updates: dict[str, Any] = {}
    if (
        principal.is_platform
        and data.visibility is CommentVisibility.PUBLIC
        and row["first_response_at"] is None
    ):
        updates["first_response_at"] = now
    change = tickets.Change(
        updates=updates,
        events=[
            (
                "comment.added",
                {"comment_id": str(comment["id"]), "visibility": data.visibility.value},
                data.visibility.value,
            )
        ],
        bump_version=False,
    )
    tickets.apply_change(
        conn,
        principal,
        row,
        change,
        correlation_id=correlation_id,
        now=now,
        extra_detail={"comment": _event_comment(comment, principal, data)},
    )
    return Comment.model_validate(comment)


def _event_comment(comment: dict[str, Any], principal: Principal, data: CommentCreate) -> dict[str, Any]:
    """The comment as ticket events carry it. An internal comment's body stays out of the event:
    events leave the service (rules, queues, future webhooks), and only platform roles may read
    it, through the API."""
    shown: dict[str, Any] = {
        "id": str(comment["id"]),
        "author": principal.sub,
        "visibility": data.visibility.value,
    }
    if data.visibility is CommentVisibility.PUBLIC:
        if len(data.body.encode()) <= EVENT_BODY_BYTES:
            shown["body"] = data.body
        else:  # events stay small (shared.outbox): a long body is read from the API
            shown["body_omitted"] = True
    return shown


def list_for_ticket(
    conn: Connection, principal: Principal, ref: str, *, limit: int = 50, cursor: str | None = None
) -> pagination.Page:
    if not 1 <= limit <= 200:
        raise BadRequest("limit must be between 1 and 200.")
    row = tickets.load_row(conn, principal, ref)
    fingerprint = pagination.query_fingerprint({"comments": str(row["id"])})
    after = pagination.decode(cursor, fingerprint, pagination.IdPosition).id if cursor else _MIN_UUID
    rows = conn.execute(
        LIST, {"ticket_id": row["id"], "platform": principal.is_platform, "after": after, "limit": limit + 1}
    ).fetchall()
    items = [Comment.model_validate(r) for r in rows[:limit]]
    return pagination.page(
        items,
        more=len(rows) > limit,
        position=lambda c: pagination.IdPosition(id=c.id),
        fingerprint=fingerprint,
    )
