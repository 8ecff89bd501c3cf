"""GET /tickets: full-text search and filters, keyset pages with an opaque next_cursor."""

from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared import http
from shared.runtime import entrypoints
from shared.tickets import search
from shared.tickets.models import DEFAULT_PAGE_LIMIT, TicketPage, TicketQuery

app = http.make_app()


@app.get(
    "/tickets",
    operation_id="list_tickets",
    summary="Search and list tickets",
    description="Newest first, or the next SLA breach first (`sort=sla_due`). Tenant roles see their"
    " tenant's tickets (not platform-only ones), platform roles every ticket or one tenant's"
    " (`tenant_id`). Filters combine with AND, the values of one list"
    " filter with OR. Pages: send `next_cursor` back as `cursor`, with the same other parameters, until"
    " it is null. A single-valued parameter given twice is a 400.",
    tags=["tickets"],
    security=http.BEARER,
    responses={
        **http.success(200, TicketPage, "A page of tickets."),
        **http.problems(*http.ALWAYS, *http.AUTHORIZED, *http.DATABASE),
    },
)
def list_tickets(
    q: http.SearchQuery = None,
    state: http.StatesQuery = None,
    priority: http.PrioritiesQuery = None,
    kind: http.KindsQuery = None,
    category: http.CategoriesQuery = None,
    tenant_id: http.TenantQuery = None,
    assignee: http.AssigneeQuery = None,
    tag: http.TagQuery = None,
    dedup_key: http.DedupKeyQuery = None,
    sla_status: http.SlaStatusQuery = None,
    sort: http.SortQuery = "newest",
    limit: http.LimitQuery = DEFAULT_PAGE_LIMIT,
    cursor: http.CursorQuery = None,
) -> Response[Any]:
    who = http.principal(app)
    query = TicketQuery(
        q=q,
        state=state,
        priority=priority,
        kind=kind,
        category=category,
        tenant_id=tenant_id,
        assignee=assignee,
        tag=tag,
        dedup_key=dedup_key,
        sla_status=sla_status,
        sort=sort,
        limit=limit,
        cursor=cursor,
    )
    result = http.read(who, lambda uow: search.search(uow, who, query))
    return http.page_response(result)


handler = entrypoints.http(app, "list_tickets")
