"""The configuration audit log (``shared.audit.config``, migration 0006): append-only, and scoped
like the entities it records (a tenant admin sees its own tenant's changes only)."""

from __future__ import annotations

import psycopg
import pytest

from shared import db
from shared.audit import config
from shared.auth import Principal, Role
from shared.kernel.errors import ValidationFailed

ADMIN = Principal(sub="pat", tenant=None, roles=frozenset({Role.PLATFORM_ADMIN}))
ACME_ADMIN = Principal(sub="anna", tenant="acme", roles=frozenset({Role.TENANT_ADMIN}))
GLOBEX_ADMIN = Principal(sub="gus", tenant="globex", roles=frozenset({Role.TENANT_ADMIN}))


def test_a_change_is_recorded_with_before_and_after(database) -> None:
    with db.transaction(ADMIN) as uow:
        config.record_change(
            uow,
            actor="pat",
            entity_type="routing_rule",
            entity_id="r1",
            action="create",
            before=None,
            after={"name": "db pages"},
        )
        config.record_change(
            uow,
            actor="pat",
            entity_type="routing_rule",
            entity_id="r1",
            action="update",
            before={"name": "db pages"},
            after={"name": "database pages"},
        )
    with db.transaction(ADMIN) as uow:
        changes = config.history(uow, "routing_rule", "r1")
    assert [(c["action"], c["before"], c["after"]) for c in changes] == [
        ("create", None, {"name": "db pages"}),
        ("update", {"name": "db pages"}, {"name": "database pages"}),
    ]
    assert all(c["actor"] == "pat" and c["at"] is not None for c in changes)


def test_tenants_see_and_write_only_their_own(database) -> None:
    with db.transaction(ACME_ADMIN) as uow:
        config.record_change(
            uow,
            actor="anna",
            tenant_id="acme",
            entity_type="integration",
            entity_id="i1",
            action="create",
            before=None,
            after={"name": "grafana"},
        )
    with db.transaction(GLOBEX_ADMIN) as uow:
        assert config.history(uow, "integration", "i1") == []
    with db.transaction(ACME_ADMIN) as uow:
        assert len(config.history(uow, "integration", "i1")) == 1
    with pytest.raises(ValidationFailed, match="outside your scope"), db.transaction(GLOBEX_ADMIN) as uow:
        config.record_change(
            uow,
            actor="gus",
            tenant_id="acme",
            entity_type="integration",
            entity_id="i2",
            action="create",
            before=None,
            after={},
        )


def test_the_log_is_append_only(database) -> None:
    with db.transaction(ADMIN) as uow:
        config.record_change(
            uow,
            actor="pat",
            entity_type="integration",
            entity_id="i1",
            action="create",
            before=None,
            after={},
        )
    with database.admin() as conn:
        for statement in ("UPDATE config_change SET actor = 'mallory'", "DELETE FROM config_change"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
