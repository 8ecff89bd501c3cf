"""Notification e-mails (shared.notify.emails, shared.notify.sending.suppressed_by): what they say,
escaped; headers safe and marked automatic; SES's Message-ID; which SES reports suppress whom."""

from __future__ import annotations

import pytest

from shared.notify import emails
from shared.notify.sending import is_emailed, suppressed_by

TICKET = {
    "key": "TCK-42",
    "title": "Orders <b>late</b>\r\nBcc: victim@example.com",
    "kind": "incident",
    "priority": "high",
    "state": "resolved",
    "assignee": "olga",
}


def test_a_title_cannot_inject_headers_and_html_is_escaped() -> None:
    rendered = emails.render("ticket.created", TICKET, {})
    assert "\r" not in rendered.subject and "\n" not in rendered.subject
    assert rendered.subject.startswith("[TCK-42] Received: Orders <b>late</b>")
    assert "<b>late</b>" in rendered.text
    assert "<b>" not in rendered.html and "&lt;b&gt;late&lt;/b&gt;" in rendered.html
    mail = emails.message(
        sender="ticketing@mail.example.com",
        sender_name="Ticketing",
        recipient="alice@acme.example",
        reply_to=emails.reply_address("tok_123456789012345", "reply.example.com"),
        rendered=rendered,
        ticket_key="TCK-42",
    )
    assert mail["Bcc"] is None and mail["To"] == "alice@acme.example"
    assert mail["Reply-To"] == "reply+tok_123456789012345@reply.example.com"
    assert mail["Auto-Submitted"] == "auto-generated" and mail["X-Auto-Response-Suppress"] == "All"
    assert mail.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in mail.iter_parts()] == ["text/plain", "text/html"]


@pytest.mark.parametrize(
    ("event_type", "detail", "subject", "line"),
    [
        (
            "ticket.commented",
            {"comment": {"author": "olga", "body": "On it <now>"}},
            "New comment",
            "On it <now>",
        ),
        (
            "ticket.commented",
            {"comment": {"author": "olga", "body_omitted": True}},
            "New comment",
            "long comment",
        ),
        (
            "ticket.state_changed",
            {"changes": {"resolution": {"new": "restarted"}}},
            "Resolved",
            "Resolution: restarted",
        ),
        (
            "sla.at_risk",
            {"changes": {"metric": "first_response", "due_at": "2026-12-03T10:00:00+00:00"}},
            "SLA at risk (first response)",
            "2026-12-03T10:00",
        ),
        ("sla.breached", {"changes": {"metric": "resolution"}}, "SLA breached (resolution)", "breached"),
    ],
)
def test_each_email_says_what_happened(event_type: str, detail: dict, subject: str, line: str) -> None:
    rendered = emails.render(event_type, TICKET, detail)
    assert rendered.subject.startswith(f"[TCK-42] {subject}:")
    assert line in rendered.text


def test_no_email_for_other_events() -> None:
    with pytest.raises(ValueError):
        emails.render("sla.paused", TICKET, {})
    assert not is_emailed({"type": "sla.paused"})
    assert not is_emailed({"type": "comment.added", "comment": {"visibility": "internal"}})
    assert is_emailed({"type": "comment.added", "comment": {"visibility": "public"}})
    assert not is_emailed({"type": "ticket.state_changed", "ticket": {"state": "ack"}})
    assert is_emailed({"type": "ticket.state_changed", "ticket": {"state": "closed"}})


def test_the_message_id_ses_uses() -> None:
    assert emails.ses_message_id_header("0100abc", "eu-west-1") == "<0100abc@eu-west-1.amazonses.com>"
    assert emails.ses_message_id_header("0100abc", "us-east-1") == "<0100abc@email.amazonses.com>"


def test_which_reports_suppress() -> None:
    permanent = {
        "notificationType": "Bounce",
        "bounce": {"bounceType": "Permanent", "bouncedRecipients": [{"emailAddress": " A@B.example "}]},
    }
    assert suppressed_by(permanent) == [("a@b.example", "bounce", "bounce")]
    transient = {
        "notificationType": "Bounce",
        "bounce": {"bounceType": "Transient", "bouncedRecipients": [{"emailAddress": "a@b.example"}]},
    }
    assert suppressed_by(transient) == []
    complaint = {
        "eventType": "Complaint",
        "complaint": {"complainedRecipients": [{"emailAddress": "c@d.example"}]},
    }
    assert suppressed_by(complaint) == [("c@d.example", "complaint", "complaint")]
    assert suppressed_by({"notificationType": "Delivery"}) == []
    assert (
        suppressed_by(
            {"eventType": "Complaint", "complaint": {"complainedRecipients": [{"emailAddress": "nope"}]}}
        )
        == []
    )
