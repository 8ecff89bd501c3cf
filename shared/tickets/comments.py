"""Reading a ticket's comments: public ones for everyone who may see the ticket, internal ones
for platform roles only. (Adding one is a change of the ticket: ``service.add_comment``.)"""

from __future__ import annotations

from uuid import UUID

from shared.auth import Principal
from shared.db import UnitOfWork
from shared.kernel import pagination
from shared.kernel.errors import BadRequest
from shared.tickets import repository
from shared.tickets.models import Comment

_MIN_UUID = UUID(int=0)


def list_for_ticket(
    uow: UnitOfWork, principal: Principal, ref: str, *, limit: int = 50, cursor: str | None = None
) -> pagination.Page:
    if not 1 <= limit <= 200:
        raise BadRequest("limit must be between 1 and 200.")
    row = repository.load(uow, principal, ref)
    fingerprint = pagination.query_fingerprint({"comments": str(row["id"])})
    after = pagination.decode(cursor, fingerprint, pagination.IdPosition).id if cursor else _MIN_UUID
    rows = repository.list_comments(
        uow, row["id"], platform=principal.is_platform, after=after, limit=limit + 1
    )
    items = [Comment.model_validate(r) for r in rows[:limit]]
    return pagination.page(
        items,
        more=len(rows) > limit,
        position=lambda c: pagination.IdPosition(id=c.id),
        fingerprint=fingerprint,
    )
