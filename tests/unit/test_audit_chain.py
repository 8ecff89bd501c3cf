"""The hash chain: deterministic, and any edit, removal or reordering is detected."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

from shared import audit

TICKET = UUID("01935f4e-0000-7000-8000-000000000001")
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def chain(n: int = 4) -> list[dict]:
    rows, prev_seq, prev_hash = [], 0, audit.GENESIS
    for i in range(n):
        event = audit.next_event(
            ticket_id=TICKET,
            prev_seq=prev_seq,
            prev_hash=prev_hash,
            type="ticket.updated",
            actor=f"user{i}",
            at=T0 + timedelta(minutes=i),
            changes={"priority": {"old": "low", "new": "high"}},
            correlation_id="c",
        )
        rows.append(asdict(event))
        prev_seq, prev_hash = event.seq, event.hash
    return rows


def test_an_intact_chain_verifies():
    rows = chain()
    assert [r["seq"] for r in rows] == [1, 2, 3, 4]
    assert rows[0]["prev_hash"] == audit.GENESIS
    assert all(rows[i]["prev_hash"] == rows[i - 1]["hash"] for i in range(1, 4))
    assert audit.verify_chain(rows) is None


def test_hash_is_deterministic_and_timezone_independent():
    a = audit.canonical(
        ticket_id=TICKET,
        seq=1,
        type="t",
        actor="a",
        at=T0,
        changes={"b": 1, "a": 2},
        visibility="public",
        correlation_id=None,
    )
    b = audit.canonical(
        ticket_id=str(TICKET),
        seq=1,
        type="t",
        actor="a",
        at=T0.astimezone(timezone(timedelta(hours=2))),
        changes={"a": 2, "b": 1},
        visibility="public",
        correlation_id=None,
    )
    assert a == b


def test_an_edited_row_breaks_the_chain_at_that_row():
    rows = chain()
    rows[2] = {**rows[2], "actor": "mallory"}
    assert audit.verify_chain(rows) == 3


def test_a_removed_row_is_detected():
    rows = chain()
    del rows[1]
    assert audit.verify_chain(rows) == 3


def test_a_rehashed_row_still_breaks_its_successor():
    rows = chain()
    forged = replace(audit.AuditEvent(**rows[1]), actor="mallory")
    payload = audit.canonical(
        ticket_id=forged.ticket_id,
        seq=forged.seq,
        type=forged.type,
        actor=forged.actor,
        at=forged.at,
        changes=forged.changes,
        visibility=forged.visibility,
        correlation_id=forged.correlation_id,
    )
    rows[1] = {**rows[1], "actor": "mallory", "hash": audit.chain_hash(forged.prev_hash, payload)}
    assert audit.verify_chain(rows) == 3


def test_first_break_says_what_is_wrong():
    assert audit.first_break(chain()) is None
    edited = chain()
    edited[1] = {**edited[1], "actor": "mallory"}
    assert audit.first_break(edited) == (2, "event 2 does not match its hash: its content was changed")
    gap = chain()
    del gap[1]
    assert audit.first_break(gap) == (3, "event 3 follows event 1: the trail has a gap")
    relinked = chain()
    relinked[2] = {**relinked[2], "prev_hash": "f" * 64}
    assert audit.first_break(relinked) == (3, "event 3 does not carry the hash of the event before it")
    assert audit.first_break(chain()[1:]) == (2, "event 2 follows event 0: the trail has a gap")
