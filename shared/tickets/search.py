"""Listing and full-text search of tickets, with keyset pagination (newest first).

``q`` is matched with PostgreSQL full-text search (English stemming, web-search syntax:
quoted phrases, ``or``, ``-word``) against the generated ``search_vector`` column (GIN
indexed with the tenant: ``ticket_tenant_search_idx``). Pages are keyed on the time-ordered id,
so page 500 costs what page 1 costs.

A page is read in two statements. ``ticket_search_ids`` (migrations/0002_search_function.sql, a
``SECURITY DEFINER`` function) finds the page's ids without row-level security in the way, so
that its full-text condition can use the index (``@@`` is not LEAKPROOF: under RLS the planner
must run the policy first and so reads every row of the tenant); it applies the caller's scope
itself, from the transaction's settings. The rows are then read by id as the application role,
through the scope filter below and RLS: both walls still stand in front of every row returned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import sql

from shared.auth import Principal
from shared.db import UnitOfWork
from shared.kernel import pagination
from shared.kernel.errors import Forbidden
from shared.tickets import repository
from shared.tickets.models import Ticket, TicketQuery
from shared.tickets.service import to_model

# One page's ids, newest first; NULL arguments are filters not given. The function plans its
# statement for the arguments actually given on every call (dynamic SQL), so preparing this
# call could not pin a generic plan on the search itself.
_IDS = sql.SQL(
    "SELECT ticket_search_ids AS id FROM ticket_search_ids("
    "q => %(q)s, states => %(state)s, priorities => %(priority)s, kind => %(kind)s,"
    " categories => %(category)s, tenant_id => %(tenant_id)s, assignee => %(assignee)s,"
    " tag => %(tag)s, after => %(after)s, row_limit => %(limit)s, dedup_key => %(dedup_key)s,"
    " sla_statuses => %(sla_status)s, sort => %(sort)s, after_due => %(after_due)s)"
)


class DuePosition(pagination.Position):
    """Where a page sorted by next breach ended: its due instant (null: among those without) and id."""

    due: datetime | None
    id: UUID


def build(principal: Principal, query: TicketQuery) -> tuple[sql.Composed, dict[str, Any]]:
    """The SQL and parameters that find the ids of ``query``'s page under ``principal``'s scope.

    The statement returns up to ``limit + 1`` ids (one more tells that there is a next page);
    ``search`` reads their rows. ``params["_fingerprint"]`` is the query's cursor fingerprint
    (not a statement parameter).
    """
    if query.tenant_id is not None and not principal.is_platform and query.tenant_id != principal.tenant:
        raise Forbidden("Only platform roles may filter by another tenant.")
    filters = query.model_dump(mode="json", exclude={"limit", "cursor"}, exclude_none=True)
    fingerprint = pagination.query_fingerprint({"scope": principal.tenant, **filters})
    params: dict[str, Any] = {
        "q": query.q or None,
        # An empty list is no filter, as it always was (the function would read it as "none of these").
        "state": filters.get("state") or None,
        "priority": filters.get("priority") or None,
        # two kinds exist: both (or none) given is no filter; the function takes one
        "kind": query.kind[0].value if query.kind and len(set(query.kind)) == 1 else None,
        "category": filters.get("category") or None,
        "tenant_id": query.tenant_id or None,
        "assignee": query.assignee or None,
        "tag": query.tag or None,
        "dedup_key": query.dedup_key or None,
        "sla_status": filters.get("sla_status") or None,
        "sort": query.sort,
        "after": None,
        "after_due": None,
        "limit": query.limit + 1,
        "_fingerprint": fingerprint,
    }
    if query.cursor and query.sort == "sla_due":
        due_position = pagination.decode(query.cursor, fingerprint, DuePosition)
        params |= {"after": due_position.id, "after_due": due_position.due}
    elif query.cursor:
        params["after"] = pagination.decode(query.cursor, fingerprint, pagination.IdPosition).id
    return _IDS.format(), params


def search(uow: UnitOfWork, principal: Principal, query: TicketQuery) -> pagination.Page:
    statement, params = build(principal, query)
    fingerprint = params.pop("_fingerprint")
    ids: list[UUID] = [r["id"] for r in uow.execute(statement, params, prepare=False).fetchall()]
    page_ids = ids[: query.limit]
    rows = repository.rows_by_id(uow, principal, page_ids) if page_ids else []
    if query.sort == "sla_due":
        return _due_page(rows, page_ids, principal, more=len(ids) > query.limit, fingerprint=fingerprint)
    items: list[Ticket] = [to_model(r, principal) for r in rows]
    # The cursor continues after the last id the search returned for this page, so paging stays
    # exact even if one of those rows changed out of scope between the two statements.
    return pagination.page(
        items,
        more=len(ids) > query.limit,
        position=lambda t: pagination.IdPosition(id=t.id),
        fingerprint=fingerprint,
        end=pagination.IdPosition(id=page_ids[-1]) if page_ids else None,
    )


def _due_page(
    rows: list[dict[str, Any]], page_ids: list[UUID], principal: Principal, *, more: bool, fingerprint: str
) -> pagination.Page:
    """A page in the search's order (next breach first), continuing after its last row."""
    order = {ticket_id: index for index, ticket_id in enumerate(page_ids)}
    rows = sorted(rows, key=lambda row: order[row["id"]])
    due = {row["id"]: row["sla_due_at"] for row in rows}
    items = [to_model(r, principal) for r in rows]
    return pagination.page(
        items,
        more=more,
        position=lambda t: DuePosition(due=due[t.id], id=t.id),
        fingerprint=fingerprint,
    )
