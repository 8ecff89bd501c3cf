"""Listing and full-text search of tickets, with keyset pagination (newest first).

``q`` is matched with PostgreSQL full-text search (English stemming, web-search syntax:
quoted phrases, ``or``, ``-word``) against the generated ``search_vector`` column (GIN
indexed). Pages are keyed on the time-ordered id, so page 500 costs what page 1 costs.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

from shared import pagination
from shared.auth import Principal
from shared.db import Connection
from shared.errors import Forbidden
from shared.models import Ticket, TicketPage, TicketQuery
from shared.tickets import COLUMNS, scope_filter, to_model


def build(principal: Principal, query: TicketQuery) -> tuple[sql.Composed, dict[str, Any]]:
    """The SQL and parameters for ``query`` under ``principal``'s scope."""
    if query.tenant_id is not None and not principal.is_platform and query.tenant_id != principal.tenant:
        raise Forbidden("Only platform roles may filter by another tenant.")
    scope, params = scope_filter(principal)
    conditions: list[sql.Composable] = [scope]
    filters = query.model_dump(mode="json", exclude={"limit", "cursor"}, exclude_none=True)
    fingerprint = pagination.query_fingerprint({"scope": principal.tenant, **filters})
    if query.q:
        conditions.append(sql.SQL("search_vector @@ websearch_to_tsquery('english', %(q)s)"))
        params["q"] = query.q
    for name in ("state", "priority", "category"):
        if filters.get(name):
            conditions.append(sql.SQL("{} = ANY(%({})s)").format(sql.Identifier(name), sql.SQL(name)))
            params[name] = filters[name]
    if query.kind:
        conditions.append(sql.SQL("kind = %(kind)s"))
        params["kind"] = query.kind.value
    if query.tenant_id:
        conditions.append(sql.SQL("tenant_id = %(tenant_id)s"))
        params["tenant_id"] = query.tenant_id
    if query.assignee:
        conditions.append(sql.SQL("assignee = %(assignee)s"))
        params["assignee"] = query.assignee
    if query.tag:
        conditions.append(sql.SQL("tags @> ARRAY[%(tag)s]::text[]"))
        params["tag"] = query.tag
    if query.cursor:
        conditions.append(sql.SQL("id < %(after)s"))
        params["after"] = pagination.decode_uuid(query.cursor, fingerprint)
    params["limit"] = query.limit + 1
    params["_fingerprint"] = fingerprint
    statement = sql.SQL("SELECT {cols} FROM ticket WHERE {where} ORDER BY id DESC LIMIT %(limit)s").format(
        cols=sql.SQL(COLUMNS), where=sql.SQL(" AND ").join(conditions)
    )
    return statement, params


def search(conn: Connection, principal: Principal, query: TicketQuery) -> TicketPage:
    statement, params = build(principal, query)
    fingerprint = params.pop("_fingerprint")
    rows = conn.execute(statement, params).fetchall()
    items: list[Ticket] = [to_model(r) for r in rows[: query.limit]]
    next_cursor = (
        pagination.encode({"id": str(items[-1].id)}, fingerprint) if len(rows) > query.limit else None
    )
    return TicketPage(items=items, next_cursor=next_cursor)
