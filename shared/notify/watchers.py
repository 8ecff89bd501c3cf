"""Who watches a ticket (issue 12 §6).

Anyone who may see a ticket may watch it, as themselves: a tenant person as a tenant watcher (only
ever e-mailed public content), a platform person as a platform watcher. Platform roles may also
make someone else watch it: a tenant person of the ticket's tenant (``tenant_id``), or a platform
person; a platform-only ticket has platform watchers only. Watching again changes the address.
The ticket is resolved as every ticket route resolves it (``tickets.repository.load``): another
tenant's ticket, or a platform-only one, is a 404 for a tenant role. Tenant roles see the watchers
of the tickets they may see; platform roles all.

``for_ticket`` is the notify worker's read (the service: no principal check).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from shared.auth import Principal
from shared.db import UnitOfWork
from shared.kernel.errors import Conflict, Forbidden, ValidationFailed
from shared.notify.model import MAX_WATCHERS, Audience, Watcher, WatcherAdd
from shared.tickets import repository as tickets_repository

COLUMNS = "ticket_id::text AS ticket_id, subject, tenant_id, audience, email, added_by, added_at"
SELECT_FOR_TICKET = (
    f"SELECT {COLUMNS} FROM ticket_watcher WHERE ticket_id = %(id)s ORDER BY added_at, subject"
)
COUNT_OTHERS = "SELECT count(*) AS n FROM ticket_watcher WHERE ticket_id = %(id)s AND subject <> %(subject)s"
# A repeat (same ticket, same subject) keeps who added the watch and when; it changes the address
# and, when a platform role says so, the audience.
UPSERT = f"""
INSERT INTO ticket_watcher (ticket_id, subject, tenant_id, audience, email, added_by, added_at)
VALUES (%(ticket_id)s, %(subject)s, %(tenant_id)s, %(audience)s, %(email)s, %(actor)s, %(now)s)
ON CONFLICT (ticket_id, subject) DO UPDATE
    SET email = EXCLUDED.email, audience = EXCLUDED.audience, tenant_id = EXCLUDED.tenant_id
RETURNING {COLUMNS}, (xmax = 0) AS created
"""
DELETE = "DELETE FROM ticket_watcher WHERE ticket_id = %(id)s AND subject = %(subject)s"


def _model(row: dict[str, Any]) -> Watcher:
    # The row's tenant_id is the ticket's (for row-level security); the API shows the person's.
    return Watcher.model_validate(
        {**row, "tenant_id": row["tenant_id"] if row["audience"] == "tenant" else None}
    )


def _refused(message: str, msg: str) -> ValidationFailed:
    return ValidationFailed(
        message, errors=[{"loc": ["body", "tenant_id"], "msg": msg, "type": "value_error"}]
    )


def list_for(uow: UnitOfWork, principal: Principal, ticket_ref: str) -> list[Watcher]:
    """The watchers of a ticket the principal may see, oldest first."""
    ticket = tickets_repository.load(uow, principal, ticket_ref)
    found = [_model(row) for row in uow.execute(SELECT_FOR_TICKET, {"id": ticket["id"]}).fetchall()]
    if principal.is_platform:
        return found
    # A tenant sees who watches, not other people's addresses (platform staff's among them).
    return [w if w.subject == principal.sub else w.model_copy(update={"email": None}) for w in found]


def _audience(principal: Principal, request: WatcherAdd) -> tuple[str, Audience]:
    """Who is to watch, and as what. Tenant roles: only themselves, in their own tenant (403)."""
    subject = request.subject or principal.sub
    if not principal.is_platform:
        if subject != principal.sub:
            raise Forbidden("Only platform roles may make someone else watch a ticket.")
        if request.tenant_id not in (None, principal.tenant):
            raise Forbidden("A tenant role watches as itself, in its own tenant.")
        return subject, "tenant"
    return subject, "tenant" if request.tenant_id is not None else "platform"


def add(
    uow: UnitOfWork, principal: Principal, ticket_ref: str, request: WatcherAdd, *, now: datetime
) -> tuple[Watcher, bool]:
    """The watcher, and whether the watch is new (a repeat changes the address)."""
    ticket = tickets_repository.load(uow, principal, ticket_ref)
    subject, audience = _audience(principal, request)
    if audience == "tenant":
        person_tenant = request.tenant_id or principal.tenant
        if ticket["tenant_id"] is None or ticket["visibility"] == "platform_only":
            raise _refused(
                "A platform-only ticket can only be watched by platform people.",
                "the ticket is platform-only",
            )
        if person_tenant != ticket["tenant_id"]:
            raise _refused(
                f"A tenant person can only watch their own tenant's tickets; this one is"
                f" {ticket['tenant_id']!r}'s.",
                "not the ticket's tenant",
            )
    others = uow.execute(COUNT_OTHERS, {"id": ticket["id"], "subject": subject}).fetchone()
    if others is not None and others["n"] >= MAX_WATCHERS:
        raise Conflict(f"The ticket has {MAX_WATCHERS} watchers already: remove one first.")
    row = uow.execute(
        UPSERT,
        {
            "ticket_id": ticket["id"],
            "subject": subject,
            "tenant_id": ticket["tenant_id"],
            "audience": audience,
            "email": request.email,
            "actor": principal.sub,
            "now": now,
        },
    ).fetchone()
    assert row is not None
    return _model(row), bool(row["created"])


def remove(uow: UnitOfWork, principal: Principal, ticket_ref: str, subject: str | None) -> None:
    """The principal stops watching, or (platform roles) ``subject`` does; nothing if not watching."""
    ticket = tickets_repository.load(uow, principal, ticket_ref)
    who = subject or principal.sub
    if who != principal.sub:
        principal.require_platform("remove someone else's watch")
    uow.execute(DELETE, {"id": ticket["id"], "subject": who})


def for_ticket(uow: UnitOfWork, ticket_id: UUID | str) -> list[Watcher]:
    """Every watcher of a ticket, oldest first: the notify worker's read (as the service, no
    principal check; row-level security still applies to the transaction's principal)."""
    return [_model(row) for row in uow.execute(SELECT_FOR_TICKET, {"id": ticket_id}).fetchall()]
