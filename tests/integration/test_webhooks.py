"""Webhook endpoints (issue 12 §1): registered, listed, read, changed, rotated, paused, quarantined,
resumed and deleted through the API with JWTs, by role and tenant; URLs vetted (422 located); the
signing secret shown once and never again; every change in the configuration log, without it;
row-level security refusing what the service refuses."""

from __future__ import annotations

import time
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from shared import db
from shared.auth import Principal, Role
from shared.kernel.errors import ValidationFailed
from shared.runtime import entrypoints
from shared.webhooks import signing
from tests.integration.conftest import ADMIN, ALICE, ANNA, OPS, Caller

GINA = Caller("gina", "globex", ["tenant_admin"])  # globex's tenant admin
PUBLIC_URL = "https://93.184.215.14/hooks/ticketing"  # an IP literal: vetted without DNS


def create(api: Any, caller: Caller = ANNA, **body: Any) -> dict[str, Any]:
    result = api("POST", "/webhooks", caller=caller, body={"url": PUBLIC_URL, "event_types": ["*"], **body})
    assert result.status == 201, result.body
    created: dict[str, Any] = result.body
    return created


def config_changes(database: Any, entity_id: str) -> list[dict[str, Any]]:
    with database.admin() as conn:
        return list(
            conn.execute(
                "SELECT * FROM config_change WHERE entity_type = 'webhook_endpoint' AND entity_id = %s"
                " ORDER BY id",
                (entity_id,),
            ).fetchall()
        )


def stored_secrets(database: Any, endpoint_id: str) -> dict[str, Any]:
    with database.admin() as conn:
        row = conn.execute(
            "SELECT secret, previous_secret, previous_secret_expires_at FROM webhook_endpoint WHERE id = %s",
            (endpoint_id,),
        ).fetchone()
    assert row is not None
    return dict(row)


# ---- create ------------------------------------------------------------------------------------------


def test_a_tenant_admin_registers_an_endpoint_and_sees_its_secret_once(api, database):
    result = api(
        "POST",
        "/webhooks",
        caller=ANNA,
        body={
            "url": PUBLIC_URL,
            "event_types": ["ticket.created", "sla.breached", "ticket.created"],
            "description": "  PagerDuty bridge  ",
        },
    )
    assert result.status == 201, result.body
    created = result.body
    assert result.headers["Location"] == f"/webhooks/{created['id']}"
    assert result.headers["ETag"] == '"1"'
    assert created["tenant_id"] == "acme"  # the admin's own tenant
    assert created["event_types"] == ["ticket.created", "sla.breached"]
    assert created["description"] == "PagerDuty bridge"
    assert created["state"] == "enabled" and created["state_reason"] is None
    secret = created["secret"]
    assert secret.startswith("whsec_") and created["secret_hint"] == secret[-4:]
    # What is stored signs as a Standard Webhooks receiver verifies it.
    assert stored_secrets(database, created["id"])["secret"] == secret
    headers = signing.headers([secret], "msg_1", int(time.time()), "{}")
    assert Webhook(secret).verify("{}", headers) == {}
    # Never shown again.
    again = api("GET", f"/webhooks/{created['id']}", caller=ANNA)
    assert again.status == 200 and "secret" not in again.body
    assert again.body["secret_hint"] == secret[-4:]
    listed = api("GET", "/webhooks", caller=ANNA).body["items"]
    assert [w["id"] for w in listed] == [created["id"]] and "secret" not in listed[0]
    # Audited, without the secret.
    (change,) = config_changes(database, created["id"])
    assert change["action"] == "create" and change["actor"] == "anna" and change["tenant_id"] == "acme"
    assert secret not in str(change) and secret[6:] not in str(change)


def test_platform_admins_register_endpoints_for_every_tenant_or_one(api):
    everyone = create(api, ADMIN)
    assert everyone["tenant_id"] is None
    globex = create(api, ADMIN, tenant_id="globex")
    assert globex["tenant_id"] == "globex"


@pytest.mark.parametrize(
    ("caller", "body", "status"),
    [
        (ALICE, {}, 403),  # tenant users manage no endpoints
        (OPS, {}, 403),  # operators read and quarantine, they do not register
        (Caller("svc", None, ["service"]), {}, 403),
        (ANNA, {"tenant_id": "globex"}, 403),  # another tenant's
    ],
)
def test_who_may_not_register(api, caller, body, status):
    result = api("POST", "/webhooks", caller=caller, body={"url": PUBLIC_URL, "event_types": ["*"], **body})
    assert result.status == status, result.body
    assert result.content_type == "application/problem+json"


@pytest.mark.parametrize(
    ("url", "type_"),
    [
        ("http://93.184.215.14/hook", "url_scheme"),
        ("https://user:pw@93.184.215.14/hook", "url_credentials"),
        ("https://127.0.0.1/hook", "url_address"),
        ("https://169.254.169.254/latest/meta-data/", "url_address"),
        ("https://[::ffff:10.0.0.1]/hook", "url_address"),
        ("https://[fd00:ec2::254]/", "url_address"),
        ("https://100.64.0.9/", "url_address"),
        ("https://2130706433/", "url_address"),
        ("https://no-such-host.invalid/hook", "url_resolve"),
    ],
)
def test_unsafe_urls_are_refused_with_a_located_422(api, database, url, type_):
    result = api("POST", "/webhooks", caller=ANNA, body={"url": url, "event_types": ["*"]})
    assert result.status == 422, result.body
    assert result.content_type == "application/problem+json"
    (error,) = result.body["errors"]
    assert error["loc"] == ["body", "url"] and error["type"] == type_
    with database.admin() as conn:
        assert conn.execute("SELECT count(*) AS n FROM webhook_endpoint").fetchone()["n"] == 0


@pytest.mark.parametrize(
    "body",
    [
        {"url": PUBLIC_URL, "event_types": ["ticket.exploded"]},
        {"url": PUBLIC_URL, "event_types": []},
        {"url": PUBLIC_URL},
        {"event_types": ["*"]},
        {"url": PUBLIC_URL, "event_types": ["*"], "secret": "whsec_mine"},
        {"url": "https://" + "a" * 2050 + ".example/", "event_types": ["*"]},
    ],
)
def test_bodies_that_do_not_fit_are_422(api, body):
    result = api("POST", "/webhooks", caller=ANNA, body=body)
    assert result.status == 422, result.body


def test_the_local_allow_list_lets_loopback_through(api, monkeypatch):
    refused = api(
        "POST", "/webhooks", caller=ANNA, body={"url": "http://127.0.0.1:9/h", "event_types": ["*"]}
    )
    assert refused.status == 422
    monkeypatch.setenv("WEBHOOK_REQUIRE_HTTPS", "false")
    monkeypatch.setenv("WEBHOOK_ALLOW_LOOPBACK", "127.0.0.1,localhost")
    entrypoints.reset()
    try:
        for url in ("http://127.0.0.1:9/h", "http://localhost:9/h"):
            made = api("POST", "/webhooks", caller=ANNA, body={"url": url, "event_types": ["*"]})
            assert made.status == 201, made.body
        # The list opens loopback only.
        private = api(
            "POST", "/webhooks", caller=ANNA, body={"url": "http://10.0.0.1/h", "event_types": ["*"]}
        )
        assert private.status == 422
    finally:
        monkeypatch.undo()
        entrypoints.reset()


# ---- read -------------------------------------------------------------------------------------------


def test_each_reads_only_what_it_may(api):
    acme = create(api, ANNA)
    globex = create(api, GINA)
    platform = create(api, ADMIN)
    assert {w["id"] for w in api("GET", "/webhooks", caller=ANNA).body["items"]} == {acme["id"]}
    assert {w["id"] for w in api("GET", "/webhooks", caller=GINA).body["items"]} == {globex["id"]}
    for caller in (OPS, ADMIN):
        ids = [w["id"] for w in api("GET", "/webhooks", caller=caller).body["items"]]
        assert ids == [platform["id"], globex["id"], acme["id"]]  # newest first
    assert [w["id"] for w in api("GET", "/webhooks?tenant_id=globex", caller=OPS).body["items"]] == [
        globex["id"]
    ]
    assert api("GET", f"/webhooks/{globex['id']}", caller=ANNA).status == 404  # never a 403
    assert api("GET", f"/webhooks/{platform['id']}", caller=ANNA).status == 404
    assert api("GET", "/webhooks/not-a-uuid", caller=ADMIN).status == 404
    assert api("GET", "/webhooks?tenant_id=globex", caller=ANNA).status == 403
    assert api("GET", "/webhooks", caller=ALICE).status == 403


def test_pages_and_filters(api):
    made = [create(api, ANNA)["id"] for _ in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        page = api(
            "GET", "/webhooks", caller=ANNA, query={"limit": "2", **({"cursor": cursor} if cursor else {})}
        )
        assert page.status == 200, page.body
        seen += [w["id"] for w in page.body["items"]]
        cursor = page.body["next_cursor"]
        if cursor is None:
            break
    assert seen == made[::-1]
    api("POST", f"/webhooks/{made[0]}/pause", caller=ANNA, body={})
    paused = api("GET", "/webhooks?state=paused", caller=ANNA).body["items"]
    assert [w["id"] for w in paused] == [made[0]]
    # A cursor of another query is refused.
    first = api("GET", "/webhooks", caller=ANNA, query={"limit": "1"}).body["next_cursor"]
    assert (
        api("GET", "/webhooks", caller=ANNA, query={"limit": "1", "state": "enabled", "cursor": first}).status
        == 400
    )


# ---- change -----------------------------------------------------------------------------------------


def test_patch_changes_what_it_names_with_if_match(api, database):
    made = create(api, ANNA, description="first")
    result = api(
        "PATCH",
        f"/webhooks/{made['id']}",
        caller=ANNA,
        body={"event_types": ["ticket.state_changed"]},
        headers={"If-Match": '"1"'},
    )
    assert result.status == 200, result.body
    assert result.body["event_types"] == ["ticket.state_changed"]
    assert result.body["description"] == "first" and result.body["url"] == PUBLIC_URL
    assert result.body["version"] == 2 and result.headers["ETag"] == '"2"'
    stale = api(
        "PATCH",
        f"/webhooks/{made['id']}",
        caller=ANNA,
        body={"description": "x"},
        headers={"If-Match": '"1"'},
    )
    assert stale.status == 412 and stale.body["current_version"] == 2
    unsafe = api("PATCH", f"/webhooks/{made['id']}", caller=ANNA, body={"url": "https://10.1.1.1/"})
    assert unsafe.status == 422 and unsafe.body["errors"][0]["loc"] == ["body", "url"]
    assert api("PATCH", f"/webhooks/{made['id']}", caller=ANNA, body={}).status == 422
    assert api("PATCH", f"/webhooks/{made['id']}", caller=ANNA, body={"url": None}).status == 422
    assert api("PATCH", f"/webhooks/{made['id']}", caller=GINA, body={"description": "x"}).status == 404
    assert api("PATCH", f"/webhooks/{made['id']}", caller=OPS, body={"description": "x"}).status == 403
    cleared = api("PATCH", f"/webhooks/{made['id']}", caller=ADMIN, body={"description": None})
    assert cleared.status == 200 and cleared.body["description"] is None
    actions = [c["action"] for c in config_changes(database, made["id"])]
    assert actions == ["create", "update", "update"]
    before_after = config_changes(database, made["id"])[1]
    assert before_after["before"]["event_types"] == ["*"]
    assert before_after["after"]["event_types"] == ["ticket.state_changed"]


def test_rotating_the_secret_keeps_the_previous_one_signing_for_24_hours(api, database):
    made = create(api, ANNA)
    rotated = api("POST", f"/webhooks/{made['id']}/rotate-secret", caller=ANNA)
    assert rotated.status == 200, rotated.body
    new = rotated.body["secret"]
    assert new != made["secret"] and rotated.body["secret_hint"] == new[-4:]
    stored = stored_secrets(database, made["id"])
    assert stored["secret"] == new and stored["previous_secret"] == made["secret"]
    overlap = (stored["previous_secret_expires_at"] - rotated_at(rotated.body)).total_seconds()
    assert overlap == 24 * 3600
    assert rotated.body["previous_secret_expires_at"] is not None
    assert made["secret"] not in str(config_changes(database, made["id"]))
    assert new not in str(config_changes(database, made["id"]))
    assert api("POST", f"/webhooks/{made['id']}/rotate-secret", caller=OPS).status == 403
    assert api("POST", f"/webhooks/{made['id']}/rotate-secret", caller=GINA).status == 404


def rotated_at(body: dict[str, Any]) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(body["updated_at"])


def test_pause_quarantine_resume(api, database):
    made = create(api, ANNA)
    paused = api("POST", f"/webhooks/{made['id']}/pause", caller=ANNA, body={"reason": "maintenance"})
    assert paused.status == 200, paused.body
    assert (paused.body["state"], paused.body["state_reason"], paused.body["state_changed_by"]) == (
        "paused",
        "maintenance",
        "anna",
    )
    again = api("POST", f"/webhooks/{made['id']}/pause", caller=ANNA, body={})
    assert again.status == 200 and again.body["version"] == paused.body["version"]  # nothing changed
    # Operators quarantine, with a reason; owners cannot pause a quarantined endpoint, only resume it.
    assert api("POST", f"/webhooks/{made['id']}/quarantine", caller=OPS, body={}).status == 422
    assert api("POST", f"/webhooks/{made['id']}/quarantine", caller=ANNA, body={"reason": "x"}).status == 403
    quarantined = api("POST", f"/webhooks/{made['id']}/quarantine", caller=OPS, body={"reason": "429 storm"})
    assert quarantined.status == 200, quarantined.body
    assert quarantined.body["state"] == "quarantined" and quarantined.body["state_reason"] == "429 storm"
    owner_view = api("GET", f"/webhooks/{made['id']}", caller=ANNA).body
    assert owner_view["state_reason"] == "429 storm"  # the owner sees why
    assert api("POST", f"/webhooks/{made['id']}/pause", caller=ANNA, body={}).status == 409
    assert api("POST", f"/webhooks/{made['id']}/resume", caller=OPS).status == 403
    resumed = api("POST", f"/webhooks/{made['id']}/resume", caller=ANNA)
    assert (
        resumed.status == 200 and resumed.body["state"] == "enabled" and resumed.body["state_reason"] is None
    )
    actions = [c["action"] for c in config_changes(database, made["id"])]
    assert actions == ["create", "pause", "quarantine", "resume"]


def test_delete(api, database):
    made = create(api, ANNA)
    assert api("DELETE", f"/webhooks/{made['id']}", caller=GINA).status == 404
    assert api("DELETE", f"/webhooks/{made['id']}", caller=OPS).status == 403
    assert api("DELETE", f"/webhooks/{made['id']}", caller=ANNA, headers={"If-Match": '"7"'}).status == 412
    deleted = api("DELETE", f"/webhooks/{made['id']}", caller=ANNA)
    assert deleted.status == 200 and deleted.body["id"] == made["id"]
    assert api("GET", f"/webhooks/{made['id']}", caller=ANNA).status == 404
    assert api("DELETE", f"/webhooks/{made['id']}", caller=ANNA).status == 404
    assert [c["action"] for c in config_changes(database, made["id"])] == ["create", "delete"]


# ---- row-level security repeats the service's rules ---------------------------------------------------


def test_row_level_security_hides_and_refuses_other_tenants_endpoints(api):
    made = create(api, GINA)
    anna = Principal(sub="anna", tenant="acme", roles=frozenset({Role.TENANT_ADMIN}))
    alice = Principal(sub="alice", tenant="acme", roles=frozenset({Role.TENANT_USER}))
    for who in (anna, alice):
        with db.transaction(who) as uow:
            assert uow.execute("SELECT count(*) AS n FROM webhook_endpoint").fetchone()["n"] == 0
            updated = uow.execute(
                "UPDATE webhook_endpoint SET url = 'https://93.184.215.15/' WHERE id = %s RETURNING id",
                (made["id"],),
            ).fetchall()
            assert updated == []
            deleted = uow.execute("DELETE FROM webhook_endpoint WHERE id = %s RETURNING id", (made["id"],))
            assert deleted.fetchall() == []
    with pytest.raises(ValidationFailed, match="outside your scope"), db.transaction(anna) as uow:
        uow.execute(
            "INSERT INTO webhook_endpoint (id, tenant_id, url, event_types, secret, secret_hint, created_at,"
            " created_by, updated_at, updated_by) VALUES (gen_random_uuid(), 'globex', 'https://x/', '{*}',"
            " 'whsec_AAAA', 'AAAA', now(), 'anna', now(), 'anna')"
        )
