"""The audit verification (functions/audit_verify) finds what the database cannot refuse."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.events import LambdaContext, scheduled_event
from tests.integration.conftest import GREG, OPS, create_ticket

# The outbox, the audit chain and bounds are the subject here, not the SLA (test_sla.py).
pytestmark = pytest.mark.usefixtures("without_sla")

verify = importlib.import_module("functions.audit_verify.handler")


def run(event: Any, *, timeout_ms: int = 300_000) -> dict[str, Any]:
    result: dict[str, Any] = verify.handler(
        event, LambdaContext(function_name="audit_verify", timeout_ms=timeout_ms)
    )
    return result


def tamper(database, statement: str, params: tuple[Any, ...]) -> None:
    """What only the tables' owner (or a superuser) can do: change audit rows past the trigger."""
    with database.admin() as conn, conn.transaction():
        conn.execute("ALTER TABLE ticket_event DISABLE TRIGGER ticket_event_no_update_delete")
        conn.execute(statement, params)
        conn.execute("ALTER TABLE ticket_event ENABLE TRIGGER ticket_event_no_update_delete")


@pytest.fixture
def tickets(api) -> list[dict[str, Any]]:
    """Three tickets with trails of 1, 3 and 2 events (one of them internal), two tenants."""
    first = create_ticket()
    second = create_ticket(title="Schema drift on events")
    api("POST", f"/tickets/{second['id']}/transitions", caller=OPS, body={"to": "ack"})
    api(
        "POST",
        f"/tickets/{second['id']}/comments",
        caller=OPS,
        body={"body": "looking", "visibility": "internal"},
    )
    third = create_ticket(caller=GREG)
    api("PATCH", f"/tickets/{third['id']}", caller=OPS, body={"priority": "low"}, headers={"If-Match": '"1"'})
    return [first, second, third]


def test_intact_trails_verify(tickets, caplog):
    result = run({})
    assert result == {
        "tickets": 3,
        "events": 6,
        "broken_count": 0,
        "broken": [],
        "complete": True,
        "next_after": None,
    }
    assert run({"ticket": tickets[1]["key"]})["events"] == 3
    assert run({"ticket": tickets[1]["id"]})["tickets"] == 1
    assert run({"tenant_id": "globex"})["tickets"] == 1


def test_an_edited_event_is_found(database, tickets):
    second = tickets[1]
    tamper(
        database,
        "UPDATE ticket_event SET actor = 'mallory' WHERE ticket_id = %s AND seq = 2",
        (second["id"],),
    )
    result = run({})
    assert result["broken_count"] == 1
    (broken,) = result["broken"]
    assert broken["ticket_id"] == second["id"] and broken["key"] == second["key"]
    assert broken["tenant_id"] == "acme" and broken["seq"] == 2
    assert "content was changed" in broken["reason"]
    assert run({"ticket": second["key"]})["broken_count"] == 1
    assert run({"ticket": tickets[0]["key"]})["broken_count"] == 0


def test_a_removed_event_is_found_in_the_middle_and_at_the_end(database, tickets):
    second = tickets[1]
    tamper(database, "DELETE FROM ticket_event WHERE ticket_id = %s AND seq = 2", (second["id"],))
    (gap,) = run({"ticket": second["key"]})["broken"]
    assert gap["seq"] == 3 and "gap" in gap["reason"]

    third = tickets[2]  # its last event removed: the chain that is left holds, its head does not
    tamper(database, "DELETE FROM ticket_event WHERE ticket_id = %s AND seq = 2", (third["id"],))
    (tail,) = run({"ticket": third["key"]})["broken"]
    assert tail["seq"] is None
    assert "names event 2 as its last, but its trail ends at 1" in tail["reason"]


def test_a_rewritten_hash_is_found(database, tickets):
    first = tickets[0]
    tamper(
        database,
        "UPDATE ticket_event SET hash = repeat('a', 64) WHERE ticket_id = %s AND seq = 1",
        (first["id"],),
    )
    (broken,) = run({})["broken"]
    assert broken["seq"] == 1 and "does not match its hash" in broken["reason"]


def test_broken_chains_are_logged_and_counted(database, tickets, caplog, monkeypatch):
    counted: dict[str, float] = {}
    add_metric = verify.metrics.add_metric
    monkeypatch.setattr(
        verify.metrics,
        "add_metric",
        lambda name, unit, value: (
            counted.update({name: value}) or add_metric(name=name, unit=unit, value=value)
        ),
    )
    tamper(database, "UPDATE ticket_event SET type = 'x' WHERE ticket_id = %s", (tickets[0]["id"],))
    run({})
    errors = [r for r in caplog.records if r.getMessage() == "audit chain broken"]
    assert len(errors) == 1
    assert (errors[0].key, errors[0].seq, errors[0].levelname) == (tickets[0]["key"], 1, "ERROR")
    assert counted == {"AuditTicketsChecked": 3, "AuditChainsBroken": 1}


def test_the_daily_run_checks_what_changed_in_the_last_25_hours(database, tickets):
    with database.admin() as conn:
        conn.execute(
            "UPDATE ticket SET updated_at = now() - interval '3 days' WHERE id = %s", (tickets[0]["id"],)
        )
    result = run(scheduled_event())
    assert result["tickets"] == 2 and result["complete"]
    late = scheduled_event()
    late["time"] = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert run(late)["tickets"] == 0


def test_big_runs_go_in_batches_and_stop_in_time(tickets):
    assert run({"limit": 1})["tickets"] == 3  # three batches in one invocation
    stopped = run({"limit": 2}, timeout_ms=10_000)  # less than the reserve left: one batch only
    assert stopped["tickets"] == 2 and not stopped["complete"]
    rest = run({"limit": 2, "after": stopped["next_after"]})
    assert rest["tickets"] == 1 and rest["complete"] and rest["next_after"] is None


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"tiket": "TCK-1"}, "tiket: Extra inputs are not permitted"),
        ({"ticket": "ticket one"}, "neither a ticket id nor a key"),
        ({"ticket": "TCK-1", "tenant_id": "acme"}, "does not combine"),
        ({"limit": 0}, "limit: Input should be greater than or equal to 1"),
        ({"updated_since": "2026-11-01T00:00:00"}, "updated_since: Input should have timezone info"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_bad_requests_are_refused_clearly(database, payload, message, caplog):
    # Issue 9: an operator's typo is a structured error result, not an exception that pages on-call.
    result = run(payload)
    assert result["error"]["type"] == "invalid_request"
    assert message in result["error"]["message"]
    assert "AuditTicketsChecked" not in caplog.text  # a refused request counts nothing


def test_an_unknown_ticket_is_an_error(database):
    result = run({"ticket": "TCK-999999"})
    assert result == {"error": {"type": "not_found", "message": "No ticket 'TCK-999999'."}}
