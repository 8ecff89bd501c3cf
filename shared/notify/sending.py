"""Who is e-mailed about a ticket event, and the sending of it (issue 12 §6).

- **ticket.created**: a confirmation to the requester.
- **a public comment**: to the requester, the assignee and the watchers, except its author.
- **a move to wait_requester, resolved or closed**: to the same, except whoever moved it.
- **SLA at risk, breached**: to the assignee and the ``user:`` targets of the policy's escalation
  chain (``role:`` and ``queue:`` targets name no one person: they travel in the bus event).

People are named by subject on tickets (requester, assignee); their address is the one in their
notification preferences (``/me/notification-preferences``), which also say which of these
e-mails they do not want. Watchers carry their own address. A tenant person (their preferences
under the ticket's tenant, or a tenant watcher) never gets an internal event, nor anything about
a platform-only ticket. An address SES reported as bouncing or complaining gets nothing
(``suppressed``). Each (event, address) is sent once: a repeated event finds its rows.

Sending is a port (``Send``): the worker hands in SES (``shared.aws.email``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any
from uuid import UUID

from shared.auth import Principal
from shared.db import UnitOfWork
from shared.kernel.errors import NotFound
from shared.kernel.ids import uuid7
from shared.notify import emails, preferences, watchers
from shared.tickets import repository as tickets_repository

# The audit event type (the bus detail's ``type``) → the e-mail event type (preferences' names).
EMAIL_TYPES = {
    "ticket.created": "ticket.created",
    "comment.added": "ticket.commented",
    "ticket.state_changed": "ticket.state_changed",
    "sla.at_risk": "sla.at_risk",
    "sla.breached": "sla.breached",
}
# The bus detail-types the notify worker's rule takes.
BUS_DETAIL_TYPES = (
    "Ticket Created",
    "Ticket Comment Added",
    "Ticket State Changed",
    "SLA At Risk",
    "SLA Breached",
)
SYSTEM = Principal.system("notify")


class Rejected(Exception):
    """SES refused this one message (a malformed or unverified address): recorded as failed."""


# (the message, its one recipient) → the id SES gave it. Raises Rejected for that message only.
Send = Callable[[EmailMessage, str], str]


@dataclass(frozen=True)
class EmailConfig:
    sender: str
    sender_name: str
    reply_domain: str
    region: str


@dataclass(frozen=True)
class Recipient:
    address: str
    subject: str | None
    audience: str  # tenant | platform
    reason: str  # requester | assignee | watcher | escalation | owner
    opt_out: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Outcome:
    sent: int = 0
    suppressed: int = 0
    failed: int = 0
    repeated: int = 0  # already sent for this event


def _person(
    prefs: Mapping[tuple[str | None, str], preferences.NotificationPreferences],
    subject: str | None,
    tenant_id: str | None,
    reason: str,
    *,
    platform_first: bool,
) -> Recipient | None:
    """A requester's or assignee's address, from their preferences: under the ticket's tenant (a
    tenant person) or under none (a platform person)."""
    if not subject:
        return None
    order: list[tuple[str | None, str]] = (
        [(tenant_id, "tenant"), (None, "platform")] if tenant_id else [(None, "platform")]
    )
    if platform_first:
        order.reverse()
    for key_tenant, audience in order:
        found = prefs.get((key_tenant, subject))
        if found is not None and found.email:
            return Recipient(found.email, subject, audience, reason, frozenset(found.opt_out))
    return None


def _escalation_users(uow: UnitOfWork, policy_id: Any) -> list[str]:
    if not policy_id:
        return []
    row = uow.execute(
        "SELECT escalation FROM sla_policy WHERE id = %(id)s", {"id": str(policy_id)}
    ).fetchone()
    users: list[str] = []
    for step in (row["escalation"] if row else None) or []:
        for target in step.get("notify") or []:
            if isinstance(target, str) and target.startswith("user:"):
                users.append(target.removeprefix("user:"))
    return list(dict.fromkeys(users))


def recipients(uow: UnitOfWork, detail: Mapping[str, Any], ticket: Mapping[str, Any]) -> list[Recipient]:
    """Who gets the e-mail of this event, each once (the first reason wins), minus whoever caused
    it, minus tenant people for what tenants may not see, minus those who opted out."""
    email_type = EMAIL_TYPES[str(detail["type"])]
    tenant_id = ticket.get("tenant_id")
    users = (
        _escalation_users(uow, (detail.get("changes") or {}).get("policy"))
        if email_type.startswith("sla.")
        else []
    )
    the_watchers = (
        []
        if email_type in ("ticket.created",) or email_type.startswith("sla.")
        else watchers.for_ticket(uow, ticket["id"])
    )
    keys: list[tuple[str | None, str]] = []
    for subject in (ticket.get("requester"), ticket.get("assignee"), *users):
        if subject:
            keys += [(tenant_id, subject), (None, subject)] if tenant_id else [(None, subject)]
    keys += [(w.tenant_id if w.audience == "tenant" else None, w.subject) for w in the_watchers]
    prefs = preferences.for_subjects(uow, list(dict.fromkeys(keys)))

    found: list[Recipient | None] = []
    if email_type == "ticket.created":
        found.append(_person(prefs, ticket.get("requester"), tenant_id, "requester", platform_first=False))
    elif email_type.startswith("sla."):
        found.append(_person(prefs, ticket.get("assignee"), tenant_id, "assignee", platform_first=True))
        found += [_person(prefs, user, None, "escalation", platform_first=True) for user in users]
    else:
        found.append(_person(prefs, ticket.get("requester"), tenant_id, "requester", platform_first=False))
        found.append(_person(prefs, ticket.get("assignee"), tenant_id, "assignee", platform_first=True))
        for watcher in the_watchers:
            if not watcher.email:
                continue
            key = (watcher.tenant_id if watcher.audience == "tenant" else None, watcher.subject)
            opted = prefs.get(key)
            found.append(
                Recipient(
                    watcher.email,
                    watcher.subject,
                    watcher.audience,
                    "watcher",
                    frozenset(opted.opt_out) if opted else frozenset(),
                )
            )
    internal = ticket.get("visibility") == "platform_only" or detail.get("event_visibility") == "internal"
    actor = detail.get("actor")
    chosen: dict[str, Recipient] = {}
    for recipient in found:
        if recipient is None or email_type in recipient.opt_out:
            continue
        if internal and recipient.audience == "tenant":
            continue
        if email_type != "ticket.created" and actor and recipient.subject == actor:
            continue  # nobody is told of what they did themselves
        chosen.setdefault(recipient.address.lower(), recipient)
    return list(chosen.values())


def is_emailed(detail: Mapping[str, Any]) -> bool:
    kind = detail.get("type")
    if kind not in EMAIL_TYPES:
        return False
    if kind == "comment.added":
        return (detail.get("comment") or {}).get("visibility") == "public"
    if kind == "ticket.state_changed":
        return (detail.get("ticket") or {}).get("state") in emails.STATE_MAILS
    return True


INSERT = """
INSERT INTO email_message (id, event_id, event_type, ticket_id, webhook_id, tenant_id, recipient,
                           recipient_subject, audience, reason, reply_token, status, sent_at)
VALUES (%(id)s, %(event_id)s, %(event_type)s, %(ticket_id)s, %(webhook_id)s, %(tenant_id)s, %(recipient)s,
        %(subject)s, %(audience)s, %(reason)s, %(reply_token)s, %(status)s, %(now)s)
ON CONFLICT (event_id, recipient) DO NOTHING
RETURNING id
"""
MARK = """
UPDATE email_message SET status = %(status)s, ses_message_id = %(ses_id)s, message_id_header = %(header)s,
                         error = %(error)s
WHERE id = %(id)s
"""


def notify(
    uow: UnitOfWork, detail: Mapping[str, Any], *, now: datetime, send: Send, config: EmailConfig
) -> Outcome:
    """E-mail the people of one bus event (nothing if it is not one that is e-mailed)."""
    if not is_emailed(detail):
        return Outcome()
    try:
        ticket = tickets_repository.load(uow, SYSTEM, str(detail["ticket_id"]))
    except NotFound:
        return Outcome()  # gone (a test database, a deleted tenant)
    email_type = EMAIL_TYPES[str(detail["type"])]
    chosen = recipients(uow, detail, ticket)
    if not chosen:
        return Outcome()
    return _send_all(
        uow,
        chosen,
        {
            "event_id": UUID(str(detail["event_id"])),
            "event_type": email_type,
            "ticket_id": ticket["id"],
            "webhook_id": None,
            "tenant_id": ticket.get("tenant_id"),
        },
        emails.render(email_type, ticket, detail),
        ticket_key=ticket["key"],
        now=now,
        send=send,
        config=config,
    )


def _send_all(
    uow: UnitOfWork,
    chosen: list[Recipient],
    about: Mapping[str, Any],
    rendered: emails.Rendered,
    *,
    ticket_key: str | None,
    now: datetime,
    send: Send,
    config: EmailConfig,
) -> Outcome:
    """One message per recipient (``about``: the event, its type, and the ticket or endpoint),
    recorded before it is sent: a repeat finds its row, a suppressed address is recorded and not
    sent to, a message SES refuses is recorded as failed."""
    suppressed = {
        row["address"]
        for row in uow.execute(
            "SELECT address FROM email_suppression WHERE address = ANY(%(addresses)s)",
            {"addresses": [r.address.lower() for r in chosen]},
        ).fetchall()
    }
    sent = held = failed = repeated = 0
    for recipient in chosen:
        held_back = recipient.address.lower() in suppressed
        token = secrets.token_urlsafe(24)
        message_id = uuid7()
        row = uow.execute(
            INSERT,
            {
                **about,
                "id": message_id,
                "recipient": recipient.address,
                "subject": recipient.subject,
                "audience": recipient.audience,
                "reason": recipient.reason,
                "reply_token": token,
                "status": "suppressed" if held_back else "sent",
                "now": now,
            },
        ).fetchone()
        if row is None:
            repeated += 1
            continue
        if held_back:
            held += 1
            continue
        mail = emails.message(
            sender=config.sender,
            sender_name=config.sender_name,
            recipient=recipient.address,
            reply_to=emails.reply_address(token, config.reply_domain),
            rendered=rendered,
            ticket_key=ticket_key,
        )
        try:
            ses_id = send(mail, recipient.address)
        except Rejected as refused:
            uow.execute(
                MARK,
                {
                    "id": message_id,
                    "status": "failed",
                    "ses_id": None,
                    "header": None,
                    "error": str(refused)[:1000],
                },
            )
            failed += 1
            continue
        header = emails.ses_message_id_header(ses_id, config.region)
        uow.execute(
            MARK, {"id": message_id, "status": "sent", "ses_id": ses_id, "header": header, "error": None}
        )
        sent += 1
    return Outcome(sent=sent, suppressed=held, failed=failed, repeated=repeated)


# ---- a disabled webhook endpoint, to its owner ------------------------------------------------------

ENDPOINT_DISABLED = "Webhook Endpoint Disabled"


def notify_endpoint_disabled(
    uow: UnitOfWork, detail: Mapping[str, Any], *, now: datetime, send: Send, config: EmailConfig
) -> Outcome:
    """The ``Webhook Endpoint Disabled`` event (410, or 5 days of failures) e-mailed to the person
    who registered the endpoint, at their preferences' address: why, and how to resume it."""
    owner, tenant_id = detail.get("owner"), detail.get("tenant_id")
    if not owner or not detail.get("webhook_id") or not detail.get("event_id"):
        return Outcome()
    keys: list[tuple[str | None, str]] = [(tenant_id, owner), (None, owner)] if tenant_id else [(None, owner)]
    recipient = _person(preferences.for_subjects(uow, keys), owner, tenant_id, "owner", platform_first=False)
    if recipient is None:
        return Outcome()
    return _send_all(
        uow,
        [recipient],
        {
            "event_id": UUID(str(detail["event_id"])),
            "event_type": "webhook.disabled",
            "ticket_id": None,
            "webhook_id": UUID(str(detail["webhook_id"])),
            "tenant_id": tenant_id,
        },
        emails.render_endpoint_disabled(detail),
        ticket_key=None,
        now=now,
        send=send,
        config=config,
    )


# ---- bounces and complaints ------------------------------------------------------------------------

SUPPRESS = """
INSERT INTO email_suppression (address, reason, detail, first_at, last_at)
VALUES (%(address)s, %(reason)s, %(detail)s, %(now)s, %(now)s)
ON CONFLICT (address) DO UPDATE SET last_at = EXCLUDED.last_at, reports = email_suppression.reports + 1,
    reason = CASE WHEN EXCLUDED.reason = 'complaint' THEN 'complaint' ELSE email_suppression.reason END,
    detail = EXCLUDED.detail
"""


def suppressed_by(notification: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(address, reason, detail) of an SES notification (SNS ``notificationType`` or configuration
    set ``eventType``): every recipient of a permanent bounce, every complainer. A transient bounce
    (a full mailbox) suppresses nobody."""
    kind = notification.get("notificationType") or notification.get("eventType")
    found: list[tuple[str, str, str]] = []
    if kind == "Bounce":
        bounce = notification.get("bounce") or {}
        if bounce.get("bounceType") != "Permanent":
            return []
        for r in bounce.get("bouncedRecipients") or []:
            detail = f"{bounce.get('bounceSubType') or 'bounce'}: {r.get('diagnosticCode') or ''}".strip(": ")
            found.append((str(r.get("emailAddress") or ""), "bounce", detail))
    elif kind == "Complaint":
        complaint = notification.get("complaint") or {}
        for r in complaint.get("complainedRecipients") or []:
            found.append(
                (
                    str(r.get("emailAddress") or ""),
                    "complaint",
                    str(complaint.get("complaintFeedbackType") or "complaint"),
                )
            )
    return [
        (address.strip().lower(), reason, detail[:1000])
        for address, reason, detail in found
        if "@" in address
    ]


def suppress(uow: UnitOfWork, notification: Mapping[str, Any], *, now: datetime) -> int:
    """Record what an SES notification reports; how many addresses."""
    found = suppressed_by(notification)
    for address, reason, detail in found:
        uow.execute(SUPPRESS, {"address": address, "reason": reason, "detail": detail, "now": now})
    return len(found)


def sent(
    uow: UnitOfWork, *, ticket_id: UUID | None, since: datetime | None, limit: int
) -> list[dict[str, Any]]:
    """The messages sent (newest first), for operators: ids, event, reason, status; never bodies."""
    rows = uow.execute(
        """SELECT m.id, m.sent_at, m.event_type, t.key AS ticket, m.webhook_id, m.recipient, m.audience,
                  m.reason, m.status, m.ses_message_id, m.message_id_header, m.error
           FROM email_message m LEFT JOIN ticket t ON t.id = m.ticket_id
           WHERE (%(ticket_id)s::uuid IS NULL OR m.ticket_id = %(ticket_id)s)
             AND (%(since)s::timestamptz IS NULL OR m.sent_at >= %(since)s)
           ORDER BY m.id DESC LIMIT %(limit)s""",
        {"ticket_id": ticket_id, "since": since, "limit": limit},
    ).fetchall()
    return [dict(row) for row in rows]
