"""Ticket events reach the EventBridge bus at least once: right after commit, or via the relay."""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence

import pytest

from local.events import LambdaContext, scheduled_event
from shared import aws, outbox
from tests.integration.conftest import ALICE, OPS, create_ticket

# The outbox, the audit chain and bounds are the subject here, not the SLA (test_sla.py).
pytestmark = pytest.mark.usefixtures("without_sla")


def pending(database) -> int:
    with database.admin() as conn:
        return conn.execute("SELECT count(*) AS n FROM outbox WHERE published_at IS NULL").fetchone()["n"]


def test_changes_are_published_right_after_commit(api, database, event_bus):
    ticket = create_ticket()
    api("POST", f"/tickets/{ticket['id']}/transitions", caller=OPS, body={"to": "ack"})
    received = event_bus.received()
    assert [e["detail-type"] for e in received] == ["Ticket Created", "Ticket State Changed"]
    created = received[0]
    assert created["source"] == "ticketing"
    assert created["detail"]["ticket_id"] == ticket["id"]
    assert created["detail"]["tenant_id"] == "acme"
    assert created["detail"]["ticket"]["state"] == "new"
    assert received[1]["detail"]["changes"]["state"] == {"old": "new", "new": "ack"}
    assert received[1]["detail"]["seq"] == 2
    assert pending(database) == 0


def test_what_the_flush_misses_the_relay_publishes(api, database, event_bus, monkeypatch):
    def broken(entries):
        raise ConnectionError("EventBridge unreachable")

    with monkeypatch.context() as patched:
        patched.setattr(aws, "put_events", broken)
        ticket = create_ticket()  # the change commits even though publishing fails
        assert api("GET", f"/tickets/{ticket['id']}", caller=ALICE).status == 200
        assert pending(database) == 1
        assert event_bus.received() == []

    relay = importlib.import_module("functions.outbox_relay.handler")
    summary = relay.handler(scheduled_event(), LambdaContext(function_name="outbox_relay"))
    assert summary["published"] == 1 and summary["pending"] == 0
    assert [e["detail-type"] for e in event_bus.received()] == ["Ticket Created"]
    assert pending(database) == 0


def test_entries_eventbridge_refuses_stay_pending_with_the_error(api, database, event_bus, monkeypatch):
    monkeypatch.setattr(
        aws, "put_events", lambda entries: [{"ErrorCode": "InternalFailure"} for _ in entries]
    )
    create_ticket()
    monkeypatch.undo()

    def throttled(messages: Sequence[outbox.Message]) -> list[str | None]:
        return ["ThrottlingException: slow down" for _ in messages]

    batch = outbox.publish_batch({"bus": throttled})
    assert (batch.published, len(batch.failed), batch.parked) == (0, 1, 0)
    with database.admin() as conn:
        row = conn.execute("SELECT attempts, last_error, published_at FROM outbox").fetchone()
    assert row["published_at"] is None and row["attempts"] >= 1 and "ThrottlingException" in row["last_error"]
    assert outbox.relay(event_bus.publishers).published == 1


def test_internal_comment_events_are_marked_internal_and_carry_no_body(api, database, event_bus):
    ticket = create_ticket()
    for visibility in ("internal", "public"):
        body = {"body": f"{visibility} note", "visibility": visibility}
        assert api("POST", f"/tickets/{ticket['id']}/comments", caller=OPS, body=body).status == 201
    internal, public = event_bus.received()[-2:]
    assert internal["detail-type"] == public["detail-type"] == "Ticket Comment Added"
    assert internal["detail"]["event_visibility"] == "internal"
    assert internal["detail"]["comment"]["visibility"] == "internal"
    assert "body" not in internal["detail"]["comment"]
    assert "internal note" not in json.dumps(internal)
    with database.admin() as conn:  # nor in the outbox row the relay would publish
        details = [r["detail"] for r in conn.execute("SELECT detail FROM outbox ORDER BY id").fetchall()]
    assert "internal note" not in json.dumps(details)
    assert public["detail"]["comment"]["body"] == "public note"
