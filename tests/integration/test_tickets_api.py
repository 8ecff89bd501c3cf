"""The ticket routes, invoked with real API Gateway REST events against a real PostgreSQL."""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import ADMIN, ALICE, ANNA, GREG, OPS, create_ticket

pytestmark = pytest.mark.usefixtures("api")


def assert_problem(result, status: int, slug: str | None = None) -> dict:
    assert result.status == status, result.body
    assert result.content_type == "application/problem+json"
    body = result.body
    assert body["status"] == status and body["title"] and body["detail"]
    assert "Traceback" not in json.dumps(body)
    if slug:
        assert body["type"].endswith(slug), body["type"]
    return body


class TestCreate:
    def test_tenant_user_opens_a_ticket_in_its_own_tenant(self, api):
        result = api(
            "POST", "/tickets", caller=ALICE, body={"title": "Orders feed late", "category": "data_freshness"}
        )
        assert result.status == 201, result.body
        ticket = result.body
        assert ticket["tenant_id"] == "acme"
        assert ticket["visibility"] == "tenant"
        assert ticket["kind"] == "incident"  # derived from the category
        assert ticket["state"] == "new"
        assert ticket["requester"] == "alice"
        assert ticket["priority"] == "medium"
        assert ticket["version"] == 1
        assert ticket["key"].startswith("TCK-")
        assert result.headers["Location"] == f"/tickets/{ticket['id']}"
        assert result.headers["ETag"] == '"1"'

    def test_base64_encoded_body_as_api_gateway_sends_it(self, api):
        body = {"title": "Quota for warehouse", "category": "quota", "fields": {"requested_limit": 500}}
        result = api("POST", "/tickets", caller=ALICE, body=body, base64_body=True)
        assert result.status == 201, result.body
        assert result.body["fields"] == {"requested_limit": 500.0}
        assert result.body["kind"] == "request"

    def test_malformed_json_is_400(self, api):
        result = api(
            "POST", "/tickets", caller=ALICE, body='{"title": ', headers={"Content-Type": "application/json"}
        )
        assert_problem(result, 400, "bad-request")

    def test_schema_violations_are_422_with_locations(self, api):
        result = api("POST", "/tickets", caller=ALICE, body={"category": "health", "priority": "urgent"})
        body = assert_problem(result, 422, "validation-error")
        locations = {tuple(e["loc"]) for e in body["errors"]}
        assert ("body", "title") in locations
        assert ("body", "priority") in locations

    def test_kind_must_match_category(self, api):
        result = api(
            "POST", "/tickets", caller=ALICE, body={"title": "x", "kind": "request", "category": "health"}
        )
        assert_problem(result, 422)

    def test_unknown_category_fields_are_refused(self, api):
        body = {"title": "x", "category": "access", "fields": {"acces_level": "admin"}}
        assert_problem(api("POST", "/tickets", caller=ALICE, body=body), 422)

    def test_tenant_cannot_open_for_another_tenant_or_assign(self, api):
        other = api(
            "POST", "/tickets", caller=ALICE, body={"title": "x", "kind": "request", "tenant_id": "globex"}
        )
        assert_problem(other, 403, "forbidden")
        assigned = api(
            "POST", "/tickets", caller=ALICE, body={"title": "x", "kind": "request", "assignee": "bob"}
        )
        assert_problem(assigned, 403)
        hidden = api(
            "POST",
            "/tickets",
            caller=ALICE,
            body={"title": "x", "kind": "request", "visibility": "platform_only"},
        )
        assert_problem(hidden, 403)

    def test_platform_opens_platform_only_and_tenant_tickets(self, api):
        internal = create_ticket(OPS, title="Rotate platform certs", category="configuration")
        assert internal["tenant_id"] is None and internal["visibility"] == "platform_only"
        for_tenant = create_ticket(
            OPS, title="Disk pressure", category="health", tenant_id="acme", assignee="olga"
        )
        assert for_tenant["visibility"] == "tenant" and for_tenant["assignee"] == "olga"
        bad = api(
            "POST", "/tickets", caller=OPS, body={"title": "x", "kind": "incident", "visibility": "tenant"}
        )
        assert_problem(bad, 422)

    def test_no_principal_is_401(self, api):
        assert_problem(api("POST", "/tickets", body={"title": "x", "kind": "request"}), 401)

    def test_token_without_known_role_is_403(self, api):
        from tests.integration.conftest import Caller

        assert_problem(api("GET", "/tickets", caller=Caller("mallory", "acme", ["superuser"])), 403)


class TestRead:
    def test_by_id_and_by_key_with_etag(self, api):
        ticket = create_ticket()
        for ref in (ticket["id"], ticket["key"], ticket["key"].lower()):
            result = api("GET", f"/tickets/{ref}", caller=ALICE)
            assert result.status == 200
            assert result.body["id"] == ticket["id"]
            assert result.headers["ETag"] == '"1"'

    def test_another_tenants_ticket_is_404(self, api):
        ticket = create_ticket()
        assert_problem(api("GET", f"/tickets/{ticket['id']}", caller=GREG), 404, "not-found")
        assert_problem(api("GET", f"/tickets/{ticket['key']}", caller=GREG), 404)

    def test_platform_only_ticket_is_invisible_to_the_tenant(self, api):
        ticket = create_ticket(
            OPS, title="Investigate acme", kind="incident", tenant_id="acme", visibility="platform_only"
        )
        assert_problem(api("GET", f"/tickets/{ticket['id']}", caller=ALICE), 404)
        assert api("GET", f"/tickets/{ticket['id']}", caller=ADMIN).status == 200

    def test_unknown_and_malformed_refs_are_404(self, api):
        assert_problem(api("GET", "/tickets/TCK-999999", caller=OPS), 404)
        assert_problem(api("GET", "/tickets/not-a-ticket", caller=OPS), 404)


class TestPatch:
    def test_if_match_guards_the_version(self, api):
        ticket = create_ticket()
        ok = api(
            "PATCH",
            f"/tickets/{ticket['id']}",
            caller=ALICE,
            body={"title": "Renamed"},
            headers={"If-Match": '"1"'},
        )
        assert ok.status == 200, ok.body
        assert ok.body["title"] == "Renamed" and ok.body["version"] == 2
        assert ok.headers["ETag"] == '"2"'
        stale = api(
            "PATCH",
            f"/tickets/{ticket['id']}",
            caller=ALICE,
            body={"title": "Again"},
            headers={"If-Match": '"1"'},
        )
        assert_problem(stale, 412, "precondition-failed")
        assert api("GET", f"/tickets/{ticket['id']}", caller=ALICE).body["title"] == "Renamed"

    def test_tenant_may_not_change_platform_fields(self, api):
        ticket = create_ticket()
        assert_problem(
            api("PATCH", f"/tickets/{ticket['id']}", caller=ALICE, body={"priority": "critical"}), 403
        )
        assert_problem(
            api("PATCH", f"/tickets/{ticket['id']}", caller=ALICE, body={"assignee": "alice"}), 403
        )
        ok = api(
            "PATCH", f"/tickets/{ticket['id']}", caller=OPS, body={"priority": "critical", "assignee": "olga"}
        )
        assert ok.status == 200 and ok.body["assignee"] == "olga"

    def test_patch_validation(self, api):
        ticket = create_ticket()
        assert_problem(api("PATCH", f"/tickets/{ticket['id']}", caller=OPS, body={}), 422)
        assert_problem(api("PATCH", f"/tickets/{ticket['id']}", caller=OPS, body={"title": None}), 422)
        assert_problem(api("PATCH", f"/tickets/{ticket['id']}", caller=OPS, body={"state": "closed"}), 422)
        bad_fields = api("PATCH", f"/tickets/{ticket['id']}", caller=OPS, body={"fields": {"nope": 1}})
        assert_problem(bad_fields, 422)

    def test_unchanged_patch_does_not_bump_the_version(self, api):
        ticket = create_ticket()
        result = api("PATCH", f"/tickets/{ticket['id']}", caller=ALICE, body={"title": ticket["title"]})
        assert result.status == 200 and result.body["version"] == 1

    def test_another_tenant_cannot_patch(self, api):
        ticket = create_ticket()
        assert_problem(api("PATCH", f"/tickets/{ticket['id']}", caller=GREG, body={"title": "mine"}), 404)


class TestTransitions:
    def move(self, api, ticket, caller, to, **extra):
        return api("POST", f"/tickets/{ticket['id']}/transitions", caller=caller, body={"to": to, **extra})

    def test_full_lifecycle_and_timestamps(self, api):
        ticket = create_ticket()
        acked = self.move(api, ticket, OPS, "ack")
        assert acked.status == 200 and acked.body["acked_at"] and acked.body["first_response_at"]
        assert self.move(api, ticket, OPS, "in_progress").body["state"] == "in_progress"
        assert self.move(api, ticket, OPS, "wait_requester").body["state"] == "wait_requester"
        assert self.move(api, ticket, OPS, "in_progress").status == 200
        resolved = self.move(api, ticket, OPS, "resolved", resolution="Backfilled the partition")
        assert resolved.body["resolution"] == "Backfilled the partition" and resolved.body["resolved_at"]
        closed = self.move(api, ticket, ALICE, "closed")
        assert closed.status == 200 and closed.body["closed_at"]
        reopened = self.move(api, ticket, ALICE, "in_progress", reason="Failed again tonight")
        assert reopened.status == 200, reopened.body
        assert reopened.body["resolved_at"] is None and reopened.body["closed_at"] is None
        assert reopened.body["version"] == 8

    def test_invalid_transition_is_409_naming_allowed_ones(self, api):
        ticket = create_ticket()
        body = assert_problem(self.move(api, ticket, OPS, "closed"), 409, "invalid-transition")
        assert set(body["allowed_transitions"]) == {
            "ack",
            "in_progress",
            "wait_requester",
            "wait_dependency",
            "resolved",
            "canceled",
        }
        assert "ack" in body["detail"]

    def test_tenant_users_do_not_acknowledge_or_resolve(self, api):
        ticket = create_ticket()
        assert_problem(self.move(api, ticket, ALICE, "ack"), 403)
        assert_problem(self.move(api, ticket, ANNA, "resolved", resolution="done"), 403)

    def test_resolution_and_reason_are_required(self, api):
        ticket = create_ticket(kind="request", category="access")
        body = assert_problem(self.move(api, ticket, OPS, "resolved"), 422)
        assert body["errors"][0]["loc"] == ["body", "resolution"]
        assert_problem(self.move(api, ticket, ALICE, "canceled"), 422)
        assert api("GET", f"/tickets/{ticket['id']}", caller=ALICE).body["state"] == "new"

    def test_tenant_cancels_its_request_and_canceled_is_terminal(self, api):
        ticket = create_ticket(title="Add a Kafka connector", category="new_connector")
        canceled = self.move(api, ticket, ALICE, "canceled", reason="Not needed any more")
        assert canceled.status == 200 and canceled.body["canceled_at"]
        body = assert_problem(self.move(api, ticket, OPS, "in_progress", reason="oops"), 409)
        assert body["allowed_transitions"] == []

    def test_tenant_cannot_cancel_an_incident(self, api):
        ticket = create_ticket()  # pipeline_failure: an incident
        assert_problem(self.move(api, ticket, ALICE, "canceled", reason="noise"), 403)
        assert self.move(api, ticket, OPS, "canceled", reason="duplicate alert").status == 200

    def test_reopen_needs_a_reason(self, api):
        ticket = create_ticket()
        self.move(api, ticket, OPS, "resolved", resolution="fixed")
        assert_problem(self.move(api, ticket, ALICE, "in_progress"), 422)

    def test_unknown_state_is_422_and_other_tenant_404(self, api):
        ticket = create_ticket()
        assert_problem(self.move(api, ticket, OPS, "done"), 422)
        assert_problem(self.move(api, ticket, GREG, "canceled", reason="x"), 404)

    def test_if_match_on_transition(self, api):
        ticket = create_ticket()
        result = api(
            "POST",
            f"/tickets/{ticket['id']}/transitions",
            caller=OPS,
            body={"to": "ack"},
            headers={"If-Match": '"7"'},
        )
        assert_problem(result, 412)


class TestComments:
    def test_public_and_internal_comments(self, api):
        ticket = create_ticket()
        public = api(
            "POST", f"/tickets/{ticket['id']}/comments", caller=ALICE, body={"body": "Still failing"}
        )
        assert public.status == 201 and public.body["visibility"] == "public"
        internal = api(
            "POST",
            f"/tickets/{ticket['id']}/comments",
            caller=OPS,
            body={"body": "Root cause: acme's bad config", "visibility": "internal"},
        )
        assert internal.status == 201
        tenant_view = api("GET", f"/tickets/{ticket['id']}/comments", caller=ALICE).body["items"]
        assert [c["body"] for c in tenant_view] == ["Still failing"]
        platform_view = api("GET", f"/tickets/{ticket['id']}/comments", caller=OPS).body["items"]
        assert [c["visibility"] for c in platform_view] == ["public", "internal"]

    def test_tenant_cannot_write_internal_comments(self, api):
        ticket = create_ticket()
        result = api(
            "POST",
            f"/tickets/{ticket['id']}/comments",
            caller=ALICE,
            body={"body": "x", "visibility": "internal"},
        )
        assert_problem(result, 403)
        assert api("GET", f"/tickets/{ticket['id']}/comments", caller=OPS).body["items"] == []

    def test_empty_comment_is_422_and_other_tenant_404(self, api):
        ticket = create_ticket()
        assert_problem(
            api("POST", f"/tickets/{ticket['id']}/comments", caller=ALICE, body={"body": "  "}), 422
        )
        assert_problem(
            api("POST", f"/tickets/{ticket['id']}/comments", caller=GREG, body={"body": "hi"}), 404
        )
        assert_problem(api("GET", f"/tickets/{ticket['id']}/comments", caller=GREG), 404)

    def test_first_public_platform_comment_is_the_first_response(self, api):
        ticket = create_ticket()
        api(
            "POST",
            f"/tickets/{ticket['id']}/comments",
            caller=OPS,
            body={"body": "note", "visibility": "internal"},
        )
        assert api("GET", f"/tickets/{ticket['id']}", caller=OPS).body["first_response_at"] is None
        api("POST", f"/tickets/{ticket['id']}/comments", caller=OPS, body={"body": "Looking into it"})
        after = api("GET", f"/tickets/{ticket['id']}", caller=OPS).body
        assert after["first_response_at"] is not None
        assert after["version"] == 1  # comments do not invalidate an If-Match

    def test_comment_pages(self, api):
        ticket = create_ticket()
        for n in range(5):
            api("POST", f"/tickets/{ticket['id']}/comments", caller=ALICE, body={"body": f"c{n}"})
        first = api("GET", f"/tickets/{ticket['id']}/comments", caller=ALICE, query={"limit": "3"}).body
        second = api(
            "GET",
            f"/tickets/{ticket['id']}/comments",
            caller=ALICE,
            query={"limit": "3", "cursor": first["next_cursor"]},
        ).body
        assert [c["body"] for c in first["items"] + second["items"]] == [f"c{n}" for n in range(5)]
        assert second["next_cursor"] is None


class TestAuditTrail:
    def test_events_record_every_change(self, api):
        ticket = create_ticket()
        api("PATCH", f"/tickets/{ticket['id']}", caller=OPS, body={"priority": "critical"})
        api("POST", f"/tickets/{ticket['id']}/transitions", caller=OPS, body={"to": "ack"})
        api(
            "POST",
            f"/tickets/{ticket['id']}/comments",
            caller=OPS,
            body={"body": "x", "visibility": "internal"},
        )
        api("POST", f"/tickets/{ticket['id']}/comments", caller=ALICE, body={"body": "hello"})
        platform = api("GET", f"/tickets/{ticket['id']}/events", caller=OPS).body["items"]
        # Each change's SLA effect follows it, by the same actor (the high policy applied, the
        # critical one selected by the new priority, the first response met by the ack).
        assert [(e["seq"], e["type"], e["actor"]) for e in platform] == [
            (1, "ticket.created", "alice"),
            (2, "sla.applied", "alice"),
            (3, "ticket.updated", "olga"),
            (4, "sla.retargeted", "olga"),
            (5, "ticket.state_changed", "olga"),
            (6, "sla.met", "olga"),
            (7, "comment.added", "olga"),
            (8, "comment.added", "alice"),
        ]
        assert platform[2]["changes"] == {"priority": {"old": "high", "new": "critical"}}
        assert platform[4]["changes"]["state"] == {"old": "new", "new": "ack"}
        assert all(e["at"] and len(e["hash"]) == 64 for e in platform)
        tenant = api("GET", f"/tickets/{ticket['id']}/events", caller=ALICE).body["items"]
        # The internal comment's event is hidden, and leaves no gap in the tenant's numbering.
        assert [e["seq"] for e in tenant] == [1, 2, 3, 4, 5, 6, 7]

    def test_other_tenant_gets_404(self, api):
        ticket = create_ticket()
        assert_problem(api("GET", f"/tickets/{ticket['id']}/events", caller=GREG), 404)


class TestSearch:
    @pytest.fixture
    def tickets(self, api):
        made = {
            "pipe": create_ticket(ALICE, title="Orders pipeline failing every night", priority="high"),
            "fresh": create_ticket(
                ALICE,
                title="Customer table is stale",
                category="data_freshness",
                priority="low",
                tags=["billing"],
            ),
            "quota": create_ticket(
                ANNA, title="Raise storage quota", category="quota", description="pipelines need room"
            ),
            "other": create_ticket(GREG, title="Globex pipeline failed"),
            "internal": create_ticket(OPS, title="Platform pipeline failing", category="health"),
        }
        return made

    def ids(self, result):
        assert result.status == 200, result.body
        return {t["id"] for t in result.body["items"]}

    def test_full_text_with_stemming_scoped_to_the_tenant(self, api, tickets):
        found = self.ids(api("GET", "/tickets", caller=ALICE, query={"q": "fail pipelines"}))
        assert found == {tickets["pipe"]["id"]}
        everywhere = self.ids(api("GET", "/tickets", caller=OPS, query={"q": "pipeline"}))
        assert {
            tickets["pipe"]["id"],
            tickets["other"]["id"],
            tickets["internal"]["id"],
            tickets["quota"]["id"],
        } == everywhere

    def test_filters(self, api, tickets):
        assert self.ids(api("GET", "/tickets", caller=ALICE, query={"priority": "low"})) == {
            tickets["fresh"]["id"]
        }
        assert self.ids(api("GET", "/tickets", caller=ALICE, query={"tag": "billing"})) == {
            tickets["fresh"]["id"]
        }
        assert self.ids(api("GET", "/tickets", caller=ALICE, query={"kind": "request"})) == {
            tickets["quota"]["id"]
        }
        both = self.ids(api("GET", "/tickets", caller=ALICE, query={"category": "quota,data_freshness"}))
        assert both == {tickets["quota"]["id"], tickets["fresh"]["id"]}
        assert self.ids(api("GET", "/tickets", caller=OPS, query={"tenant_id": "globex"})) == {
            tickets["other"]["id"]
        }
        assert self.ids(api("GET", "/tickets", caller=ALICE, query={"state": "closed"})) == set()

    def test_tenant_cannot_filter_by_another_tenant(self, api, tickets):
        assert_problem(api("GET", "/tickets", caller=ALICE, query={"tenant_id": "globex"}), 403)
        own = self.ids(api("GET", "/tickets", caller=ALICE, query={"tenant_id": "acme"}))
        assert own == {tickets["pipe"]["id"], tickets["fresh"]["id"], tickets["quota"]["id"]}

    def test_keyset_pages_newest_first(self, api, tickets):
        seen, cursor = [], None
        while True:
            query = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
            page = api("GET", "/tickets", caller=OPS, query=query).body
            seen += [t["id"] for t in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == sorted(seen, reverse=True) and len(seen) == 5

    def test_bad_parameters_are_400(self, api, tickets):
        assert_problem(api("GET", "/tickets", caller=ALICE, query={"limit": "500"}), 400)
        assert_problem(api("GET", "/tickets", caller=ALICE, query={"state": "sleeping"}), 400)
        assert_problem(api("GET", "/tickets", caller=ALICE, query={"cursor": "garbage!"}), 400)
        page = api("GET", "/tickets", caller=ALICE, query={"limit": "1"}).body
        other_query = api(
            "GET", "/tickets", caller=ALICE, query={"limit": "1", "q": "x", "cursor": page["next_cursor"]}
        )
        assert_problem(other_query, 400)


class TestOperational:
    def test_healthz(self, api):
        result = api("GET", "/healthz")
        assert result.status == 200 and result.body == {"status": "ok"}

    def test_readyz_checks_the_database(self, api):
        assert api("GET", "/readyz").status == 200

    def test_readyz_is_503_without_a_database(self, api, monkeypatch):
        from shared import db
        from shared.runtime import entrypoints

        db.close_all()
        monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")
        entrypoints.reset()
        assert_problem(api("GET", "/readyz"), 503)

    def test_openapi_document_covers_every_route(self, api):
        from shared.runtime.catalog import ROUTES

        result = api("GET", "/openapi.json", caller=ALICE)
        assert result.status == 200
        doc = result.body
        assert doc["openapi"].startswith("3.1")
        for route in ROUTES:
            operation = doc["paths"][route.path][route.method.lower()]
            assert operation["operationId"] == route.function
        create = doc["paths"]["/tickets"]["post"]
        assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("TicketCreate")
        assert "TicketCreate" in doc["components"]["schemas"]
        assert "422" in create["responses"]


def test_the_stored_chain_verifies_and_detects_tampering(api, database):
    from shared import audit

    ticket = create_ticket(title="Chain ✓ unicode", fields={"run_id": "r-1"})
    api("PATCH", f"/tickets/{ticket['id']}", caller=OPS, body={"priority": "critical", "tags": ["a", "b"]})
    api("POST", f"/tickets/{ticket['id']}/comments", caller=OPS, body={"body": "x", "visibility": "internal"})
    api(
        "POST",
        f"/tickets/{ticket['id']}/transitions",
        caller=OPS,
        body={"to": "resolved", "resolution": "done"},
    )
    query = "SELECT * FROM ticket_event WHERE ticket_id = %s ORDER BY seq"
    with database.admin() as conn:
        rows = conn.execute(query, (ticket["id"],)).fetchall()
        head = conn.execute(
            "SELECT audit_seq, audit_hash FROM ticket WHERE id = %s", (ticket["id"],)
        ).fetchone()
    # created, sla.applied, updated, sla.retargeted, comment, resolved, sla.met (both clocks)
    assert len(rows) == 8 and audit.verify_chain(rows) is None
    assert (head["audit_seq"], head["audit_hash"]) == (8, rows[-1]["hash"])
    assert rows[2]["type"] == "ticket.updated"
    rows[2]["changes"] = {"priority": {"old": "high", "new": "low"}}
    assert audit.verify_chain(rows) == 3


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x"]
)
def test_non_json_bodies_are_415(api, content_type):
    result = api(
        "POST", "/tickets", caller=ALICE, body="title=x&kind=request", headers={"Content-Type": content_type}
    )
    assert_problem(result, 415, "unsupported-media-type")


def test_json_with_charset_is_accepted(api):
    body = json.dumps({"title": "x", "kind": "request"})
    headers = {"Content-Type": "application/json; charset=utf-8"}
    assert api("POST", "/tickets", caller=ALICE, body=body, headers=headers).status == 201


def test_closed_and_canceled_tickets_refuse_changes_saying_what_to_do(api):
    canceled = create_ticket(title="Access for the new analyst", category="access")
    api(
        "POST",
        f"/tickets/{canceled['id']}/transitions",
        caller=ALICE,
        body={"to": "canceled", "reason": "dup"},
    )
    refused = api("PATCH", f"/tickets/{canceled['id']}", caller=OPS, body={"priority": "low"})
    assert refused.status == 409 and refused.body["detail"].endswith("it is final.")
    assert refused.body["current_state"] == "canceled"

    closed = create_ticket()
    for step in ({"to": "ack"}, {"to": "resolved", "resolution": "fixed"}, {"to": "closed"}):
        assert api("POST", f"/tickets/{closed['id']}/transitions", caller=OPS, body=step).status == 200
    refused = api("PATCH", f"/tickets/{closed['id']}", caller=OPS, body={"priority": "low"})
    assert refused.status == 409 and refused.body["detail"].endswith("reopen it first.")
