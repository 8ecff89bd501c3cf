"""``shared.db.transaction``: pipelined statements, errors that surface late, and the switch."""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from psycopg import pq

from shared import db
from shared.auth import Principal, Role
from shared.kernel.errors import Conflict
from shared.runtime import entrypoints
from tests.integration.conftest import ALICE, create_ticket

ACME = Principal(sub="alice", tenant="acme", roles=frozenset({Role.TENANT_USER}))


def count_tickets(database) -> int:
    with database.admin() as conn:
        return conn.execute("SELECT count(*) AS n FROM ticket").fetchone()["n"]


@contextmanager
def round_trips(conn: db.Connection) -> Iterator[list[int]]:
    """Counts the client's round trips on ``conn`` from libpq's protocol trace: each run of
    messages the client sent that is followed by the server's answer is one wait."""
    counted: list[int] = []
    with tempfile.TemporaryFile("w+") as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            yield counted
        finally:
            conn.pgconn.untrace()
        trace.seek(0)
        senders = [line.split("\t", 1)[0] for line in trace if line.strip()]
    counted.append(sum(1 for a, b in itertools.pairwise(senders) if a == "F" and b == "B"))


INSERT = (
    "INSERT INTO ticket (id, tenant_id, visibility, kind, category, priority, state, title,"
    " requester, source, audit_seq, audit_hash, created_at, updated_at, first_seen_at, last_seen_at)"
    " VALUES ({id}, 'acme', 'tenant', 'incident', 'health', 'low', 'new', 'a title', 'alice', 'api',"
    " 0, '', now(), now(), now(), now())"
)


def check_a_late_error_rolls_back_everything(database, ticket: dict) -> None:
    before = count_tickets(database)
    with pytest.raises(Conflict), db.transaction(ACME) as conn:
        conn.execute(INSERT.format(id="gen_random_uuid()"))
        # Never read: pipelined, its duplicate key error surfaces only at COMMIT.
        conn.execute(INSERT.format(id="%s"), (ticket["id"],))
    assert count_tickets(database) == before  # the first insert went too
    with db.transaction(ACME) as conn:  # and the connection is usable again
        assert conn.execute("SELECT count(*) AS n FROM ticket").fetchone()["n"] == before


def test_an_error_nobody_read_still_rolls_back_the_whole_transaction(api, database):
    check_a_late_error_rolls_back_everything(database, create_ticket())


def test_scope_and_first_query_share_a_round_trip(api, database):
    create_ticket()
    conn = db.connection()
    with round_trips(conn) as trips, db.transaction(ACME) as tx:
        rows = tx.execute("SELECT title FROM ticket").fetchall()
        tx.execute("SELECT set_config('app.note', 'x', true)")
    assert len(rows) == 1
    # BEGIN + scope + SELECT, then the unread statement + COMMIT: two round trips, not five.
    assert trips == [2]


def test_with_pipelining_off_the_same_requests_work(api, database, monkeypatch):
    monkeypatch.setenv("DB_PIPELINE", "off")
    entrypoints.reset()
    ticket = create_ticket()  # the handler's first invocation reads DB_PIPELINE and configures the database
    assert db.configured().pipeline is False
    assert api("GET", f"/tickets/{ticket['id']}", caller=ALICE).status == 200
    with round_trips(db.connection()) as trips, db.transaction(ACME) as tx:
        tx.execute("SELECT title FROM ticket").fetchall()
    assert trips == [4]  # BEGIN, scope, SELECT, COMMIT
    check_a_late_error_rolls_back_everything(database, ticket)


def test_a_savepoint_after_a_read_stays_inside_the_transaction(api, database):
    """Issue 9 found: psycopg's own transaction() took a savepoint right after a fetched result
    (pipeline mode reads "idle" then) for a new transaction, and COMMITted ours, scope and all."""
    ticket = create_ticket()
    with pytest.raises(Conflict), db.transaction(ACME) as uow:
        assert uow.execute("SELECT count(*) AS n FROM ticket").fetchone()["n"] == 1  # read: "idle"
        with uow.savepoint():
            uow.execute(INSERT.format(id="gen_random_uuid()"))
        # Still our transaction, with our scope: the tenant's row is visible, the insert counted.
        assert uow.execute("SELECT current_setting('app.tenant_id') AS t").fetchone()["t"] == "acme"
        assert uow.execute("SELECT count(*) AS n FROM ticket").fetchone()["n"] == 2
        uow.execute(INSERT.format(id="%s"), (ticket["id"],))  # fails at COMMIT: everything rolls back
    assert count_tickets(database) == 1


def test_an_error_inside_a_savepoint_rolls_back_to_it_and_the_transaction_goes_on(api, database):
    ticket = create_ticket()
    with db.transaction(ACME) as uow:
        uow.execute("SELECT 1").fetchone()
        with pytest.raises(Conflict), uow.savepoint():  # translated, as the transaction's own errors
            uow.execute(INSERT.format(id="%s"), (ticket["id"],))  # a duplicate key, never read
        uow.execute(INSERT.format(id="gen_random_uuid()"))
        assert uow.execute("SELECT current_setting('app.tenant_id') AS t").fetchone()["t"] == "acme"
    assert count_tickets(database) == 2
