"""Watchers and notification preferences (issue 12 §6) through the API, by role and tenant; the
notify worker's two reads; and row-level security refusing what the service refuses."""

from __future__ import annotations

from typing import Any

import pytest

from shared import db
from shared.auth import Principal, Role
from shared.kernel.errors import ValidationFailed
from shared.notify import preferences, watchers
from shared.notify.model import EMAIL_EVENT_TYPES, NotificationPreferences
from tests.integration.conftest import ADMIN, ALICE, ANNA, GREG, OPS, Caller, create_ticket

PREFS = "/me/notification-preferences"
SYSTEM = Principal.system("test")
GREG_P = Principal(sub="greg", tenant="globex", roles=frozenset({Role.TENANT_USER}))
ANNA_P = Principal(sub="anna", tenant="acme", roles=frozenset({Role.TENANT_ADMIN}))
ALICE_P = Principal(sub="alice", tenant="acme", roles=frozenset({Role.TENANT_USER}))


def watch(api: Any, ticket: dict[str, Any], caller: Caller, **body: Any) -> Any:
    return api("POST", f"/tickets/{ticket['id']}/watchers", caller=caller, body=body)


def listed(api: Any, ticket: dict[str, Any], caller: Caller) -> list[tuple[str, str]]:
    result = api("GET", f"/tickets/{ticket['key']}/watchers", caller=caller)
    assert result.status == 200, result.body
    return [(w["subject"], w["audience"]) for w in result.body["items"]]


def unwatch(api: Any, ticket: dict[str, Any], caller: Caller, subject: str | None = None) -> int:
    path = f"/tickets/{ticket['id']}/watchers" + (f"?subject={subject}" if subject else "")
    result = api("DELETE", path, caller=caller)
    assert result.status == 204 or result.content_type == "application/problem+json", result.raw
    if result.status == 204:  # no content, so no content type
        assert not result.raw.get("body") and not result.content_type, result.raw
    status: int = result.status
    return status


# ---- watching ------------------------------------------------------------------------------------


def test_a_tenant_person_watches_a_ticket_and_watching_again_changes_the_address(api: Any) -> None:
    ticket = create_ticket(ALICE)
    first = api(
        "POST", f"/tickets/{ticket['key']}/watchers", caller=ALICE, body={"email": "alice@ACME.Example"}
    )
    assert first.status == 201, first.body
    assert first.headers["Location"] == f"/tickets/{ticket['id']}/watchers"
    assert first.body["ticket_id"] == ticket["id"] and first.body["subject"] == "alice"
    assert first.body["audience"] == "tenant" and first.body["tenant_id"] == "acme"
    assert first.body["email"] == "alice@acme.example"  # the domain lowercased, the local part kept
    assert first.body["added_by"] == "alice"
    again = watch(api, ticket, ALICE, email="A.L@acme.example", subject="alice", tenant_id="acme")
    assert again.status == 200, again.body
    assert again.body["email"] == "A.L@acme.example" and again.body["added_at"] == first.body["added_at"]
    assert listed(api, ticket, ALICE) == [("alice", "tenant")]


def test_a_repeated_idempotency_key_replays_the_stored_response(api: Any) -> None:
    ticket = create_ticket(ALICE)
    path = f"/tickets/{ticket['id']}/watchers"
    headers = {"Idempotency-Key": "watch-1"}
    first = api("POST", path, caller=ALICE, body={"email": "alice@acme.example"}, headers=headers)
    replay = api("POST", path, caller=ALICE, body={"email": "alice@acme.example"}, headers=headers)
    assert (first.status, replay.status) == (201, 201)
    assert replay.body == first.body and replay.headers["Idempotent-Replayed"] == "true"
    other = api("POST", path, caller=ALICE, body={"email": "other@acme.example"}, headers=headers)
    assert other.status == 422 and other.content_type == "application/problem+json"


def test_platform_roles_make_a_tenant_person_or_a_platform_person_watch(api: Any) -> None:
    ticket = create_ticket(ALICE)
    anna = watch(api, ticket, OPS, email="anna@acme.example", subject="anna", tenant_id="acme")
    assert anna.status == 201, anna.body
    assert anna.body["audience"] == "tenant" and anna.body["tenant_id"] == "acme"
    assert anna.body["added_by"] == "olga"
    bob = watch(api, ticket, ADMIN, email="bob@platform.example", subject="bob")
    assert bob.status == 201 and bob.body["audience"] == "platform" and bob.body["tenant_id"] is None
    olga = watch(api, ticket, OPS, email="olga@platform.example")  # herself: a platform person
    assert olga.status == 201 and olga.body["audience"] == "platform" and olga.body["subject"] == "olga"
    assert listed(api, ticket, ADMIN) == [("anna", "tenant"), ("bob", "platform"), ("olga", "platform")]


def test_a_tenant_role_may_not_make_someone_else_watch(api: Any) -> None:
    ticket = create_ticket(ALICE)
    for body in (
        {"email": "anna@acme.example", "subject": "anna"},
        {"email": "alice@acme.example", "tenant_id": "globex"},
    ):
        refused = watch(api, ticket, ALICE, **body)
        assert refused.status == 403 and refused.content_type == "application/problem+json", refused.body
    assert watch(api, ticket, ALICE, email="alice@acme.example", subject="alice").status == 201
    assert listed(api, ticket, OPS) == [("alice", "tenant")]


def test_a_tenant_watcher_must_be_of_the_tickets_tenant_and_not_of_a_platform_only_ticket(api: Any) -> None:
    ticket = create_ticket(ALICE)
    wrong = watch(api, ticket, OPS, email="g@globex.example", subject="greg", tenant_id="globex")
    assert wrong.status == 422 and wrong.content_type == "application/problem+json"
    assert wrong.body["errors"][0]["loc"] == ["body", "tenant_id"]
    platform_only = create_ticket(OPS, visibility="platform_only", tenant_id="acme")
    refused = watch(api, platform_only, OPS, email="a@acme.example", subject="anna", tenant_id="acme")
    assert refused.status == 422 and "platform-only" in refused.body["detail"]
    no_tenant = create_ticket(OPS)
    assert (
        watch(api, no_tenant, ADMIN, email="a@acme.example", subject="anna", tenant_id="acme").status == 422
    )
    assert watch(api, platform_only, OPS, email="pat@platform.example", subject="pat").status == 201
    assert watch(api, platform_only, ALICE, email="alice@acme.example").status == 404  # she may not see it
    assert listed(api, platform_only, OPS) == [("pat", "platform")]


def test_another_tenants_ticket_is_a_404_on_every_watcher_route(api: Any) -> None:
    ticket = create_ticket(ALICE)
    watch(api, ticket, ALICE, email="alice@acme.example")
    for method, body in (("GET", None), ("POST", {"email": "greg@globex.example"}), ("DELETE", None)):
        for ref in (ticket["id"], ticket["key"]):
            result = api(method, f"/tickets/{ref}/watchers", caller=GREG, body=body)
            assert result.status == 404 and result.content_type == "application/problem+json", (method, ref)
    assert listed(api, ticket, ALICE) == [("alice", "tenant")]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "not an address"},
        {"email": "alice@localhost"},
        {"email": " alice@acme.example"},
        {"email": "al..ice@acme.example"},
        {"email": "alicé@acme.example"},
        {"email": "a@" + "b" * 250 + ".example"},
        {"email": "alice@acme.example", "surprise": 1},
        {"email": "alice@acme.example", "subject": ""},
        {"email": "alice@acme.example", "tenant_id": "Not A Tenant"},
    ],
)
def test_watch_bodies_that_do_not_fit_are_422(api: Any, body: dict[str, Any]) -> None:
    ticket = create_ticket(ALICE)
    refused = watch(api, ticket, ALICE, **body)
    assert refused.status == 422 and refused.content_type == "application/problem+json", refused.body


def test_watchers_are_listed_to_whoever_may_see_the_ticket(api: Any) -> None:
    ticket = create_ticket(ALICE)
    watch(api, ticket, ALICE, email="alice@acme.example")
    watch(api, ticket, OPS, email="olga@platform.example")
    both = [("alice", "tenant"), ("olga", "platform")]
    for caller in (ALICE, ANNA, OPS, ADMIN):
        assert listed(api, ticket, caller) == both
    assert api("GET", f"/tickets/{ticket['id']}/watchers", caller=GREG).status == 404
    internal = create_ticket(OPS, visibility="platform_only", tenant_id="acme")
    watch(api, internal, OPS, email="olga@platform.example")
    assert listed(api, internal, ADMIN) == [("olga", "platform")]
    assert api("GET", f"/tickets/{internal['id']}/watchers", caller=ANNA).status == 404
    assert listed(api, create_ticket(ALICE), ANNA) == []


def test_unwatching_oneself_and_platform_roles_unwatching_someone_else(api: Any) -> None:
    ticket = create_ticket(ALICE)
    watch(api, ticket, ALICE, email="alice@acme.example")
    watch(api, ticket, OPS, email="anna@acme.example", subject="anna", tenant_id="acme")
    watch(api, ticket, OPS, email="bob@platform.example", subject="bob")
    assert unwatch(api, ticket, ALICE, subject="anna") == 403
    assert unwatch(api, ticket, ANNA, subject="bob") == 403
    assert unwatch(api, ticket, ALICE, subject="alice") == 204  # herself, by name
    assert unwatch(api, ticket, ALICE) == 204  # not watching any more: still 204
    assert unwatch(api, ticket, OPS, subject="anna") == 204
    assert unwatch(api, ticket, OPS, subject="nobody") == 204
    assert listed(api, ticket, OPS) == [("bob", "platform")]
    assert unwatch(api, ticket, ADMIN, subject="bob") == 204
    assert listed(api, ticket, OPS) == []


def test_a_deleted_ticket_would_take_its_watchers_and_a_ticket_has_a_bounded_number(
    api: Any, database
) -> None:
    ticket = create_ticket(ALICE)
    with database.admin() as conn:
        conn.execute(
            "INSERT INTO ticket_watcher (ticket_id, subject, tenant_id, audience, email, added_by, added_at)"
            " SELECT %s, 'p' || n, 'acme', 'platform', 'p@platform.example', 'pat', now()"
            " FROM generate_series(1, 100) AS n",
            (ticket["id"],),
        )
    full = watch(api, ticket, ALICE, email="alice@acme.example")
    assert full.status == 409 and "100 watchers" in full.body["detail"]
    assert watch(api, ticket, OPS, email="p@platform.example", subject="p1").status == 200  # a repeat is fine
    assert unwatch(api, ticket, OPS, subject="p1") == 204
    assert watch(api, ticket, ALICE, email="alice@acme.example").status == 201


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/tickets/TCK-1/watchers"),
        ("POST", "/tickets/TCK-1/watchers"),
        ("DELETE", "/tickets/TCK-1/watchers"),
        ("GET", PREFS),
        ("PUT", PREFS),
    ],
)
def test_a_token_is_needed(api: Any, method: str, path: str) -> None:
    result = api(method, path, body={"email": "a@b.example"} if method in ("POST", "PUT") else None)
    assert result.status == 401 and result.content_type == "application/problem+json"


# ---- preferences --------------------------------------------------------------------------------


def test_preferences_default_to_no_address_and_no_opt_out(api: Any) -> None:
    for caller in (ALICE, OPS):
        fresh = api("GET", PREFS, caller=caller)
        assert fresh.status == 200 and fresh.body == {"email": None, "opt_out": [], "updated_at": None}


def test_preferences_are_replaced_whole_and_read_back(api: Any) -> None:
    saved = api(
        "PUT",
        PREFS,
        caller=ALICE,
        body={"email": "Alice@ACME.example", "opt_out": ["ticket.created", "sla.breached", "ticket.created"]},
    )
    assert saved.status == 200, saved.body
    assert saved.body["email"] == "Alice@acme.example"
    assert saved.body["opt_out"] == ["ticket.created", "sla.breached"] and saved.body["updated_at"]
    assert api("GET", PREFS, caller=ALICE).body == saved.body
    replaced = api("PUT", PREFS, caller=ALICE, body={"opt_out": list(EMAIL_EVENT_TYPES)})
    assert replaced.status == 200 and replaced.body["email"] is None  # the whole document: email gone
    assert api("GET", PREFS, caller=ALICE).body["opt_out"] == list(EMAIL_EVENT_TYPES)
    assert api("PUT", PREFS, caller=ALICE, body={}).body["opt_out"] == []


@pytest.mark.parametrize(
    "body",
    [
        {"email": "alice@acme.example", "opt_out": ["ticket.deleted"]},
        {"email": "alice@acme.example", "opt_out": "ticket.created"},
        {"email": "alice@acme.example", "x": 1},
        {"email": "alice"},
        {"email": "alice@acme.example", "updated_at": "2026-01-01T00:00:00Z"},
    ],
)
def test_preference_bodies_that_do_not_fit_are_422(api: Any, body: dict[str, Any]) -> None:
    refused = api("PUT", PREFS, caller=ALICE, body=body)
    assert refused.status == 422 and refused.content_type == "application/problem+json", refused.body
    assert api("GET", PREFS, caller=ALICE).body["updated_at"] is None


def test_preferences_are_each_persons_own(api: Any) -> None:
    api("PUT", PREFS, caller=ALICE, body={"email": "alice@acme.example", "opt_out": ["sla.at_risk"]})
    api("PUT", PREFS, caller=GREG, body={"email": "greg@globex.example"})
    assert api("GET", PREFS, caller=ALICE).body["email"] == "alice@acme.example"
    assert api("GET", PREFS, caller=GREG).body["email"] == "greg@globex.example"
    assert api("GET", PREFS, caller=ANNA).body["email"] is None
    # The same subject as a platform person, or in another tenant, is another person.
    assert api("GET", PREFS, caller=Caller("alice", None, ["platform_admin"])).body["email"] is None
    assert api("GET", PREFS, caller=Caller("alice", "globex", ["tenant_user"])).body["email"] is None


# ---- the notify worker's reads --------------------------------------------------------------------


def test_the_worker_reads_anyones_preferences_by_tenant_and_subject(api: Any) -> None:
    api("PUT", PREFS, caller=ALICE, body={"email": "alice@acme.example", "opt_out": ["ticket.created"]})
    api("PUT", PREFS, caller=OPS, body={"email": "olga@platform.example"})
    with db.transaction(SYSTEM) as uow:
        found = preferences.for_subjects(
            uow, [("acme", "alice"), ("globex", "greg"), (None, "alice"), (None, "olga"), ("acme", "olga")]
        )
        assert preferences.for_subjects(uow, []) == {}
    assert found == {
        ("acme", "alice"): NotificationPreferences(email="alice@acme.example", opt_out=["ticket.created"]),
        (None, "olga"): NotificationPreferences(email="olga@platform.example", opt_out=[]),
    }


def test_the_worker_reads_every_watcher_of_a_ticket(api: Any) -> None:
    ticket = create_ticket(ALICE)
    watch(api, ticket, ALICE, email="alice@acme.example")
    watch(api, ticket, OPS, email="bob@platform.example", subject="bob")
    other = create_ticket(GREG)
    watch(api, other, GREG, email="greg@globex.example")
    with db.transaction(SYSTEM) as uow:
        found = watchers.for_ticket(uow, ticket["id"])
        assert watchers.for_ticket(uow, create_ticket(OPS)["id"]) == []
    assert [(w.subject, w.audience, w.tenant_id, w.email) for w in found] == [
        ("alice", "tenant", "acme", "alice@acme.example"),
        ("bob", "platform", None, "bob@platform.example"),
    ]


# ---- row-level security repeats the service's rules -------------------------------------------------


def test_row_level_security_hides_other_peoples_preferences(api: Any) -> None:
    api("PUT", PREFS, caller=ALICE, body={"email": "alice@acme.example"})
    api("PUT", PREFS, caller=OPS, body={"email": "olga@platform.example"})
    for who in (GREG_P, ANNA_P, Principal(sub="pat", tenant=None, roles=frozenset({Role.PLATFORM_ADMIN}))):
        with db.transaction(who) as uow:  # no WHERE: the policy alone
            assert uow.execute("SELECT * FROM notification_preference").fetchall() == []
            changed = uow.execute("UPDATE notification_preference SET email = 'x@evil.example' RETURNING 1")
            assert changed.fetchall() == []
    with db.transaction(ALICE_P) as uow:
        assert [r["subject"] for r in uow.execute("SELECT subject FROM notification_preference")] == ["alice"]
    with db.transaction(SYSTEM) as uow:
        assert uow.execute("SELECT count(*) AS n FROM notification_preference").fetchone()["n"] == 2
    # Writing a row under someone else's key, or under another tenant, is refused.
    forged = (
        (GREG_P, preferences.key("acme", "alice"), "acme", "alice"),
        (GREG_P, GREG_P.scope_key, "acme", "greg"),
    )
    for who, key, tenant, subject in forged:
        with pytest.raises(ValidationFailed, match="outside your scope"), db.transaction(who) as uow:
            uow.execute(
                "INSERT INTO notification_preference (owner_key, tenant_id, subject, updated_at)"
                " VALUES (%s, %s, %s, now())",
                (key, tenant, subject),
            )


def test_row_level_security_keeps_watchers_with_their_tickets(api: Any) -> None:
    ticket = create_ticket(ALICE)
    watch(api, ticket, ALICE, email="alice@acme.example")
    watch(api, ticket, OPS, email="olga@platform.example")
    internal = create_ticket(OPS, visibility="platform_only", tenant_id="acme")
    watch(api, internal, OPS, email="olga@platform.example")
    with db.transaction(GREG_P) as uow:  # no WHERE: the policy alone
        assert uow.execute("SELECT * FROM ticket_watcher").fetchall() == []
        assert uow.execute("DELETE FROM ticket_watcher RETURNING subject").fetchall() == []
        assert uow.execute("UPDATE ticket_watcher SET email = 'x@evil.example' RETURNING 1").fetchall() == []
    with db.transaction(ANNA_P) as uow:  # her tenant's ticket, not the platform-only one
        rows = uow.execute("SELECT ticket_id::text AS t, subject FROM ticket_watcher").fetchall()
        assert sorted((r["t"], r["subject"]) for r in rows) == [
            (ticket["id"], "alice"),
            (ticket["id"], "olga"),
        ]
    with db.transaction(SYSTEM) as uow:
        assert uow.execute("SELECT count(*) AS n FROM ticket_watcher").fetchone()["n"] == 3
    insert = (
        "INSERT INTO ticket_watcher (ticket_id, subject, tenant_id, audience, email, added_by, added_at)"
        " VALUES (%s, %s, %s, %s, 'x@evil.example', 'greg', now())"
    )
    refused = (
        (GREG_P, (ticket["id"], "greg", "acme", "tenant")),  # another tenant's ticket
        (GREG_P, (ticket["id"], "greg", "globex", "tenant")),  # ... under his own tenant
        (ANNA_P, (ticket["id"], "zed", "acme", "platform")),  # a tenant writes tenant watchers only
        (ANNA_P, (internal["id"], "anna", "acme", "tenant")),  # a platform-only ticket
    )
    for who, values in refused:
        with pytest.raises(ValidationFailed, match="outside your scope"), db.transaction(who) as uow:
            uow.execute(insert, values)


def test_a_tenant_sees_who_watches_but_not_other_peoples_addresses(api: Any) -> None:
    ticket = create_ticket(ALICE)
    assert api(
        "POST", f"/tickets/{ticket['id']}/watchers", caller=ALICE, body={"email": "alice@acme.example"}
    ).status in (200, 201)
    assert api(
        "POST", f"/tickets/{ticket['id']}/watchers", caller=OPS, body={"email": "olga@platform.example"}
    ).status in (200, 201)
    seen = {
        w["subject"]: w["email"]
        for w in api("GET", f"/tickets/{ticket['id']}/watchers", caller=ALICE).body["items"]
    }
    assert seen == {"alice": "alice@acme.example", "olga": None}
    seen = {
        w["subject"]: w["email"]
        for w in api("GET", f"/tickets/{ticket['id']}/watchers", caller=OPS).body["items"]
    }
    assert seen == {"alice": "alice@acme.example", "olga": "olga@platform.example"}
