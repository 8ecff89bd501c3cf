"""PagerDuty's Events API v2 event (``shared.intake.pagerduty``): validation in PagerDuty's words,
the schema saying exactly what validation accepts, and the event as the intake queue gets it."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import jsonschema_rs
import pytest

from shared.intake import integrations, pagerduty
from shared.intake.model import bounded_details

KEY = "0123456789abcdefABCDEF0123456789"
TRIGGER: dict[str, Any] = {
    "routing_key": KEY,
    "event_action": "trigger",
    "payload": {"summary": "Disk full", "source": "db-1", "severity": "error"},
}


def with_payload(**changes: Any) -> dict[str, Any]:
    return {**TRIGGER, "payload": {**TRIGGER["payload"], **changes}}


BODIES: list[Any] = [
    TRIGGER,
    {**TRIGGER, "dedup_key": ""},  # blank: one is generated
    {**TRIGGER, "dedup_key": "k" * 255},
    {**TRIGGER, "dedup_key": "k" * 256},
    {**TRIGGER, "dedup_key": None},
    {**TRIGGER, "unknown": {"ignored": True}},
    {**TRIGGER, "routing_key": KEY[:-1]},
    {**TRIGGER, "routing_key": KEY[:-1] + "_"},
    {**TRIGGER, "routing_key": KEY[:-1] + "é"},
    {**TRIGGER, "event_action": "Trigger"},
    {k: v for k, v in TRIGGER.items() if k != "payload"},
    {"routing_key": KEY, "event_action": "resolve", "dedup_key": "k"},
    {"routing_key": KEY, "event_action": "acknowledge", "dedup_key": "\u3000"},
    {"routing_key": KEY, "event_action": "resolve"},
    {"routing_key": KEY, "event_action": "resolve", "dedup_key": "k", "payload": "anything"},
    with_payload(summary="s" * 1024),
    with_payload(summary="s" * 1025),
    with_payload(summary="\x1c"),  # whitespace to str.strip
    with_payload(summary="\ufeff"),  # not whitespace to str.strip
    with_payload(severity="warning"),
    with_payload(severity="CRITICAL"),
    with_payload(source=""),
    with_payload(timestamp="2015-07-17T08:42:58.315+0000"),
    with_payload(timestamp="2015-07-17t08:42:58z"),
    with_payload(timestamp="2015-07-17 08:42"),
    with_payload(timestamp="2021-02-30T00:00:00Z"),  # well-formed, no such day: ignored
    with_payload(timestamp="2015-07-17"),
    with_payload(timestamp="1437122578"),
    with_payload(timestamp="2015-13-01T00:00:00Z"),
    with_payload(**{"class": "disk", "component": "", "group": None}),
    with_payload(custom_details={"a": [1, 2.5, None, True, {"b": "c"}]}),
    with_payload(custom_details={"a\x00": 1}),
    with_payload(custom_details={"a": "b\x00"}),
    with_payload(custom_details=["not", "an", "object"]),
    {**TRIGGER, "images": [{"src": "https://x/y.png"}], "links": [{"href": "https://x", "text": "x"}]},
    {**TRIGGER, "images": [{"href": "https://x"}]},
    {**TRIGGER, "links": [{"href": " "}]},
    {**TRIGGER, "images": [{"src": "s"}] * 101},
    {**TRIGGER, "client": "c" * 1025},
    {**TRIGGER, "client_url": "u" * 2048},
    [TRIGGER],
    "trigger",
]


@pytest.mark.parametrize("body", BODIES, ids=lambda b: json.dumps(b)[:80])
def test_an_event_is_accepted_exactly_when_the_schema_allows_it(body):
    schema_allows = jsonschema_rs.validator_for(pagerduty.PagerDutyEvent.model_json_schema()).is_valid(body)
    try:
        pagerduty.validate(body)
    except pagerduty.InvalidEvent:
        accepted = False
    else:
        accepted = True
    assert accepted == schema_allows


def test_errors_are_pagerdutys_sentences_and_name_every_problem():
    with pytest.raises(pagerduty.InvalidEvent) as refused:
        pagerduty.validate({"routing_key": "short", "event_action": "trigger", "payload": {"severity": "x"}})
    assert refused.value.errors == [
        "Length of 'routing_key' is incorrect (should be 32 characters)",
        "'payload.summary' is missing or blank",
        "'payload.source' is missing or blank",
        "'payload.severity' is invalid (should be one of critical, error, warning, info)",
    ]
    assert refused.value.body() == {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": refused.value.errors,
    }


def test_errors_never_carry_the_values_sent():
    secret = "s3cr3t-value"
    with pytest.raises(pagerduty.InvalidEvent) as refused:
        pagerduty.validate(
            with_payload(severity=secret, summary=secret * 200, custom_details={"x": secret + "\x00"})
        )
    assert secret not in json.dumps(refused.value.errors)


def test_the_queued_event_drops_the_key_and_normalises_what_it_keeps():
    event = pagerduty.validate(
        {
            **with_payload(
                timestamp="2015-07-17T10:42:58+0200",
                custom_details={"big": "x" * 40_000},
                **{"class": "disk"},
            ),
            "dedup_key": "srv/1",
            "unknown": 1,
        }
    )
    forwarded = pagerduty.forwarded(event, "srv/1")
    assert "routing_key" not in forwarded and "unknown" not in forwarded
    assert forwarded["dedup_key"] == "srv/1"
    assert forwarded["payload"]["timestamp"] == "2015-07-17T08:42:58+00:00"
    assert forwarded["payload"]["class"] == "disk"
    assert forwarded["payload"]["custom_details"] == bounded_details({"big": "x" * 40_000})


def test_a_timestamp_that_names_no_instant_is_left_out():
    event = pagerduty.validate(with_payload(timestamp="2021-02-30T00:00:00Z"))
    assert "timestamp" not in pagerduty.forwarded(event, "k")["payload"]
    assert pagerduty.normalized_timestamp("2015-07-17 08:42") == "2015-07-17T08:42:00+00:00"
    assert pagerduty.normalized_timestamp("0001-01-01T00:30:00+01:00") is None


def test_an_event_too_large_for_the_queue_loses_details_then_images_and_links():
    images = [{"src": "https://example.com/" + "\u4e00" * 2000}] * 20
    event = pagerduty.validate(
        {**with_payload(custom_details={"k": "\u4e00" * 10_000}), "images": images, "links": []}
    )
    forwarded = pagerduty.forwarded(event, "k")
    assert forwarded["truncated"] == ["payload.custom_details", "images"]
    assert forwarded["payload"]["custom_details"]["omitted"] is True and "images" not in forwarded
    assert len(json.dumps(forwarded)) <= pagerduty.FORWARDED_MAX_BYTES


def test_a_follow_up_carries_only_its_action_and_key():
    event = pagerduty.validate(
        {"routing_key": KEY, "event_action": "resolve", "dedup_key": "k", "payload": {}}
    )
    assert pagerduty.forwarded(event, "k") == {"event_action": "resolve", "dedup_key": "k"}


def test_dedup_keys_are_kept_or_generated():
    assert pagerduty.dedup_key_of(pagerduty.validate({**TRIGGER, "dedup_key": " x "})) == " x "
    assert pagerduty.dedup_key_of(pagerduty.validate({**TRIGGER, "dedup_key": "  "})) is None
    assert re.fullmatch(r"[0-9a-f]{32}", pagerduty.new_dedup_key())


def test_routing_keys_are_random_and_stored_as_their_digest():
    keys = {integrations.new_routing_key() for _ in range(100)}
    assert len(keys) == 100 and all(re.fullmatch(pagerduty.ROUTING_KEY_PATTERN, k) for k in keys)
    key = keys.pop()
    assert integrations.key_hash(key) == hashlib.sha256(key.encode()).hexdigest()


def test_a_throttled_event_says_when_to_retry():
    refused = pagerduty.Throttled(limit=120, retry_after=0)
    assert refused.status == 429 and refused.headers() == {"Retry-After": "1"}
    assert refused.body()["status"] == "throttle event"
