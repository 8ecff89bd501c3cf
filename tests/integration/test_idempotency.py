"""Idempotency-Key on POST: replay, mismatch, per-principal scope, concurrent duplicates."""

from __future__ import annotations

import threading

import pytest

from shared import db
from tests.integration.conftest import ALICE, ANNA, OPS, create_ticket

BODY = {"title": "Grant read on sales", "category": "access", "fields": {"access_level": "read"}}


def count_tickets(database) -> int:
    with database.admin() as conn:
        return conn.execute("SELECT count(*) AS n FROM ticket").fetchone()["n"]


def test_same_key_same_body_returns_the_stored_response(api, database):
    first = api("POST", "/tickets", caller=ALICE, body=BODY, headers={"Idempotency-Key": "k-1"})
    again = api("POST", "/tickets", caller=ALICE, body=BODY, headers={"Idempotency-Key": "k-1"})
    assert first.status == again.status == 201
    assert again.body == first.body
    assert again.raw["body"] == first.raw["body"]  # the same bytes, not only the same JSON
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count_tickets(database) == 1


def test_key_order_in_the_body_does_not_matter(api, database):
    api("POST", "/tickets", caller=ALICE, body=BODY, headers={"Idempotency-Key": "k-2"})
    reordered = dict(reversed(list(BODY.items())))
    assert (
        api("POST", "/tickets", caller=ALICE, body=reordered, headers={"Idempotency-Key": "k-2"}).status
        == 201
    )
    assert count_tickets(database) == 1


def test_same_key_other_body_is_422(api, database):
    api("POST", "/tickets", caller=ALICE, body=BODY, headers={"Idempotency-Key": "k-3"})
    other = api(
        "POST", "/tickets", caller=ALICE, body={**BODY, "title": "Other"}, headers={"Idempotency-Key": "k-3"}
    )
    assert other.status == 422 and other.content_type == "application/problem+json"
    assert other.body["type"].endswith("idempotency-key-reused")
    assert count_tickets(database) == 1


def test_keys_are_scoped_per_principal(api, database):
    a = api("POST", "/tickets", caller=ALICE, body=BODY, headers={"Idempotency-Key": "shared"})
    b = api("POST", "/tickets", caller=ANNA, body=BODY, headers={"Idempotency-Key": "shared"})
    assert a.status == b.status == 201 and a.body["id"] != b.body["id"]


def test_failed_requests_do_not_burn_the_key(api, database):
    bad = api(
        "POST",
        "/tickets",
        caller=ALICE,
        body={**BODY, "tenant_id": "globex"},
        headers={"Idempotency-Key": "k-4"},
    )
    assert bad.status == 403
    assert api("POST", "/tickets", caller=ALICE, body=BODY, headers={"Idempotency-Key": "k-4"}).status == 201


def test_idempotent_transitions_and_comments(api, database):
    ticket = create_ticket()
    path = f"/tickets/{ticket['id']}/transitions"
    first = api("POST", path, caller=OPS, body={"to": "ack"}, headers={"Idempotency-Key": "t-1"})
    again = api("POST", path, caller=OPS, body={"to": "ack"}, headers={"Idempotency-Key": "t-1"})
    assert first.status == again.status == 200 and again.body == first.body
    comment_path = f"/tickets/{ticket['id']}/comments"
    for _ in range(2):
        assert (
            api(
                "POST", comment_path, caller=ALICE, body={"body": "hi"}, headers={"Idempotency-Key": "c-1"}
            ).status
            == 201
        )
    assert len(api("GET", comment_path, caller=ALICE).body["items"]) == 1


def test_invalid_key_is_400(api):
    result = api("POST", "/tickets", caller=ALICE, body=BODY, headers={"Idempotency-Key": "x" * 300})
    assert result.status == 400


@pytest.mark.parametrize("workers", [8])
def test_concurrent_duplicates_have_one_effect(api, database, workers):
    barrier = threading.Barrier(workers)
    results = []
    lock = threading.Lock()

    def post() -> None:
        barrier.wait()
        try:
            result = api("POST", "/tickets", caller=ALICE, body=BODY, headers={"Idempotency-Key": "race"})
            with lock:
                results.append(result)
        finally:
            db.close_all()

    threads = [threading.Thread(target=post) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert count_tickets(database) == 1
    created = [r for r in results if r.status == 201]
    assert created and all(r.status in (201, 409) for r in results), [r.status for r in results]
    assert len({r.body["id"] for r in created}) == 1
