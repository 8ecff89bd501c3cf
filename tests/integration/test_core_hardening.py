"""Issue 8, core hardening: each reproducer from the attack and fuzzing report, over the handlers.

Sections follow the issue: 1 idempotency scope, 2 server errors any caller could trigger, 3
unbounded fields and responses, 4 what a tenant could infer about internal activity, 5 the
system scope. (The authorizer's side of 1, 2 and 5 is in test_authorizer.py; 6 and 7 are the
OpenAPI and local gateway tests.)
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

import pytest

from shared import db, outbox
from shared.auth import Principal, Role
from tests.integration.conftest import ALICE, OPS, Caller, create_ticket

OLGA_AS_TENANT_STAR = Caller("olga", "*", ["tenant_user"])


def assert_problem(result: Any, status: int) -> dict[str, Any]:
    assert result.status == status, result.body
    assert result.content_type.startswith("application/problem+json")
    problem: dict[str, Any] = result.body
    assert problem["status"] == status
    return problem


def count(database: Any, table: str, where: str = "TRUE") -> int:
    with database.admin() as conn:
        return int(conn.execute(f"SELECT count(*) AS n FROM {table} WHERE {where}").fetchone()["n"])


def forged(real_cursor: str, position: dict[str, Any]) -> str:
    """A cursor the API issued, with its position replaced (its query fingerprint kept)."""
    data = json.loads(base64.urlsafe_b64decode(real_cursor + "=" * (-len(real_cursor) % 4)))
    raw = json.dumps({"p": position, "q": data["q"]}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def real_cursor(api: Any, path: str) -> str:
    page = api("GET", path, caller=ALICE, query={"limit": "1"})
    assert page.status == 200 and page.body["next_cursor"], page.body
    return str(page.body["next_cursor"])


# ---- 1. idempotency keys are scoped by an unambiguous key -----------------------------------------


def test_scope_keys_of_colliding_principals_differ() -> None:
    olga = Principal("olga", None, frozenset({Role.PLATFORM_OPERATOR}))
    star = Principal("olga", "*", frozenset({Role.TENANT_USER}))
    assert olga.scope_key != star.scope_key
    assert (
        Principal("b:c", "a", frozenset({Role.TENANT_USER})).scope_key
        != Principal("c", "a:b", frozenset({Role.TENANT_USER})).scope_key
    )
    # The platform flag is part of it too: the same subject as a platform and a tenant principal.
    assert (
        Principal("x", None, frozenset({Role.SERVICE})).scope_key
        != Principal("x", None, frozenset({Role.TENANT_USER})).scope_key
    )


def test_a_tenant_star_token_cannot_replay_a_platform_operators_response(api, database) -> None:
    body = {"title": "Platform-only incident", "kind": "incident"}
    first = api("POST", "/tickets", caller=OPS, body=body, headers={"Idempotency-Key": "k-olga"})
    assert first.status == 201 and first.body["visibility"] == "platform_only"
    replay = api(
        "POST", "/tickets", caller=OLGA_AS_TENANT_STAR, body=body, headers={"Idempotency-Key": "k-olga"}
    )
    problem = assert_problem(replay, 403)
    assert "tenant" in problem["detail"] and "Idempotent-Replayed" not in replay.headers
    assert first.body["title"] not in json.dumps(replay.body)
    assert count(database, "ticket") == 1


@pytest.mark.parametrize("tenant", ["a:b", "Acme", "*", "a" * 64, " acme"])
def test_invalid_tenant_ids_in_the_authorizer_context_are_403(api, tenant: str) -> None:
    assert_problem(api("GET", "/tickets", caller=Caller("c", tenant, ["tenant_user"])), 403)


@pytest.mark.parametrize("tenant_id", ["Acme", "a:b", "*", "-x", "a" * 64, ""])
def test_invalid_tenant_ids_in_bodies_are_422(api, database, tenant_id: str) -> None:
    result = api(
        "POST", "/tickets", caller=OPS, body={"title": "t", "kind": "incident", "tenant_id": tenant_id}
    )
    problem = assert_problem(result, 422)
    assert any(e["loc"][:2] == ["body", "tenant_id"] for e in problem["errors"])
    assert count(database, "ticket") == 0


def test_invalid_tenant_ids_in_queries_are_400(api) -> None:
    assert_problem(api("GET", "/tickets", caller=OPS, query={"tenant_id": "Acme"}), 400)


@pytest.mark.parametrize("sub", ["x" * 256, "ali\nce", "bob\x7f"])
def test_unbounded_or_control_character_subjects_are_403(api, sub: str) -> None:
    assert_problem(api("GET", "/tickets", caller=Caller(sub, "acme", ["tenant_user"])), 403)


# ---- 2. no 500 for a crafted cursor, a media type or an odd claim -----------------------------------


@pytest.mark.parametrize(
    "position",
    [{"seq": True}, {"seq": "5"}, {"seq": 1.5}, {"seq": -1}, {"seq": 2**31}, {"seq": None}, {"id": 1}, {}],
)
def test_crafted_event_cursors_are_400(api, position: dict[str, Any]) -> None:
    ticket = create_ticket()
    api("POST", f"/tickets/{ticket['key']}/comments", caller=ALICE, body={"body": "a second event"})
    path = f"/tickets/{ticket['key']}/events"
    result = api("GET", path, caller=ALICE, query={"cursor": forged(real_cursor(api, path), position)})
    assert_problem(result, 400)


@pytest.mark.parametrize("position", [{"id": True}, {"id": 5}, {"id": "not-a-uuid"}, {"seq": 1}, {}])
def test_crafted_id_cursors_are_400(api, position: dict[str, Any]) -> None:
    ticket = create_ticket()
    create_ticket()
    for n in range(2):
        api("POST", f"/tickets/{ticket['key']}/comments", caller=ALICE, body={"body": f"c{n}"})
    for path in ("/tickets", f"/tickets/{ticket['key']}/comments"):
        result = api("GET", path, caller=ALICE, query={"cursor": forged(real_cursor(api, path), position)})
        assert_problem(result, 400)


@pytest.mark.parametrize(
    "content_type",
    [
        "APPLICATION/JSON",
        "Application/Json; charset=UTF-8",
        "application/json;charset=utf-8",
        "application/json",
    ],
)
def test_json_in_any_case_with_parameters_is_accepted(api, content_type: str) -> None:
    body = json.dumps({"title": "x", "category": "quota"})
    result = api("POST", "/tickets", caller=ALICE, body=body, headers={"Content-Type": content_type})
    assert result.status == 201, result.body


@pytest.mark.parametrize(
    "content_type",
    [
        "application/problem+json",
        "application/vnd.foo+json",
        "application/merge-patch+json",  # a merge patch is for PATCH only
        "application/json; charset=latin-1",
        "text/plain",
        "application/x-www-form-urlencoded",
    ],
)
def test_other_media_types_are_415_not_500(api, database, content_type: str) -> None:
    body = json.dumps({"title": "x", "category": "quota"})
    result = api("POST", "/tickets", caller=ALICE, body=body, headers={"Content-Type": content_type})
    problem = assert_problem(result, 415)
    assert "application/json" in problem["detail"]
    assert count(database, "ticket") == 0


def test_patch_takes_a_json_merge_patch_where_null_clears(api) -> None:
    ticket = create_ticket(OPS, kind="incident", assignee="olga", queue="data-platform")
    patch = json.dumps({"assignee": None, "priority": "low"})
    for content_type in ("application/merge-patch+json", "APPLICATION/MERGE-PATCH+JSON; charset=utf-8"):
        result = api(
            "PATCH",
            f"/tickets/{ticket['key']}",
            caller=OPS,
            body=patch,
            headers={"Content-Type": content_type},
        )
        assert result.status == 200, result.body
        assert result.body["assignee"] is None and result.body["priority"] == "low"
    refused = api(
        "PATCH",
        f"/tickets/{ticket['key']}",
        caller=OPS,
        body=json.dumps({"title": None}),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert_problem(refused, 422)
    odd = api(
        "PATCH",
        f"/tickets/{ticket['key']}",
        caller=OPS,
        body=patch,
        headers={"Content-Type": "application/vnd.x+json"},
    )
    assert_problem(odd, 415)


# ---- 3. every stored value, every response and every event is bounded ------------------------------


def test_a_multi_megabyte_body_is_413(api, database) -> None:
    body = json.dumps(
        {"title": "big", "category": "configuration", "fields": {"value": "x" * (7 * 1024 * 1024)}}
    )
    problem = assert_problem(api("POST", "/tickets", caller=ALICE, body=body), 413)
    assert "524288" in problem["detail"]
    assert count(database, "ticket") == 0


@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"value": ["x" * 3000] * 6}, "bytes"),  # 18 KB: under the body limit, over the fields bound
        ({"value": "x" * 4001}, "characters"),
        ({"value": {f"k{i}": i for i in range(65)}}, "keys"),
        ({"value": list(range(101))}, "items"),
        ({"value": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"j": {}}}}}}}}}}}}, "nest"),
    ],
)
def test_free_form_fields_are_bounded(api, database, fields: dict[str, Any], why: str) -> None:
    result = api(
        "POST", "/tickets", caller=ALICE, body={"title": "t", "category": "configuration", "fields": fields}
    )
    problem = assert_problem(result, 422)
    assert any(why in e["msg"] for e in problem["errors"]), problem["errors"]
    assert count(database, "ticket") == 0
    ticket = create_ticket(category="configuration")
    patched = api("PATCH", f"/tickets/{ticket['key']}", caller=ALICE, body={"fields": fields})
    assert_problem(patched, 422)


def test_lengths_are_checked_on_what_the_client_sent(api, database) -> None:
    ticket = create_ticket()
    body = {"body": "\t" + "x" * 20_000}  # 20,001 characters before trimming
    assert_problem(api("POST", f"/tickets/{ticket['key']}/comments", caller=ALICE, body=body), 422)
    assert_problem(
        api("POST", "/tickets", caller=ALICE, body={"title": " " + "t" * 300, "kind": "request"}), 422
    )
    assert (
        api("POST", f"/tickets/{ticket['key']}/comments", caller=ALICE, body={"body": "  ok  "}).body["body"]
        == "ok"
    )
    assert count(database, "ticket_comment") == 1


def test_a_list_of_the_largest_tickets_stays_far_below_lambdas_limit(api, database) -> None:
    # 40 tickets whose descriptions are 20,000 four-byte characters (80 KB each, 3.2 MB in all).
    for n in range(40):
        create_ticket(title=f"big {n}", description="\U0001f600" * 20_000)
    seen: list[str] = []
    page = api("GET", "/tickets", caller=OPS, query={"limit": "200"})
    sizes = []
    while True:
        assert page.status == 200
        sizes.append(len(page.raw["body"].encode()))
        seen += [t["id"] for t in page.body["items"]]
        if not page.body["next_cursor"]:
            break
        page = api("GET", "/tickets", caller=OPS, query={"limit": "200", "cursor": page.body["next_cursor"]})
    assert max(sizes) < 1_200_000  # one page: the 1 MB budget plus at most one ticket
    assert len(sizes) > 1 and len(seen) == len(set(seen)) == 40


@pytest.mark.usefixtures("without_sla")  # bounds and the outbox are the subject, not the SLA
def test_comment_and_event_lists_are_bounded_too(api) -> None:
    ticket = create_ticket()
    for n in range(15):
        api("POST", f"/tickets/{ticket['key']}/comments", caller=ALICE, body={"body": "\U0001f600" * 20_000})
        # Each change event holds the old and the new description: 160 KB.
        description = ("\U0001f600" if n % 2 else "\U0001f601") * 20_000
        api("PATCH", f"/tickets/{ticket['key']}", caller=ALICE, body={"description": description})
    for path, expected in (
        (f"/tickets/{ticket['key']}/comments", 15),
        (f"/tickets/{ticket['key']}/events", 31),
    ):
        page = api("GET", path, caller=OPS, query={"limit": "200"})
        items, pages = page.body["items"], 1
        while page.body["next_cursor"]:
            assert len(page.raw["body"].encode()) < 1_200_000
            page = api("GET", path, caller=OPS, query={"limit": "200", "cursor": page.body["next_cursor"]})
            items, pages = items + page.body["items"], pages + 1
        assert len(items) == expected and pages > 1


@pytest.mark.usefixtures("without_sla")  # bounds and the outbox are the subject, not the SLA
def test_events_of_the_largest_ticket_stay_small(api, database, event_bus) -> None:
    fields = {"value": {f"k{i}": "v" * 200 for i in range(60)}}  # ~14 KB
    ticket = create_ticket(category="configuration", description="d" * 20_000, fields=fields)
    api("PATCH", f"/tickets/{ticket['key']}", caller=ALICE, body={"description": "e" * 20_000})
    api("POST", f"/tickets/{ticket['key']}/comments", caller=ALICE, body={"body": "c" * 20_000})
    received = event_bus.received()
    assert [e["detail-type"] for e in received] == [
        "Ticket Created",
        "Ticket Updated",
        "Ticket Comment Added",
    ]
    for event in received:
        assert len(json.dumps(event["detail"]).encode()) < outbox.MAX_DETAIL_BYTES
    assert received[0]["detail"]["changes"]["description"] == {"omitted": True}
    assert received[0]["detail"]["changes"]["title"]["new"] == ticket["title"]
    assert received[1]["detail"]["changes"] == {"description": {"omitted": True}}
    assert received[2]["detail"]["comment"]["body_omitted"] is True
    assert count(database, "outbox", "published_at IS NULL") == 0


def _poison(database: Any, detail_bytes: int = 300_000) -> int:
    """An outbox row whose event EventBridge can never take (as a 7 MiB ticket's event was)."""
    with database.admin() as conn:
        row = conn.execute(
            "INSERT INTO outbox (event_id, detail_type, aggregate_type, aggregate_id, detail)"
            " VALUES (gen_random_uuid(), 'Ticket Updated', 'ticket', 'x', %s) RETURNING id",
            (json.dumps({"blob": "x" * detail_bytes}),),
        ).fetchone()
    return int(row["id"])


@pytest.mark.usefixtures("without_sla")  # bounds and the outbox are the subject, not the SLA
def test_an_unpublishable_row_is_parked_and_the_others_are_published(api, database, event_bus) -> None:
    poison = _poison(database)
    tickets = [create_ticket(title=f"after the poison {n}") for n in range(3)]
    with database.admin() as conn:  # as if the post-commit publish had been lost
        conn.execute("UPDATE outbox SET published_at = NULL")
    event_bus.received()
    result = outbox.relay(event_bus.publishers)
    assert (result.published, result.parked, result.parked_total, result.pending) == (3, 1, 1, 0)
    assert {e["detail"]["ticket_id"] for e in event_bus.received()} == {t["id"] for t in tickets}
    with database.admin() as conn:
        row = conn.execute(
            "SELECT attempts, last_error, parked_at FROM outbox WHERE id = %s", (poison,)
        ).fetchone()
    assert row["parked_at"] is not None and "EntryTooLarge" in row["last_error"]
    assert outbox.relay(event_bus.publishers).published == 0  # parked rows are not tried again...
    assert outbox.unpark() == 1  # ...until an operator puts them back in line
    assert outbox.relay(event_bus.publishers).parked == 1


@pytest.mark.usefixtures("without_sla")  # bounds and the outbox are the subject, not the SLA
def test_a_row_that_keeps_failing_never_holds_back_the_rows_behind_it(api, database, event_bus) -> None:
    first = create_ticket(title="refused every time")
    behind = [create_ticket(title=f"behind {n}") for n in range(3)]
    with database.admin() as conn:
        conn.execute("UPDATE outbox SET published_at = NULL, attempts = 0")
    event_bus.received()
    bad_ticket = first["id"]

    bus = event_bus.publishers["bus"]

    def publisher(messages: Sequence[outbox.Message]) -> list[str | None]:
        good = [m for m in messages if bad_ticket not in m.detail]
        results = iter(bus(good))
        return ["InvalidArgument: refused" if bad_ticket in m.detail else next(results) for m in messages]

    for attempt in range(1, outbox.MAX_ATTEMPTS + 1):
        result = outbox.relay({"bus": publisher}, batch_size=2)
        assert result.failed == 1 and result.parked == (1 if attempt == outbox.MAX_ATTEMPTS else 0)
        if attempt == 1:
            assert {e["detail"]["ticket_id"] for e in event_bus.received()} == {t["id"] for t in behind}
    assert count(database, "outbox", "parked_at IS NOT NULL") == 1
    assert count(database, "outbox", "published_at IS NULL AND parked_at IS NULL") == 0


# ---- 4. what a tenant can infer about internal activity ------------------------------------------------


@pytest.mark.usefixtures("without_sla")  # bounds and the outbox are the subject, not the SLA
def test_tenants_see_public_events_numbered_without_gaps_and_without_hashes(api) -> None:
    ticket = create_ticket()
    for n in range(3):
        api(
            "POST",
            f"/tickets/{ticket['key']}/comments",
            caller=OPS,
            body={"body": f"i{n}", "visibility": "internal"},
        )
        api("POST", f"/tickets/{ticket['key']}/comments", caller=OPS, body={"body": f"p{n}"})
    tenant = api("GET", f"/tickets/{ticket['key']}/events", caller=ALICE, query={"limit": "2"})
    items = tenant.body["items"]
    while tenant.body["next_cursor"]:
        tenant = api(
            "GET",
            f"/tickets/{ticket['key']}/events",
            caller=ALICE,
            query={"limit": "2", "cursor": tenant.body["next_cursor"]},
        )
        items += tenant.body["items"]
    assert [e["seq"] for e in items] == [1, 2, 3, 4]
    assert all(e["hash"] is None and e["visibility"] == "public" for e in items)
    platform = api("GET", f"/tickets/{ticket['key']}/events", caller=OPS).body["items"]
    assert [e["seq"] for e in platform] == list(range(1, 8)) and all(len(e["hash"]) == 64 for e in platform)
    # The two numberings are different keys: a tenant's cursor does not page a platform list.
    first = api("GET", f"/tickets/{ticket['key']}/events", caller=ALICE, query={"limit": "2"}).body
    crossed = api(
        "GET", f"/tickets/{ticket['key']}/events", caller=OPS, query={"cursor": first["next_cursor"]}
    )
    assert "different query" in assert_problem(crossed, 400)["detail"]


def test_an_internal_comment_does_not_move_what_tenants_see_as_updated_at(api) -> None:
    ticket = create_ticket()
    before_tenant = api("GET", f"/tickets/{ticket['key']}", caller=ALICE).body
    before_platform = api("GET", f"/tickets/{ticket['key']}", caller=OPS).body
    api(
        "POST",
        f"/tickets/{ticket['key']}/comments",
        caller=OPS,
        body={"body": "quiet", "visibility": "internal"},
    )
    after_tenant = api("GET", f"/tickets/{ticket['key']}", caller=ALICE).body
    after_platform = api("GET", f"/tickets/{ticket['key']}", caller=OPS).body
    assert after_tenant == before_tenant  # nothing at all changed for the tenant
    assert after_platform["updated_at"] > before_platform["updated_at"]
    listed = api("GET", "/tickets", caller=ALICE).body["items"]
    assert [t["updated_at"] for t in listed] == [before_tenant["updated_at"]]
    api("POST", f"/tickets/{ticket['key']}/comments", caller=OPS, body={"body": "public now"})
    assert (
        api("GET", f"/tickets/{ticket['key']}", caller=ALICE).body["updated_at"] > before_tenant["updated_at"]
    )


# ---- 5. the system scope belongs to Principal.system() alone -----------------------------------------


def test_a_system_subject_from_a_token_gets_no_system_scope(api, database) -> None:
    assert_problem(api("GET", "/tickets", caller=Caller("system:outbox", None, ["service"])), 403)
    forged = Principal("system:outbox", None, frozenset({Role.SERVICE}))  # as if built from claims
    with db.transaction(forged) as conn:
        scope = conn.execute("SELECT current_setting('app.system') AS system").fetchone()
        assert scope["system"] == "off"
        assert conn.execute("SELECT count(*) AS n FROM outbox").fetchone()["n"] == 0
    with db.transaction(Principal.system("outbox")) as conn:
        assert conn.execute("SELECT current_setting('app.system') AS system").fetchone()["system"] == "on"
