"""Errors at the edges of the domain (issue 9 §7): database errors translated by constraint name,
and data the code's own model refuses, which is the service's fault (500), never the client's."""

from __future__ import annotations

import logging

import pytest

from shared import db
from shared.auth import Principal, Role
from shared.kernel.errors import AlreadyExists, Conflict, ValidationFailed
from tests.integration.conftest import ALICE, OPS, create_ticket

PLATFORM = Principal("olga", None, frozenset({Role.PLATFORM_OPERATOR}))
INSERT = (
    "INSERT INTO ticket (id, tenant_id, visibility, kind, priority, state, title, requester, created_at,"
    " updated_at) VALUES (gen_random_uuid(), %s, %s, 'request', 'low', 'new', %s, 'x', now(), now())"
)


@pytest.fixture
def once_per_title(database):
    """A unique index a later feature might add (like intake's one open ticket per fingerprint)."""
    with database.admin() as conn:
        conn.execute("CREATE UNIQUE INDEX ticket_title_once ON ticket (title)")
    db.on_violation("ticket_title_once", lambda exc: AlreadyExists("A ticket with that title exists."))
    yield
    from shared.db import errors

    errors._BY_CONSTRAINT.pop("ticket_title_once", None)


def test_a_named_constraint_means_what_its_owner_says(api, database, once_per_title):
    with db.transaction(PLATFORM) as uow:
        uow.execute(INSERT, ("acme", "tenant", "same title"))
    with pytest.raises(AlreadyExists, match="with that title exists"), db.transaction(PLATFORM) as uow:
        uow.execute(INSERT, ("acme", "tenant", "same title"))
    # Over HTTP, the domain outcome, not a generic duplicate.
    again = api("POST", "/tickets", caller=ALICE, body={"title": "same title", "category": "quota"})
    assert again.status == 409 and again.body["type"].endswith("already-exists")


def test_unnamed_constraints_fall_back_by_class(api, database):
    with database.admin() as conn:
        conn.execute("CREATE UNIQUE INDEX ticket_title_anon ON ticket (title)")
    with db.transaction(PLATFORM) as uow:
        uow.execute(INSERT, ("acme", "tenant", "t"))
    with pytest.raises(Conflict, match="duplicate an existing record"), db.transaction(PLATFORM) as uow:
        uow.execute(INSERT, ("acme", "tenant", "t"))
    with pytest.raises(ValidationFailed, match="data constraint"), db.transaction(PLATFORM) as uow:
        uow.execute(INSERT, ("acme", "tenant", ""))  # ticket_title_check: no translation registered
    with pytest.raises(ValidationFailed, match="platform-only"), db.transaction(PLATFORM) as uow:
        uow.execute(INSERT, (None, "tenant", "no tenant, yet tenant-visible"))  # a registered one


def test_the_tenant_id_format_is_enforced_by_the_database_too(api, database):
    with pytest.raises(ValidationFailed, match="tenant id"), db.transaction(PLATFORM) as uow:
        uow.execute(INSERT, ("Not A Tenant", "tenant", "t"))


def test_a_stored_row_the_model_refuses_is_a_500_with_an_alarmable_log_line(api, database, caplog):
    ticket = create_ticket()
    with database.admin() as conn:  # what a bad migration or a manual fix could leave behind
        conn.execute("ALTER TABLE ticket DROP CONSTRAINT ticket_priority_check")
        conn.execute("UPDATE ticket SET priority = 'urgent' WHERE id = %s", (ticket["id"],))
    caplog.set_level(logging.ERROR)
    result = api("GET", f"/tickets/{ticket['key']}", caller=OPS)
    assert result.status == 500 and result.body["type"].endswith("internal-error")
    assert "urgent" not in result.raw["body"]
    (line,) = [r for r in caplog.records if r.getMessage() == "data does not fit the model"]
    assert line.levelname == "ERROR" and "priority" in str(line.errors)
    assert "urgent" not in caplog.text  # the log names the field, never the value
