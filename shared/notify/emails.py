"""What a notification e-mail says, and the message that carries it (pure: no I/O).

Every e-mail is about one ticket and one event, in plain text and HTML (every value escaped), with
the ticket's key in the subject (``[TCK-42] ...``) and a reply address of its own
(``reply+<token>@<reply domain>``), so that the e-mail intake can thread a reply onto the ticket
(the ``Message-ID`` SES gives it is recorded too: ``shared.notify.sending``). It is marked as
automatic (``Auto-Submitted: auto-generated``, ``X-Auto-Response-Suppress: All``) so that
out-of-office replies do not answer it and loops cannot start.

A tenant's address only ever gets public content: the caller (``shared.notify.sending``) never
renders an internal event for one, and what is rendered here is the ticket's public fields, a
public comment, and an SLA clock's figures.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr
from typing import Any

# The e-mails the service sends (each recipient may opt out of any: /me/notification-preferences).
STATE_MAILS = {
    "wait_requester": "Waiting for you",
    "resolved": "Resolved",
    "closed": "Closed",
}
SUBJECT_TITLE_CHARS = 120
_LINE_BREAKS = re.compile(r"[\r\n\t\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def _one_line(value: Any, limit: int = SUBJECT_TITLE_CHARS) -> str:
    """A header-safe line: no line breaks or control characters (header injection), bounded."""
    text = _LINE_BREAKS.sub(" ", str(value or "")).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _paragraphs(lines: list[str]) -> str:
    return "".join(f"<p>{html.escape(line)}</p>" for line in lines if line)


def render(event_type: str, ticket: Mapping[str, Any], detail: Mapping[str, Any]) -> Rendered:
    """The e-mail for one event of a ticket (``event_type`` as in ``EMAIL_EVENT_TYPES``)."""
    key, title = ticket["key"], _one_line(ticket.get("title"))
    lines: list[str]
    if event_type == "ticket.created":
        what = "Received"
        lines = [
            f"We have received your {ticket.get('kind') or 'ticket'} {key}: {title}.",
            f"Priority: {ticket.get('priority')}. We will keep you posted here.",
        ]
    elif event_type == "ticket.commented":
        comment = detail.get("comment") or {}
        what = "New comment"
        body = (
            comment.get("body")
            if not comment.get("body_omitted")
            else "(A long comment: read it on the ticket.)"
        )
        lines = [f"{comment.get('author') or 'Someone'} commented on {key}:", str(body or "")]
    elif event_type == "ticket.state_changed":
        state = str(ticket.get("state"))
        what = STATE_MAILS.get(state, state)
        lines = [f"{key} is now {state.replace('_', ' ')}."]
        if state == "wait_requester":
            lines.append("We need something from you to go on: reply to this e-mail.")
        resolution = ((detail.get("changes") or {}).get("resolution") or {}).get("new")
        if state == "resolved" and resolution:
            lines.append(f"Resolution: {resolution}")
    elif event_type in ("sla.at_risk", "sla.breached"):
        changes = detail.get("changes") or {}
        metric = str(changes.get("metric") or "resolution").replace("_", " ")
        what = f"SLA {'at risk' if event_type == 'sla.at_risk' else 'breached'} ({metric})"
        lines = [
            f"The {metric} target of {key} is {'at risk' if event_type == 'sla.at_risk' else 'breached'}.",
            f"Due: {changes.get('due_at') or changes.get('breached_at') or 'unknown'}.",
            f"Priority: {ticket.get('priority')}; assignee: {ticket.get('assignee') or 'nobody'}.",
        ]
    else:
        raise ValueError(f"no e-mail for {event_type!r}")
    subject = f"[{key}] {what}: {title}"
    footer = (
        f"Reply to this e-mail to comment on {key}."
        " You can turn these e-mails off in your notification preferences."
    )
    text = "\n\n".join([*lines, "--", footer]) + "\n"
    page = (
        "<!doctype html><html><body>"
        f'{_paragraphs(lines)}<hr><p style="color:#666">{html.escape(footer)}</p>'
        "</body></html>"
    )
    return Rendered(subject=_one_line(subject, 200), text=text, html=page)


def render_endpoint_disabled(detail: Mapping[str, Any]) -> Rendered:
    """To the owner of a webhook endpoint the service disabled: which, why, and what to do."""
    url = _one_line(detail.get("url"), 200)
    lines = [
        f"Your webhook endpoint {url} (id {detail.get('webhook_id')}) was disabled.",
        f"Why: {_one_line(detail.get('reason'), 500)}",
        "Its deliveries are kept and wait: once the receiver works again, resume the endpoint"
        f" (POST /webhooks/{detail.get('webhook_id')}/resume) and they go out.",
    ]
    footer = "You get this because you registered the endpoint."
    text = "\n\n".join([*lines, "--", footer]) + "\n"
    page = (
        "<!doctype html><html><body>"
        f'{_paragraphs(lines)}<hr><p style="color:#666">{html.escape(footer)}</p>'
        "</body></html>"
    )
    return Rendered(
        subject=_one_line(f"[Ticketing] Webhook endpoint disabled: {url}", 200), text=text, html=page
    )


def message(
    *,
    sender: str,
    sender_name: str,
    recipient: str,
    reply_to: str,
    rendered: Rendered,
    ticket_key: str | None,
) -> EmailMessage:
    """The MIME message (multipart/alternative: text, then HTML). No ``Message-ID``: SES sets its
    own, whatever one sends, and that is the one recorded."""
    mail = EmailMessage()
    mail["From"] = formataddr((sender_name, sender))
    mail["To"] = recipient
    mail["Reply-To"] = reply_to
    mail["Subject"] = rendered.subject
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-Auto-Response-Suppress"] = "All"
    if ticket_key:
        mail["X-Ticketing-Ticket"] = ticket_key
    mail.set_content(rendered.text)
    mail.add_alternative(rendered.html, subtype="html")
    return mail


def reply_address(token: str, domain: str) -> str:
    return f"reply+{token}@{domain}"


def ses_message_id_header(ses_message_id: str, region: str) -> str:
    """The ``Message-ID`` header SES puts on a message it sent with this id (SES replaces any the
    sender set): ``<id@email.amazonses.com>`` in us-east-1, ``<id@<region>.amazonses.com>`` elsewhere."""
    host = "email.amazonses.com" if region == "us-east-1" else f"{region}.amazonses.com"
    return f"<{ses_message_id}@{host}>"
