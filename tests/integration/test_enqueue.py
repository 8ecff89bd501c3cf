"""POST /v2/enqueue (issue 10 §3): PagerDuty's Events API v2 over a real API Gateway event, a real
PostgreSQL and moto's SQS: accepted events are queued for the intake worker as ``EnqueuedEvent``s
in the integration's tenant; everything else is refused in PagerDuty's shape, with nothing queued."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from local.events import LambdaContext, sqs_event_of
from shared import aws
from shared.intake.model import ENQUEUED_DETAIL_TYPE, EnqueuedEvent, bounded_details
from shared.intake.pagerduty import MAX_BODY_BYTES
from shared.runtime import entrypoints
from tests.integration.conftest import ADMIN, ANNA, OPS, Result, invoke

OK_TRIGGER: dict[str, Any] = {
    "event_action": "trigger",
    "dedup_key": "srv01/mysql",
    "payload": {
        "summary": "DISK at 99% on machine prod-datapipe03.example.com",
        "timestamp": "2015-07-17T08:42:58.315+0000",
        "severity": "critical",
        "source": "prod-datapipe03.example.com",
        "component": "mysql",
        "group": "prod-datapipe",
        "class": "disk",
        "custom_details": {"free space": "1%", "ping time": "1500ms", "load avg": 0.75},
    },
    "client": "Sample Monitoring Service",
    "client_url": "https://monitoring.service.com",
    "links": [{"href": "http://pagerduty.example.com", "text": "An example link."}],
    "images": [{"src": "https://chart.example.com/x.png", "href": "https://example.com", "alt": "a chart"}],
}
INVALID = {"status": "invalid event", "message": "Event object is invalid"}


@pytest.fixture
def intake(api: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """The intake worker's queue in moto (the enqueue function sends to it after commit)."""
    url: str = aws.client("sqs").create_queue(QueueName="ticketing-intake")["QueueUrl"]
    monkeypatch.setenv("INTAKE_QUEUE_URL", url)
    entrypoints.reset()
    return url


@pytest.fixture
def acme(intake: str) -> dict[str, Any]:
    """An integration of tenant acme, with defaults for its tickets."""
    result = invoke(
        "POST",
        "/integrations",
        caller=ADMIN,
        body={
            "name": "Alertmanager",
            "tenant_id": "acme",
            "category": "health",
            "queue": "data-platform",
            "tags": ["prometheus"],
        },
    )
    assert result.status == 201, result.body
    created: dict[str, Any] = result.body
    return created


def send(body: Any, *, key: str | None = None, headers: dict[str, str] | None = None, **kw: Any) -> Result:
    """POST /v2/enqueue without a token; ``key`` is set as the body's routing_key."""
    if key is not None and isinstance(body, dict):
        body = {**body, "routing_key": key}
    return invoke("POST", "/v2/enqueue", body=body, headers=headers, **kw)


def queued(database: Any) -> list[dict[str, Any]]:
    with database.admin() as conn:
        return list(
            conn.execute("SELECT * FROM outbox WHERE destination = 'queue:intake' ORDER BY id").fetchall()
        )


def received(queue_url: str) -> list[dict[str, Any]]:
    sqs = aws.client("sqs")
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
    return messages.get("Messages", [])


def assert_invalid(result: Result, *fragments: str) -> list[str]:
    assert result.status == 400, result.body
    assert result.content_type == "application/json"
    assert {k: result.body[k] for k in ("status", "message")} == INVALID
    errors: list[str] = result.body["errors"]
    assert set(result.body) == {"status", "message", "errors"} and errors
    for fragment in fragments:
        assert any(fragment in error for error in errors), (fragment, errors)
    return errors


# ---- accepted ------------------------------------------------------------------------------------------


def test_a_trigger_is_accepted_and_queued_for_intake(database, intake, acme):
    result = send(OK_TRIGGER, key=acme["routing_key"])
    assert result.status == 202, result.body
    assert result.content_type == "application/json"
    assert result.body == {"status": "success", "message": "Event processed", "dedup_key": "srv01/mysql"}
    (row,) = queued(database)
    assert (row["detail_type"], row["aggregate_type"], row["aggregate_id"]) == (
        ENQUEUED_DETAIL_TYPE,
        "integration",
        acme["id"],
    )
    assert (row["destination"], row["tenant_id"], row["visibility"]) == ("queue:intake", "acme", "internal")
    message = EnqueuedEvent.model_validate(row["detail"])
    assert message.event_id == str(row["event_id"])
    assert message.integration.model_dump() == {
        "id": acme["id"],
        "name": "Alertmanager",
        "tenant_id": "acme",
        "category": "health",
        "queue": "data-platform",
        "tags": ["prometheus"],
    }
    assert message.received_at.tzinfo is not None
    event = message.event
    assert "routing_key" not in event and acme["routing_key"] not in json.dumps(row["detail"])
    assert event["event_action"] == "trigger" and event["dedup_key"] == "srv01/mysql"
    payload = event["payload"]
    assert payload["timestamp"] == "2015-07-17T08:42:58.315000+00:00"  # RFC 3339, UTC
    assert payload["custom_details"] == OK_TRIGGER["payload"]["custom_details"]
    assert {k: payload[k] for k in ("summary", "source", "severity", "component", "group", "class")} == {
        k: OK_TRIGGER["payload"][k] for k in ("summary", "source", "severity", "component", "group", "class")
    }
    assert event["links"] == OK_TRIGGER["links"] and event["images"] == OK_TRIGGER["images"]
    assert (event["client"], event["client_url"]) == (OK_TRIGGER["client"], OK_TRIGGER["client_url"])
    # Published to the intake queue right after commit, the outbox row marked.
    (sent,) = received(intake)
    assert json.loads(sent["Body"]) == row["detail"]
    assert sent["MessageAttributes"]["event_id"]["StringValue"] == str(row["event_id"])
    assert sent["MessageAttributes"]["detail_type"]["StringValue"] == ENQUEUED_DETAIL_TYPE
    with database.admin() as conn:
        published = conn.execute("SELECT published_at FROM outbox WHERE id = %s", (row["id"],)).fetchone()
    assert published["published_at"] is not None


def test_a_trigger_without_a_dedup_key_gets_one_back(database, acme):
    body = {k: v for k, v in OK_TRIGGER.items() if k != "dedup_key"}
    first, second = (
        send(body, key=acme["routing_key"]),
        send({**body, "dedup_key": "  "}, key=acme["routing_key"]),
    )
    assert first.status == second.status == 202
    keys = [first.body["dedup_key"], second.body["dedup_key"]]
    assert all(len(k) == 32 for k in keys) and keys[0] != keys[1]
    assert [EnqueuedEvent.model_validate(r["detail"]).event["dedup_key"] for r in queued(database)] == keys


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_acknowledge_and_resolve_name_their_alert(database, acme, action):
    result = send(
        {"event_action": action, "dedup_key": "srv01/mysql", "payload": {"anything": "ignored"}, "extra": 1},
        key=acme["routing_key"],
    )
    assert result.status == 202, result.body
    assert result.body["dedup_key"] == "srv01/mysql"
    (row,) = queued(database)
    assert EnqueuedEvent.model_validate(row["detail"]).event == {
        "event_action": action,
        "dedup_key": "srv01/mysql",
    }


def test_events_open_tickets_in_their_integrations_tenant_only(database, acme):
    platform = invoke("POST", "/integrations", caller=ADMIN, body={"name": "Platform Grafana"}).body
    globex = invoke(
        "POST", "/integrations", caller=ADMIN, body={"name": "Globex Datadog", "tenant_id": "globex"}
    ).body
    for integration in (acme, platform, globex):
        assert send(OK_TRIGGER, key=integration["routing_key"]).status == 202
    rows = queued(database)
    assert [
        (r["tenant_id"], EnqueuedEvent.model_validate(r["detail"]).integration.tenant_id) for r in rows
    ] == [
        ("acme", "acme"),
        (None, None),
        ("globex", "globex"),
    ]
    assert [r["aggregate_id"] for r in rows] == [acme["id"], platform["id"], globex["id"]]


def test_any_content_type_and_base64_bodies_are_read_as_json(database, acme):
    text = json.dumps({**OK_TRIGGER, "routing_key": acme["routing_key"]})
    assert send(text, headers={"Content-Type": "text/plain"}).status == 202
    assert send(text, headers={"Content-Type": "application/x-www-form-urlencoded"}).status == 202
    assert send(text).status == 202  # no Content-Type at all
    assert send(text.encode(), headers={"Content-Type": "application/json"}, base64_body=True).status == 202
    assert len(queued(database)) == 4


def test_no_token_is_needed_and_none_is_trusted(database, acme):
    # The route has no authorizer; a caller's claims on the request change nothing.
    result = send(OK_TRIGGER, key=acme["routing_key"], caller=ANNA)
    assert result.status == 202
    assert queued(database)[0]["tenant_id"] == "acme"


def test_large_custom_details_are_bounded_in_the_message(database, acme):
    details = {"log": "x" * 40_000}
    body = {**OK_TRIGGER, "payload": {**OK_TRIGGER["payload"], "custom_details": details}}
    assert send(body, key=acme["routing_key"]).status == 202
    event = EnqueuedEvent.model_validate(queued(database)[0]["detail"]).event
    assert event["payload"]["custom_details"] == bounded_details(details)
    assert event["payload"]["custom_details"]["omitted"] is True


def test_a_body_of_512_kb_is_accepted_and_one_byte_more_is_not(database, acme):
    body = {**OK_TRIGGER, "routing_key": acme["routing_key"], "padding": ""}
    body["padding"] = "p" * (MAX_BODY_BYTES - len(json.dumps(body)))
    text = json.dumps(body)
    assert len(text.encode()) == MAX_BODY_BYTES
    assert send(text).status == 202
    over = text.replace('"padding": "', '"padding": "p', 1)
    assert_invalid(send(over), f"{MAX_BODY_BYTES + 1} bytes")
    assert len(queued(database)) == 1


# ---- refused in PagerDuty's shape ------------------------------------------------------------

KEY = "a" * 32
TRIGGER: dict[str, Any] = {
    "event_action": "trigger",
    "payload": {"summary": "s", "source": "h", "severity": "info"},
}


def _payload(**changes: Any) -> dict[str, Any]:
    payload = {**TRIGGER["payload"], **changes}
    return {**TRIGGER, "routing_key": KEY, "payload": {k: v for k, v in payload.items() if v is not ...}}


INVALID_EVENTS: list[tuple[str, Any, str]] = [
    ("no routing key", TRIGGER, "'routing_key' is missing or blank"),
    ("short routing key", {**TRIGGER, "routing_key": "abc"}, "Length of 'routing_key' is incorrect"),
    ("long routing key", {**TRIGGER, "routing_key": "a" * 33}, "Length of 'routing_key' is incorrect"),
    ("routing key not alphanumeric", {**TRIGGER, "routing_key": "a" * 31 + "-"}, "non-alphanumeric"),
    ("routing key not a string", {**TRIGGER, "routing_key": 12345}, "'routing_key' should be a string"),
    ("no action", {"routing_key": KEY, "payload": TRIGGER["payload"]}, "'event_action' is missing"),
    ("bad action", {**TRIGGER, "routing_key": KEY, "event_action": "escalate"}, "'event_action' is invalid"),
    ("resolve without dedup_key", {"routing_key": KEY, "event_action": "resolve"}, "'dedup_key' is missing"),
    (
        "acknowledge with a blank dedup_key",
        {"routing_key": KEY, "event_action": "acknowledge", "dedup_key": " "},
        "'dedup_key' is missing or blank",
    ),
    (
        "dedup_key too long",
        {"routing_key": KEY, "event_action": "resolve", "dedup_key": "k" * 256},
        "Length of 'dedup_key' is too long",
    ),
    ("trigger without payload", {"routing_key": KEY, "event_action": "trigger"}, "'payload' is missing"),
    ("no summary", _payload(summary=...), "'payload.summary' is missing or blank"),
    ("blank summary", _payload(summary="  "), "'payload.summary' is missing or blank"),
    ("no source", _payload(source=...), "'payload.source' is missing or blank"),
    ("no severity", _payload(severity=...), "'payload.severity' is missing"),
    ("bad severity", _payload(severity="fatal"), "'payload.severity' is invalid"),
    ("summary too long", _payload(summary="s" * 1025), "Length of 'payload.summary' is too long"),
    ("bad timestamp", _payload(timestamp="yesterday"), "'payload.timestamp' is invalid"),
    ("custom_details not an object", _payload(custom_details="text"), "'payload.custom_details' should be"),
    ("NUL in summary", _payload(summary="a\x00b"), "'payload.summary' cannot contain NUL"),
    (
        "NUL in custom_details",
        _payload(custom_details={"k": ["\x00"]}),
        "'payload.custom_details' cannot contain",
    ),
    ("lone surrogate", _payload(component="\ud800"), "'payload.component' cannot contain lone surrogates"),
    ("not JSON", "{routing_key: nope", "JSON parse error"),
    ("NaN is not JSON", '{"routing_key": NaN}', "JSON parse error"),
    ("not UTF-8", b"\xff\xfe{}", "not UTF-8"),
    ("not an object", [TRIGGER], "must be a JSON object"),
    ("nested too deep", _payload(custom_details={"a": json.loads("[" * 40 + "]" * 40)}), "deeper than 32"),
    ("empty body", "", "empty"),
]


@pytest.mark.parametrize(("case", "body", "error"), INVALID_EVENTS, ids=[c[0] for c in INVALID_EVENTS])
def test_an_invalid_event_is_400_in_pagerdutys_shape_and_nothing_is_queued(
    database, intake, case, body, error
):
    if isinstance(body, bytes):
        result = send(body, headers={"Content-Type": "application/json"}, base64_body=True)
    else:
        result = send(body)
    assert_invalid(result, error)
    assert queued(database) == []


def test_every_problem_is_named_at_once(intake):
    errors = assert_invalid(
        send({"routing_key": "x", "event_action": "trigger", "payload": {"severity": "bad"}})
    )
    assert len(errors) == 4, errors  # the key's length, summary, source, severity


def test_an_unknown_routing_key_is_refused(database, acme):
    unknown = "0" * 32 if acme["routing_key"] != "0" * 32 else "1" * 32
    assert send(OK_TRIGGER, key=unknown).body["errors"] == ["Invalid routing key"]
    assert_invalid(send(OK_TRIGGER, key=acme["routing_key"].upper()), "Invalid routing key")  # keys are exact
    assert queued(database) == []


def test_a_revoked_key_is_refused(database, acme):
    assert send(OK_TRIGGER, key=acme["routing_key"]).status == 202
    assert invoke("DELETE", f"/integrations/{acme['id']}", caller=ANNA).status == 200
    assert_invalid(send(OK_TRIGGER, key=acme["routing_key"]), "Invalid routing key")
    assert len(queued(database)) == 1


def test_a_rotated_away_key_is_refused_and_the_new_one_works(database, acme):
    rotated = invoke("POST", f"/integrations/{acme['id']}/rotate-key", caller=ANNA).body
    assert_invalid(send(OK_TRIGGER, key=acme["routing_key"]), "Invalid routing key")
    assert send(OK_TRIGGER, key=rotated["routing_key"]).status == 202
    assert len(queued(database)) == 1


# ---- rate limit --------------------------------------------------------------------------------


def _not_at_a_minutes_end() -> None:
    """The windows are calendar minutes (the database's clock): start a burst well inside one."""
    if time.time() % 60 > 50:
        time.sleep(61 - time.time() % 60)


def assert_throttled(result: Result, limit: int) -> None:
    assert result.status == 429, result.body
    assert result.content_type == "application/json"
    assert 1 <= int(result.headers["Retry-After"]) <= 60
    assert result.body["status"] == "throttle event"
    assert result.body["message"] == "Request Limit Exceeded"
    assert f"more than {limit} events this minute" in result.body["errors"][0]


def test_past_the_limit_an_event_is_429_with_retry_after_and_not_queued(database, acme, monkeypatch):
    monkeypatch.setenv("ENQUEUE_RATE_LIMIT_PER_MINUTE", "3")
    entrypoints.reset()
    other = invoke("POST", "/integrations", caller=ANNA, body={"name": "Other tool"}).body
    _not_at_a_minutes_end()
    assert [send(OK_TRIGGER, key=acme["routing_key"]).status for _ in range(3)] == [202, 202, 202]
    assert_throttled(send(OK_TRIGGER, key=acme["routing_key"]), 3)
    assert_throttled(send(OK_TRIGGER, key=acme["routing_key"]), 3)
    assert send(OK_TRIGGER, key=other["routing_key"]).status == 202  # the limit is per routing key
    assert len(queued(database)) == 4
    with database.admin() as conn:
        counts = conn.execute(
            "SELECT count FROM integration_rate WHERE integration_id = %s", (acme["id"],)
        ).fetchall()
    assert [c["count"] for c in counts] == [3]  # refused calls are not counted


def test_an_integration_may_have_its_own_limit(database, intake):
    limited = invoke(
        "POST", "/integrations", caller=ADMIN, body={"name": "Chatty", "rate_limit_per_minute": 2}
    ).body
    _not_at_a_minutes_end()
    assert [send(OK_TRIGGER, key=limited["routing_key"]).status for _ in range(3)] == [202, 202, 429]


def test_a_new_window_drops_the_integrations_old_ones(database, acme):
    with database.admin() as conn:
        conn.execute(
            "INSERT INTO integration_rate"
            " VALUES (%s, date_trunc('minute', now()) - interval '5 minutes', 99)",
            (acme["id"],),
        )
    assert send(OK_TRIGGER, key=acme["routing_key"]).status == 202
    with database.admin() as conn:
        rows = conn.execute(
            "SELECT count FROM integration_rate WHERE integration_id = %s", (acme["id"],)
        ).fetchall()
    assert [r["count"] for r in rows] == [1]


# ---- what the intake worker makes of it ---------------------------------------------------------------


def run_intake_worker(queue_url: str) -> dict[str, Any]:
    """The intake worker over what the enqueue function sent to its queue (as SQS delivers it)."""
    from functions.intake import handler as intake

    sqs = aws.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", [])
    event = sqs_event_of(messages)
    result: dict[str, Any] = intake.handler(event, LambdaContext(function_name="intake"))
    return result


def tickets_for(dedup_key: str) -> list[dict[str, Any]]:
    result = invoke("GET", "/tickets", caller=OPS, query={"dedup_key": dedup_key})
    assert result.status == 200, result.body
    items: list[dict[str, Any]] = result.body["items"]
    return items


def test_the_intake_worker_opens_and_resolves_the_incident_in_the_integrations_tenant(intake, acme):
    assert send(OK_TRIGGER, key=acme["routing_key"]).status == 202
    assert run_intake_worker(intake) == {"batchItemFailures": []}
    (ticket,) = tickets_for("srv01/mysql")
    assert (ticket["tenant_id"], ticket["kind"], ticket["category"], ticket["priority"]) == (
        "acme",
        "incident",
        "health",
        "critical",
    )
    assert (ticket["queue"], ticket["tags"], ticket["source"]) == (
        "data-platform",
        ["prometheus"],
        "integration:Alertmanager",
    )
    assert ticket["title"] == OK_TRIGGER["payload"]["summary"]
    resolve = {"event_action": "resolve", "dedup_key": "srv01/mysql"}
    assert send(resolve, key=acme["routing_key"]).status == 202
    assert run_intake_worker(intake) == {"batchItemFailures": []}
    assert tickets_for("srv01/mysql")[0]["state"] == "resolved"


def test_a_platform_integrations_events_open_platform_only_incidents(intake):
    platform = invoke("POST", "/integrations", caller=ADMIN, body={"name": "Platform Grafana"}).body
    assert send({**OK_TRIGGER, "dedup_key": "platform/1"}, key=platform["routing_key"]).status == 202
    assert run_intake_worker(intake) == {"batchItemFailures": []}
    (ticket,) = tickets_for("platform/1")
    assert ticket["tenant_id"] is None and ticket["visibility"] == "platform_only"
    assert invoke("GET", "/tickets", caller=ANNA, query={"dedup_key": "platform/1"}).body["items"] == []


def test_the_route_documents_pagerdutys_answers():
    from functions.openapi import document

    op = document.generate()["paths"]["/v2/enqueue"]["post"]
    assert "security" not in op
    assert op["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PagerDutyEvent"
    }
    for status, schema in (
        ("202", "PagerDutyAccepted"),
        ("400", "PagerDutyError"),
        ("429", "PagerDutyError"),
    ):
        assert op["responses"][status]["content"] == {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}
        }
    assert op["responses"]["429"]["headers"]["Retry-After"]["required"] is True
