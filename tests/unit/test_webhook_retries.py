"""What an attempt's outcome means (shared.webhooks.retries) and which bus events become which
webhook types, for whom (shared.webhooks.events)."""

from __future__ import annotations

import random

import pytest

from shared.config.settings import DEFAULT_RETRY_SCHEDULE, SettingsError, WebhookSettings
from shared.webhooks import events, retries

SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (200, "succeeded"),
        (204, "succeeded"),
        (299, "succeeded"),
        (301, "failed"),  # redirects are not followed
        (302, "failed"),
        (400, "failed"),
        (404, "failed"),
        (410, "gone"),
        (429, "throttled"),
        (500, "failed"),
        (502, "throttled"),
        (503, "throttled"),
        (504, "throttled"),
        (None, "failed"),  # no response: timeout, connection refused
    ],
)
def test_outcomes(status: int | None, kind: str) -> None:
    assert retries.classify(status) == kind


def test_a_refused_address_is_its_own_outcome() -> None:
    assert retries.classify(None, refused=True) == "refused"


def test_the_default_schedule_is_the_published_one() -> None:
    assert WebhookSettings().retry_delays_s == SCHEDULE
    assert DEFAULT_RETRY_SCHEDULE.count(",") == 8


def test_the_schedule_is_configuration() -> None:
    assert WebhookSettings.from_env({"WEBHOOK_RETRY_SCHEDULE": " 1, 2 ,4"}).retry_delays_s == (1, 2, 4)
    for bad in ("", "5,", "five", "-1,5", "1.5"):
        with pytest.raises(SettingsError, match="WEBHOOK_RETRY_SCHEDULE"):
            WebhookSettings.from_env({"WEBHOOK_RETRY_SCHEDULE": bad})


def test_each_failure_waits_the_next_delay_with_jitter_then_gives_up() -> None:
    rng = random.Random(7)
    for attempt, delay in enumerate(SCHEDULE, start=1):
        waited = retries.after_failure(SCHEDULE, attempt, "failed", None, rng=rng).delay_s
        assert waited is not None and delay * 0.9 <= waited <= delay * 1.1
    assert retries.after_failure(SCHEDULE, len(SCHEDULE) + 1, "failed", None).delay_s is None
    with pytest.raises(ValueError):
        retries.after_failure(SCHEDULE, 0, "failed", None)


def test_jitter_spreads_retries() -> None:
    rng = random.Random(1)
    waits = {
        round(retries.after_failure(SCHEDULE, 2, "failed", None, rng=rng).delay_s or 0) for _ in range(50)
    }
    assert len(waits) > 10


def test_throttling_waits_retry_after_when_given() -> None:
    assert retries.after_failure(SCHEDULE, 1, "throttled", 120.0).delay_s == 120.0
    assert retries.after_failure(SCHEDULE, 1, "throttled", 0.0).delay_s == 1.0  # never a busy loop
    assert 4.5 <= (retries.after_failure(SCHEDULE, 1, "throttled", None).delay_s or 0) <= 5.5
    # A plain failure ignores a Retry-After it happens to carry.
    assert (retries.after_failure(SCHEDULE, 1, "failed", 999.0).delay_s or 0) < 10
    # Retry-After does not extend the schedule: the last attempt is still the last.
    assert retries.after_failure(SCHEDULE, len(SCHEDULE) + 1, "throttled", 60.0).delay_s is None


def _detail(kind: str, **extra: object) -> dict[str, object]:
    return {"type": kind, "visibility": "tenant", "event_visibility": "public", **extra}


@pytest.mark.parametrize(
    ("detail", "types"),
    [
        (_detail("ticket.created"), ["ticket.created"]),
        (_detail("ticket.state_changed"), ["ticket.state_changed"]),
        (_detail("comment.added"), ["ticket.commented"]),
        (_detail("ticket.occurrences_added"), ["incident.occurrences_added"]),
        (_detail("sla.breached"), ["sla.breached"]),
        (_detail("sla.at_risk"), ["sla.at_risk"]),
        (_detail("sla.paused"), []),  # bookkeeping no webhook carries
        (_detail("ticket.updated", changes={"title": {}}), ["ticket.updated"]),
        (_detail("ticket.updated", changes={"assignee": {}}), ["ticket.assigned"]),
        (
            _detail("ticket.updated", changes={"queue": {}, "priority": {}}),
            ["ticket.assigned", "ticket.updated"],
        ),
        (_detail("ticket.updated"), ["ticket.updated"]),
        ({"type": 3}, []),
        ({}, []),
    ],
)
def test_bus_events_become_webhook_types(detail: dict[str, object], types: list[str]) -> None:
    assert events.webhook_types(detail) == types


def test_what_tenants_never_receive() -> None:
    assert not events.is_internal(_detail("ticket.created"))
    assert events.is_internal(_detail("ticket.created", visibility="platform_only"))
    assert events.is_internal(_detail("comment.added", event_visibility="internal"))


def test_every_bus_type_copied_can_become_a_webhook() -> None:
    from shared.tickets.events import DETAIL_TYPES
    from shared.webhooks.model import EVENT_TYPES

    by_detail_type = {detail_type: kind for kind, detail_type in DETAIL_TYPES.items()}
    for detail_type in events.BUS_DETAIL_TYPES:
        produced = events.webhook_types(_detail(by_detail_type[detail_type]))
        assert produced and set(produced) <= set(EVENT_TYPES)
