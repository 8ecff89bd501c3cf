"""Which ticket-bus events become which webhook event types, and who may receive them.

The ticket write path and the SLA engine record their events on the bus (``shared.tickets.events``,
``shared.sla.engine``); the outbox's bus publisher copies the ones named in ``BUS_DETAIL_TYPES``
to the webhook queue, and the dispatcher maps each to the webhook types below. One bus event may
give two: a change of assignee or queue is ``ticket.assigned``, a change of other fields in the
same request is ``ticket.updated`` too.

This module is light on purpose (no imports beyond the standard library): every function that
publishes to the bus reads ``BUS_DETAIL_TYPES`` when it builds its publishers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The bus's detail-types that may become a webhook delivery (others are never copied).
BUS_DETAIL_TYPES = frozenset(
    {
        "Ticket Created",
        "Ticket Updated",
        "Ticket State Changed",
        "Ticket Comment Added",
        "Occurrences Added",
        "SLA Applied",
        "SLA At Risk",
        "SLA Breached",
        "SLA Met",
        "SLA Escalated",
    }
)

# The audit event type (the detail's ``type``) → the webhook event type.
_TYPES = {
    "ticket.created": "ticket.created",
    "ticket.state_changed": "ticket.state_changed",
    "comment.added": "ticket.commented",
    "ticket.occurrences_added": "incident.occurrences_added",
    "sla.applied": "sla.applied",
    "sla.at_risk": "sla.at_risk",
    "sla.breached": "sla.breached",
    "sla.met": "sla.met",
    "sla.escalated": "sla.escalated",
}
ASSIGNMENT_FIELDS = frozenset({"assignee", "queue"})
TEST = "webhook.test"


def webhook_types(detail: Mapping[str, Any]) -> list[str]:
    """The webhook event types one bus event's detail becomes (none for events no webhook carries)."""
    kind = detail.get("type")
    if kind == "ticket.updated":
        changed = set(detail.get("changes") or {})
        types = ["ticket.assigned"] if changed & ASSIGNMENT_FIELDS else []
        if changed - ASSIGNMENT_FIELDS or not types:
            types.append("ticket.updated")
        return types
    found = _TYPES.get(kind) if isinstance(kind, str) else None
    return [found] if found else []


def is_internal(detail: Mapping[str, Any]) -> bool:
    """An event tenants' endpoints never receive: about a platform-only ticket, or internal itself
    (an internal comment, the SLA engine's internal bookkeeping)."""
    return detail.get("visibility") == "platform_only" or detail.get("event_visibility") == "internal"
