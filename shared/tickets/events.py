"""Ticket events as they leave the service: the outbox message for each audit event.

The detail carries the ticket's summary, the event (seq, actor, time, bounded changes) and
nothing free-form beyond a short public comment body. An event about an internal comment, or
about a platform-only ticket, is an ``internal`` outbox message: tenant-facing consumers
(webhooks) must never receive it.
"""

from __future__ import annotations

from typing import Any

from shared import audit, outbox

DETAIL_TYPES = {
    "ticket.created": "Ticket Created",
    "ticket.updated": "Ticket Updated",
    "ticket.state_changed": "Ticket State Changed",
    "comment.added": "Ticket Comment Added",
    "ticket.occurrences_added": "Occurrences Added",
    # The SLA engine's events (shared.sla): in the ticket's trail and on the bus.
    "sla.applied": "SLA Applied",
    "sla.paused": "SLA Paused",
    "sla.resumed": "SLA Resumed",
    "sla.at_risk": "SLA At Risk",
    "sla.breached": "SLA Breached",
    "sla.met": "SLA Met",
    "sla.escalated": "SLA Escalated",
    "sla.retargeted": "SLA Retargeted",
    "sla.canceled": "SLA Canceled",
    "sla.repaired": "SLA Repaired",
}

# The member of a ticket.created event's changes that names the routing rules that applied
# (shared.tickets.service.create): left out of public messages, which may reach tenants.
ROUTING = "routing"

SUMMARY_FIELDS = (
    "id",
    "key",
    "tenant_id",
    "visibility",
    "kind",
    "category",
    "priority",
    "state",
    "title",
    "assignee",
    "queue",
    "version",
)


def message(
    ticket: dict[str, Any], event: audit.AuditEvent, extra: dict[str, Any] | None = None
) -> tuple[outbox.Message, dict[str, Any]]:
    """The outbox message (and its row's parameters) for one audit event of ``ticket``."""
    internal = event.visibility == "internal" or ticket["visibility"] == "platform_only"
    changes = event.changes
    if not internal and ROUTING in changes:  # which rules routed it is the platform's business
        changes = {name: change for name, change in changes.items() if name != ROUTING}
    detail: dict[str, Any] = {
        "type": event.type,
        "ticket_id": str(ticket["id"]),
        "ticket_key": ticket["key"],
        "tenant_id": ticket["tenant_id"],
        "visibility": ticket["visibility"],
        "ticket": {k: ticket[k] for k in SUMMARY_FIELDS},
        "seq": event.seq,
        "actor": event.actor,
        "at": event.at.isoformat(),
        "changes": changes,
        "event_visibility": event.visibility,
        "correlation_id": event.correlation_id,
        **(extra or {}),
    }
    return outbox.prepare(
        detail_type=DETAIL_TYPES[event.type],
        detail=detail,
        aggregate_type="ticket",
        aggregate_id=str(ticket["id"]),
        tenant_id=ticket["tenant_id"],
        visibility=outbox.INTERNAL if internal else outbox.PUBLIC,
    )
