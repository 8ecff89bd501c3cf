"""E-mail notifications (issue 12 §6): ticket events from the bus (as the notify worker's rule puts
them on its queue) become e-mails through moto's SES to the requester, the assignee and the
watchers; preferences opt out; tenants never get internal content; SES bounces and complaints
suppress an address; each message is recorded with the Message-ID SES used."""

from __future__ import annotations

import json
import uuid
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from functions.email_feedback import handler as feedback
from functions.notify import handler as notify
from functions.sent_emails import handler as sent_emails
from local.events import LambdaContext, sqs_event_of
from shared import aws
from shared.runtime import entrypoints
from tests.conftest import Bus, Database
from tests.integration.conftest import ALICE, GREG, OPS, Caller, create_ticket

SENDER = "ticketing@mail.example.com"
BOB = Caller("bob", None, ["platform_operator"])


@pytest.fixture
def mail(api: Any, event_bus: Bus, monkeypatch: pytest.MonkeyPatch) -> Bus:
    ses = aws.client("ses")
    ses.verify_domain_identity(Domain="mail.example.com")
    monkeypatch.setenv("SES_FROM_ADDRESS", SENDER)
    monkeypatch.setenv("SES_IDENTITY_ARN", "arn:aws:ses:eu-west-1:123456789012:identity/mail.example.com")
    monkeypatch.setenv("SES_CONFIGURATION_SET", "")
    monkeypatch.setenv("EMAIL_REPLY_DOMAIN", "reply.example.com")
    entrypoints.reset()
    event_bus.received()  # start clean
    return event_bus


def prefer(api: Any, caller: Caller, email: str, opt_out: list[str] | None = None) -> None:
    result = api(
        "PUT", "/me/notification-preferences", caller=caller, body={"email": email, "opt_out": opt_out or []}
    )
    assert result.status == 200, result.body


def deliver(bus: Bus, *, source: str | None = None) -> list[dict[str, Any]]:
    """Every event the bus delivered so far, through the notify worker as its queue would."""
    sqs = aws.client("sqs")
    results: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=bus.queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return results
        if source is not None:
            for message in messages:
                envelope = json.loads(message["Body"])
                message["Body"] = json.dumps({**envelope, "source": source})
        results.append(notify.handler(sqs_event_of(messages), LambdaContext(function_name="notify")))
        for message in messages:
            sqs.delete_message(QueueUrl=bus.queue_url, ReceiptHandle=message["ReceiptHandle"])


def outbox_to_bus() -> None:
    from shared import outbox

    outbox.relay(entrypoints.services(entrypoints.spec_of("outbox_relay")).publishers)


def sent_mail() -> list[EmailMessage]:
    from moto.ses.models import ses_backends

    backend = ses_backends["123456789012"]["eu-west-1"]
    parsed = []
    for raw in backend.sent_messages:
        data = raw.raw_data.encode() if isinstance(raw.raw_data, str) else raw.raw_data
        parsed.append(message_from_bytes(data, policy=policy.default))
    return parsed


def to(address: str) -> list[EmailMessage]:
    return [m for m in sent_mail() if m["To"] == address]


def rows(database: Database) -> list[dict[str, Any]]:
    with database.admin() as conn:
        return list(conn.execute("SELECT * FROM email_message ORDER BY id").fetchall())


def test_the_requester_gets_a_confirmation_threadable_and_marked_automatic(
    api: Any, mail: Bus, database: Database
) -> None:
    prefer(api, ALICE, "alice@acme.example")
    ticket = create_ticket(ALICE, title="Orders <script>alert(1)</script> late")
    deliver(mail)
    (message,) = to("alice@acme.example")
    assert message["Subject"] == f"[{ticket['key']}] Received: Orders <script>alert(1)</script> late"
    assert message["Auto-Submitted"] == "auto-generated" and message["X-Auto-Response-Suppress"] == "All"
    assert message["From"] == f"Ticketing <{SENDER}>"
    (row,) = rows(database)
    assert message["Reply-To"] == f"reply+{row['reply_token']}@reply.example.com"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert ticket["key"] in text and "<script>" in text
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert row["status"] == "sent" and row["reason"] == "requester" and row["audience"] == "tenant"
    assert row["message_id_header"] == f"<{row['ses_message_id']}@eu-west-1.amazonses.com>"
    # The same event again (at least once): nothing twice.
    outbox_to_bus()
    deliver(mail)
    assert len(to("alice@acme.example")) == 1


def test_a_public_comment_reaches_requester_assignee_and_watchers_but_not_its_author(
    api: Any, mail: Bus, database: Database
) -> None:
    prefer(api, ALICE, "alice@acme.example")
    prefer(api, OPS, "olga@platform.example")
    prefer(api, BOB, "bob@platform.example")
    ticket = create_ticket(ALICE)
    assert api("PATCH", f"/tickets/{ticket['id']}", caller=OPS, body={"assignee": "bob"}).status == 200
    watched = api(
        "POST", f"/tickets/{ticket['id']}/watchers", caller=OPS, body={"email": "olga@platform.example"}
    )
    assert watched.status in (200, 201), watched.body
    deliver(mail)
    for visibility, body in (("public", "We are on it."), ("internal", "root cause: bad deploy")):
        result = api(
            "POST",
            f"/tickets/{ticket['id']}/comments",
            caller=OPS,
            body={"body": body, "visibility": visibility},
        )
        assert result.status == 201
    deliver(mail)
    commented = [m for m in sent_mail() if "New comment" in m["Subject"]]
    assert sorted(m["To"] for m in commented) == ["alice@acme.example", "bob@platform.example"]  # not olga
    assert all("root cause" not in m.get_body(("plain",)).get_content() for m in sent_mail())
    assert "We are on it." in commented[0].get_body(("plain",)).get_content()


def test_preferences_opt_out_and_state_changes_are_mailed(api: Any, mail: Bus) -> None:
    prefer(api, ALICE, "alice@acme.example", opt_out=["ticket.created"])
    ticket = create_ticket(ALICE)
    deliver(mail)
    assert to("alice@acme.example") == []
    for state in ("ack", "wait_requester"):
        result = api("POST", f"/tickets/{ticket['id']}/transitions", caller=OPS, body={"to": state})
        assert result.status == 200, result.body
    deliver(mail)
    (waiting,) = to("alice@acme.example")
    assert waiting["Subject"].startswith(f"[{ticket['key']}] Waiting for you:")


def test_a_tenant_never_hears_of_a_platform_only_ticket(api: Any, mail: Bus) -> None:
    prefer(api, OPS, "olga@platform.example")
    ticket = create_ticket(OPS, visibility="platform_only", tenant_id="acme")
    watched = api(
        "POST",
        f"/tickets/{ticket['id']}/watchers",
        caller=OPS,
        body={"email": "greg@globex.example", "subject": "greg", "tenant_id": "acme"},
    )
    assert watched.status == 422  # a tenant person cannot watch a platform-only ticket
    deliver(mail)
    assert [m["To"] for m in sent_mail()] == ["olga@platform.example"]


def test_bounces_and_complaints_suppress_an_address(api: Any, mail: Bus, database: Database) -> None:
    prefer(api, GREG, "greg@globex.example")
    bounce: dict[str, Any] = {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": [
                {"emailAddress": "Greg@Globex.example", "diagnosticCode": "550 no such user"}
            ],
        },
        "mail": {"messageId": "0100-test"},
    }
    transient = {**bounce, "bounce": {**bounce["bounce"], "bounceType": "Transient"}}
    complaint = {
        "eventType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": "x@acme.example"}],
            "complaintFeedbackType": "abuse",
        },
    }
    records = [
        {
            "MessageId": str(uuid.uuid4()),
            "ReceiptHandle": "r",
            "Body": json.dumps({"Type": "Notification", "Message": json.dumps(n)}),
            "Attributes": {},
            "MD5OfBody": "",
        }
        for n in (bounce, transient, complaint)
    ] + [
        {
            "MessageId": str(uuid.uuid4()),
            "ReceiptHandle": "r",
            "Body": '{"Type": "Notification", "Message": "nope"}',
        }
    ]
    result = feedback.handler(sqs_event_of(records), LambdaContext(function_name="email_feedback"))
    assert result["batchItemFailures"] == []
    with database.admin() as conn:
        suppressed = {r["address"]: r["reason"] for r in conn.execute("SELECT * FROM email_suppression")}
        refused = conn.execute("SELECT reason FROM inbound_message WHERE status = 'refused'").fetchall()
    assert suppressed == {"greg@globex.example": "bounce", "x@acme.example": "complaint"}
    assert len(refused) == 1 and "not JSON" in refused[0]["reason"]
    create_ticket(GREG)
    deliver(mail)
    assert to("greg@globex.example") == []
    (row,) = rows(database)
    assert row["status"] == "suppressed" and row["ses_message_id"] is None


def test_events_of_another_source_are_refused(api: Any, mail: Bus, database: Database) -> None:
    prefer(api, ALICE, "alice@acme.example")
    create_ticket(ALICE)
    deliver(mail, source="platform.health")
    assert sent_mail() == []
    with database.admin() as conn:
        refused = conn.execute("SELECT reason FROM inbound_message WHERE status = 'refused'").fetchall()
    assert refused and "not the service's own" in refused[0]["reason"]


def test_operators_list_what_was_sent(api: Any, mail: Bus) -> None:
    prefer(api, ALICE, "alice@acme.example")
    ticket = create_ticket(ALICE)
    deliver(mail)
    listed = sent_emails.handler({"ticket": ticket["key"]}, LambdaContext(function_name="sent_emails"))
    (message,) = listed["messages"]
    assert message["ticket"] == ticket["key"] and message["event_type"] == "ticket.created"
    assert message["recipient"] == "alice@acme.example" and message["message_id_header"].startswith("<")
    assert sent_emails.handler({"limit": 0}, LambdaContext(function_name="sent_emails"))["error"]["type"] == (
        "invalid_request"
    )


def test_the_owner_of_a_disabled_webhook_endpoint_is_told(
    api: Any, mail: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from shared import db
    from shared.auth import Principal
    from shared.webhooks import deliveries

    monkeypatch.setenv("WEBHOOK_REQUIRE_HTTPS", "false")
    monkeypatch.setenv("WEBHOOK_ALLOW_LOOPBACK", "127.0.0.1")
    entrypoints.reset()
    anna = Caller("anna", "acme", ["tenant_admin"])
    prefer(api, anna, "anna@acme.example")
    endpoint = api(
        "POST", "/webhooks", caller=anna, body={"url": "http://127.0.0.1:9/hook", "event_types": ["*"]}
    ).body
    with db.transaction(Principal.system("test")) as uow:
        assert deliveries.disable(
            uow, endpoint["id"], "The endpoint answered 410 Gone.", now=datetime.now(UTC)
        )
    outbox_to_bus()
    deliver(mail)
    (message,) = to("anna@acme.example")
    assert message["Subject"] == "[Ticketing] Webhook endpoint disabled: http://127.0.0.1:9/hook"
    text = message.get_body(("plain",)).get_content()
    assert "410 Gone" in text and f"/webhooks/{endpoint['id']}/resume" in text
