"""The SLA engine against PostgreSQL and moto (issue 11 §2-§4): clocks moved by ticket changes in
their transaction, timers fired through the worker with real SQS batches (redelivered and stale
messages included), a transition racing a firing timer, backfill and repair, and what clients see
(the ticket's ``sla``, the trail, the bus, the list filter and order)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions.backfill_sla_timers import handler as backfill
from functions.sla_repair import handler as repair
from functions.sla_sweep import handler as sweeper
from functions.sla_timer import handler as timer
from local.events import LambdaContext, scheduled_event, sqs_event_of
from shared import aws, db, outbox
from shared.auth import Principal, Role
from shared.aws.publishers import EventBridgePublisher, SqsPublisher
from shared.sla import config as sla_config
from shared.sla import engine
from shared.tickets import service
from shared.tickets.models import TicketCreate, TransitionRequest
from tests.conftest import Bus, Database
from tests.integration.conftest import ALICE, OPS, invoke

OPERATOR = Principal(sub="olga", tenant=None, roles=frozenset({Role.PLATFORM_OPERATOR}))
TENANT = Principal(sub="alice", tenant="acme", roles=frozenset({Role.TENANT_USER}))


@pytest.fixture
def sla(database: Database, event_bus: Bus) -> Bus:
    service.on_change(
        engine.on_ticket_change, creation=engine.plan_creation
    )  # as every function that changes tickets does
    sla_config.forget()
    return event_bus


def publishers(bus: Bus) -> dict[str, Any]:
    return {
        "bus": EventBridgePublisher(bus.name, "ticketing"),
        "queue": SqsPublisher({"sla_timer": bus.timer_queue_url}),
    }


def relay(bus: Bus) -> None:
    """Publish what the outbox holds (timer messages to the timer queue, events to the bus)."""
    outbox.take_committed()
    outbox.relay(publishers(bus))


def drain(bus: Bus) -> list[dict[str, Any]]:
    """Run the timer worker over the visible messages of its queue, deleting what it handled."""
    sqs = aws.client("sqs")
    results: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=bus.timer_queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return results
        result = timer.handler(sqs_event_of(messages), LambdaContext(function_name="sla_timer"))
        results.append(result)
        failed = {f["itemIdentifier"] for f in result["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=bus.timer_queue_url, ReceiptHandle=message["ReceiptHandle"])


def open_ticket(at: datetime, *, principal: Principal = OPERATOR, **values: Any) -> dict[str, Any]:
    data = {"title": "orders pipeline failing", "category": "pipeline_failure", "priority": "high"}
    if principal.is_platform:
        data["tenant_id"] = "acme"
    data |= values
    with db.transaction(principal) as uow:
        created = service.create(
            uow, principal, TicketCreate.model_validate(data), correlation_id=None, now=at
        )
    return created.model_dump(mode="json")


def read(ticket: dict[str, Any]) -> dict[str, Any]:
    result = invoke("GET", f"/tickets/{ticket['id']}", caller=OPS)
    assert result.status == 200, result.body
    body: dict[str, Any] = result.body
    return body


def trail(ticket: dict[str, Any]) -> list[dict[str, Any]]:
    result = invoke("GET", f"/tickets/{ticket['id']}/events", caller=OPS, query={"limit": "200"})
    assert result.status == 200
    items: list[dict[str, Any]] = result.body["items"]
    return items


def sla_types(ticket: dict[str, Any]) -> list[str]:
    return [e["type"] for e in trail(ticket) if e["type"].startswith("sla.")]


def admin_sql(database: Database, statement: str, params: Any = None) -> list[dict[str, Any]]:
    with database.admin() as conn:
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def add_policy(
    database: Database, policy_id: str, *, position: int = 1, tenant: str = "initech", **targets: Any
) -> None:
    """A policy for one tenant, tried first (the seeded ones match by priority)."""
    admin_sql(
        database,
        "INSERT INTO sla_policy (id, position, name, match, first_response_minutes, resolution_minutes,"
        " calendar_id, escalation, created_by, created_at, updated_by, updated_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, '24x7', %s, 'test', now(), 'test', now())",
        (
            policy_id,
            position,
            policy_id,
            json.dumps({"tenant_id": [tenant]}),
            targets.get("first_response"),
            targets.get("resolution"),
            json.dumps(targets.get("escalation", [])),
        ),
    )
    sla_config.forget()


def firings(database: Database, ticket: dict[str, Any]) -> list[dict[str, Any]]:
    return admin_sql(
        database,
        "SELECT c.metric, f.step, f.late_s, f.fired_by"
        " FROM sla_firing f JOIN sla_clock c ON c.id = f.clock_id"
        " WHERE f.ticket_id = %s ORDER BY f.due_at, f.step",
        (ticket["id"],),
    )


# ---- what clients see ---------------------------------------------------------------------------------


def test_a_new_ticket_shows_its_sla_and_the_trail_says_it_was_applied(sla: Bus) -> None:
    created = invoke(
        "POST",
        "/tickets",
        caller=ALICE,
        body={"title": "Orders late", "priority": "high", "category": "quota"},
    )
    assert created.status == 201, created.body
    body = created.body
    at = datetime.fromisoformat(body["created_at"])
    assert body["sla"]["status"] == "on_track" and body["sla"]["policy_id"] == "default-high"
    first = body["sla"]["first_response"]
    assert datetime.fromisoformat(first["due_at"]) == at + timedelta(hours=2)
    assert first["state"] == "running" and 7100 < first["remaining_s"] <= 7200
    assert datetime.fromisoformat(body["sla"]["resolution"]["due_at"]) == at + timedelta(hours=24)
    tenant_trail = invoke("GET", f"/tickets/{body['id']}/events", caller=ALICE).body["items"]
    assert [e["type"] for e in tenant_trail] == ["ticket.created", "sla.applied"]
    assert {m["detail-type"] for m in sla.received()} == {"Ticket Created", "SLA Applied"}


def test_a_ticket_no_policy_matches_has_no_sla_and_says_so(sla: Bus, database: Database) -> None:
    admin_sql(database, "UPDATE sla_policy SET enabled = false")
    created = invoke(
        "POST",
        "/tickets",
        caller=ALICE,
        body={"title": "Orders late", "priority": "low", "category": "quota"},
    )
    assert created.body["sla"] == {
        "status": "none",
        "policy_id": None,
        "first_response": None,
        "resolution": None,
    }
    assert sla_types(created.body) == []


def test_waiting_pauses_resolution_over_http_and_a_platform_transition_meets_first_response(sla: Bus) -> None:
    ticket = invoke(
        "POST",
        "/tickets",
        caller=ALICE,
        body={"title": "Need a quota", "priority": "medium", "category": "quota"},
    ).body
    moved = invoke("POST", f"/tickets/{ticket['id']}/transitions", caller=OPS, body={"to": "wait_requester"})
    assert moved.status == 200, moved.body
    sla_now = moved.body["sla"]
    assert sla_now["status"] == "paused"
    assert sla_now["first_response"]["state"] == "met" and sla_now["first_response"]["met_at"]
    assert sla_now["resolution"]["state"] == "paused" and sla_now["resolution"]["due_at"] is None
    assert sla_now["resolution"]["remaining_s"] > 48 * 3600 - 60
    resumed = invoke("POST", f"/tickets/{ticket['id']}/transitions", caller=OPS, body={"to": "in_progress"})
    assert resumed.body["sla"]["status"] == "on_track"
    assert sla_types(ticket) == ["sla.applied", "sla.met", "sla.paused", "sla.resumed"]


def test_a_tenant_comment_does_not_meet_first_response_a_platform_public_one_does(sla: Bus) -> None:
    ticket = invoke(
        "POST",
        "/tickets",
        caller=ALICE,
        body={"title": "Need access", "priority": "low", "category": "access"},
    ).body
    invoke("POST", f"/tickets/{ticket['id']}/comments", caller=ALICE, body={"body": "any news?"})
    assert read(ticket)["sla"]["first_response"]["state"] == "running"
    invoke(
        "POST",
        f"/tickets/{ticket['id']}/comments",
        caller=OPS,
        body={"body": "note", "visibility": "internal"},
    )
    assert read(ticket)["sla"]["first_response"]["state"] == "running"
    invoke("POST", f"/tickets/{ticket['id']}/comments", caller=OPS, body={"body": "looking"})
    assert read(ticket)["sla"]["first_response"]["state"] == "met"


# ---- timers -------------------------------------------------------------------------------------------


def test_overdue_steps_fire_once_through_the_worker_and_escalate(sla: Bus, database: Database) -> None:
    now = datetime.now(UTC)
    ticket = open_ticket(now - timedelta(hours=3))  # default-high: first response 2 h, breach escalates
    relay(sla)
    sla.received()
    swept = sweeper.handler(scheduled_event(), LambdaContext(function_name="sla_sweep"))
    assert swept["enqueued"] >= 1 and swept["overdue"] >= 1
    relay(sla)
    drain(sla)
    relay(sla)
    after = read(ticket)
    first = after["sla"]["first_response"]
    assert first["state"] == "breached"
    assert datetime.fromisoformat(first["breached_at"]) == datetime.fromisoformat(
        ticket["created_at"]
    ) + timedelta(hours=2)
    # default-high's breach step raises the priority: the ticket is critical now, under default-critical
    assert after["priority"] == "critical" and after["sla_escalation_level"] >= 1
    types = sla_types(ticket)
    assert types.count("sla.at_risk") == 1 and types.count("sla.breached") == 1
    assert "sla.escalated" in types and "sla.retargeted" in types
    fired = firings(database, ticket)
    assert [(f["metric"], f["step"]) for f in fired][:2] == [
        ("first_response", "at_risk"),
        ("first_response", "breach"),
    ]
    assert all(f["late_s"] > 0 for f in fired)  # they were due an hour ago and more
    bus_types = [m["detail-type"] for m in sla.received()]
    assert "SLA Breached" in bus_types and "SLA Escalated" in bus_types and "SLA At Risk" in bus_types
    escalated = next(e for e in trail(ticket) if e["type"] == "sla.escalated")
    assert escalated["visibility"] == "internal" and escalated["changes"]["notify"]

    # The same messages again (a redelivery, or the sweeper's resend): nothing fires twice.
    before = len(trail(ticket))
    clocks = admin_sql(database, "SELECT id, generation FROM sla_clock WHERE ticket_id = %s", (ticket["id"],))
    stale = [
        {
            "messageId": f"m{i}",
            "receiptHandle": "r",
            "body": json.dumps({"clock_id": str(c["id"]), "generation": c["generation"] - 1}),
            "attributes": {},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:eu-west-1:000000000000:ticketing-sla-timer",
            "awsRegion": "eu-west-1",
        }
        for i, c in enumerate(clocks)
    ]
    result = timer.handler({"Records": stale}, LambdaContext(function_name="sla_timer"))
    assert result == {"batchItemFailures": []}
    assert len(trail(ticket)) == before


def test_a_stale_message_after_the_clock_was_met_finds_nothing_to_do(sla: Bus, database: Database) -> None:
    add_policy(database, "ten-minutes", first_response=10)
    ticket = open_ticket(datetime.now(UTC), tenant_id="initech")  # at risk in 8 minutes: enqueued now
    relay(sla)
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=sla.timer_queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"  # moto honours DelaySeconds
    [clock] = admin_sql(
        database,
        "SELECT id, generation, enqueued_generation, next_step FROM sla_clock"
        " WHERE ticket_id = %s AND metric = 'first_response'",
        (ticket["id"],),
    )
    assert clock["enqueued_generation"] == clock["generation"] and clock["next_step"] == "at_risk"
    with db.transaction(OPERATOR) as uow:
        service.transition(uow, OPERATOR, ticket["id"], TransitionRequest(to="ack"), correlation_id=None)
    message = {"clock_id": str(clock["id"]), "generation": clock["generation"]}
    record = {
        "messageId": "m1",
        "receiptHandle": "r",
        "body": json.dumps(message),
        "attributes": {},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:000000000000:ticketing-sla-timer",
        "awsRegion": "eu-west-1",
    }
    assert timer.handler({"Records": [record]}, LambdaContext(function_name="sla_timer")) == {
        "batchItemFailures": []
    }
    assert firings(database, ticket) == []
    assert read(ticket)["sla"]["first_response"]["state"] == "met"


def _race(ticket_id: str, clock_id: Any) -> list[BaseException]:
    """The timer firing the clock and an operator's ack, released together."""
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def fire() -> None:
        timer_principal = Principal.system("sla_timer")
        with db.transaction(timer_principal) as uow:
            engine.fire_due(uow, timer_principal, clock_id, generation=None, now=datetime.now(UTC))

    def transition() -> None:
        with db.transaction(OPERATOR) as uow:
            service.transition(uow, OPERATOR, ticket_id, TransitionRequest(to="ack"), correlation_id=None)

    def run(work: Any) -> None:
        try:
            barrier.wait()
            work()
        except BaseException as exc:  # reported to the test
            errors.append(exc)
        finally:
            db.close_all()

    threads = [threading.Thread(target=run, args=(work,)) for work in (fire, transition)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_a_transition_racing_a_firing_timer_ends_consistent(sla: Bus, database: Database) -> None:
    for _ in range(6):
        now = datetime.now(UTC)
        ticket = open_ticket(now - timedelta(hours=2, seconds=1))  # first response due a second ago
        [clock] = admin_sql(
            database,
            "SELECT id FROM sla_clock WHERE ticket_id = %s AND metric = 'first_response'",
            (ticket["id"],),
        )
        assert _race(ticket["id"], clock["id"]) == []
        [row] = admin_sql(
            database,
            "SELECT state, breached_at, met_at, fired FROM sla_clock"
            " WHERE ticket_id = %s AND metric = 'first_response'",
            (ticket["id"],),
        )
        # Either order: the target had passed, so the clock is breached (at its due instant) and met.
        assert row["state"] == "breached" and row["met_at"] is not None
        assert row["breached_at"] == datetime.fromisoformat(ticket["created_at"]) + timedelta(hours=2)
        assert row["fired"].count("breach") == 1
        assert sla_types(ticket).count("sla.breached") == 1


# ---- backfill and repair ------------------------------------------------------------------------------


def test_backfill_fires_the_missed_steps_once_and_a_dry_run_only_lists_them(
    sla: Bus, database: Database
) -> None:
    add_policy(database, "one-hour", first_response=60)
    ticket = open_ticket(datetime.now(UTC) - timedelta(hours=2, minutes=30), tenant_id="initech")
    listed = backfill.handler({"dry_run": True}, LambdaContext(function_name="backfill_sla_timers"))
    mine = [s for s in listed["steps"] if s["ticket"] == ticket["key"]]
    assert mine and mine[0]["step"] == "at_risk" and mine[0]["late_s"] > 0
    assert firings(database, ticket) == []
    fired = backfill.handler({}, LambdaContext(function_name="backfill_sla_timers"))
    assert fired["fired"] >= 2
    assert read(ticket)["sla"]["first_response"]["state"] == "breached"
    assert [(f["step"], f["fired_by"]) for f in firings(database, ticket)][:2] == [
        ("at_risk", "backfill"),
        ("breach", "backfill"),
    ]
    again = backfill.handler({}, LambdaContext(function_name="backfill_sla_timers"))
    assert all(s["ticket"] != ticket["key"] or s["outcome"] != "fired" for s in again["steps"])
    refused = backfill.handler({"since": "yesterday"}, LambdaContext(function_name="backfill_sla_timers"))
    assert refused["error"]["type"] == "invalid_request"


def test_repair_recomputes_clocks_from_the_trail_after_a_policy_was_corrected(
    sla: Bus, database: Database
) -> None:
    now = datetime.now(UTC)
    ticket = open_ticket(now - timedelta(hours=1))
    with db.transaction(OPERATOR) as uow:
        service.transition(
            uow, OPERATOR, ticket["id"], TransitionRequest(to="wait_dependency"), correlation_id=None
        )
    # The high policy's resolution target was wrong: 24 h should have been 30 minutes.
    admin_sql(
        database,
        "UPDATE sla_policy SET resolution_minutes = 30, version = version + 1 WHERE id = 'default-high'",
    )
    dry = repair.handler(
        {"ticket": ticket["key"], "dry_run": True}, LambdaContext(function_name="sla_repair")
    )
    [found] = dry["tickets"]
    assert found["differences"]["resolution"]["target_s"] == {"old": 86400, "new": 1800}
    assert "sla.repaired" not in sla_types(ticket)
    done = repair.handler({"ticket": ticket["key"]}, LambdaContext(function_name="sla_repair"))
    assert done["differing"] == 1
    after = read(ticket)
    assert after["sla"]["resolution"]["state"] == "breached"  # 1 h counted against 30 minutes
    types = sla_types(ticket)
    assert "sla.repaired" in types and "sla.breached" in types
    again = repair.handler({"ticket": ticket["key"]}, LambdaContext(function_name="sla_repair"))
    assert again["differing"] == 0
    assert repair.handler({}, LambdaContext(function_name="sla_repair"))["error"]["type"] == "invalid_request"


# ---- the list -----------------------------------------------------------------------------------------


def test_the_list_filters_by_sla_status_and_sorts_by_the_next_breach(sla: Bus) -> None:
    now = datetime.now(UTC)
    low = open_ticket(now, priority="low")  # due in 24 h
    critical = open_ticket(now, priority="critical")  # due in 30 min
    medium = open_ticket(now, priority="medium")  # due in 8 h
    breached = open_ticket(now - timedelta(hours=3))  # high, first response due 1 h ago
    backfill.handler({}, LambdaContext(function_name="backfill_sla_timers"))
    page = invoke("GET", "/tickets", caller=OPS, query={"sort": "sla_due", "limit": "2"})
    assert page.status == 200, page.body
    keys = [t["key"] for t in page.body["items"]]
    rest = invoke(
        "GET",
        "/tickets",
        caller=OPS,
        query={"sort": "sla_due", "limit": "2", "cursor": page.body["next_cursor"]},
    )
    keys += [t["key"] for t in rest.body["items"]]
    assert keys == [breached["key"], critical["key"], medium["key"], low["key"]]
    at_risk = invoke("GET", "/tickets", caller=OPS, query={"sla_status": "at_risk,breached"})
    assert [t["key"] for t in at_risk.body["items"]] == [breached["key"]]
    bad = invoke("GET", "/tickets", caller=OPS, query={"sla_status": "late"})
    assert bad.status == 400
