"""Request models: what a client may send, and what is refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.auth import Principal, Role, parse_roles
from shared.kernel.errors import Forbidden, Unauthorized
from shared.kernel.ids import parse_ref, uuid7
from shared.tickets.models import Kind, TicketCreate, TicketPatch, TicketQuery, TransitionRequest


def test_kind_is_derived_from_category():
    assert TicketCreate(title="x", category="health").kind is Kind.INCIDENT
    assert TicketCreate(title="x", category="deletion_export").kind is Kind.REQUEST


def test_kind_or_category_is_required_and_must_agree():
    with pytest.raises(ValidationError, match="kind or a category"):
        TicketCreate(title="x")
    with pytest.raises(ValidationError, match="is a incident"):
        TicketCreate(title="x", kind="request", category="health")


def test_titles_are_trimmed_and_bounded():
    assert TicketCreate(title="  Late data  ", kind="incident").title == "Late data"
    for bad in ("", "   ", "x" * 301):
        with pytest.raises(ValidationError):
            TicketCreate(title=bad, kind="incident")


def test_category_fields_are_typed_and_closed():
    ticket = TicketCreate(title="x", category="quota", fields={"requested_limit": 500})
    assert ticket.fields == {"requested_limit": 500.0}
    for not_a_number in ("lots", "500", True):  # JSON types, as the schema says: no lax conversions
        with pytest.raises(ValidationError):
            TicketCreate(title="x", category="quota", fields={"requested_limit": not_a_number})
    with pytest.raises(ValidationError):
        TicketCreate(title="x", category="quota", fields={"color": "red"})
    with pytest.raises(ValidationError):
        TicketCreate(title="x", kind="request", fields={"a": 1})


def test_unknown_fields_and_bad_tags_are_refused():
    with pytest.raises(ValidationError):
        TicketCreate.model_validate({"title": "x", "kind": "incident", "state": "closed"})
    with pytest.raises(ValidationError):
        TicketCreate(title="x", kind="incident", tags=["has space"])
    assert TicketCreate(title="x", kind="incident", tags=["a", "b", "a"]).tags == ["a", "b"]


def test_patch_needs_something_and_cannot_clear_required_fields():
    with pytest.raises(ValidationError):
        TicketPatch()
    with pytest.raises(ValidationError):
        TicketPatch(title=None)
    assert TicketPatch(assignee=None).model_fields_set == {"assignee"}


def test_transition_target_must_be_a_state():
    with pytest.raises(ValidationError):
        TransitionRequest(to="done")


def test_query_limit_is_bounded():
    assert TicketQuery().limit == 50
    with pytest.raises(ValidationError):
        TicketQuery(limit=201)


def test_principal_from_claims():
    p = Principal.from_claims({"sub": "alice", "tenant": "acme", "roles": "tenant_user,tenant_admin"})
    assert p.roles == {Role.TENANT_USER, Role.TENANT_ADMIN} and not p.is_platform
    assert Principal.from_claims({"sub": "olga", "roles": ["platform_operator"]}).is_platform
    with pytest.raises(Forbidden):
        Principal.from_claims({"sub": "bob", "roles": ["tenant_user"]})  # tenant role without tenant
    with pytest.raises(Forbidden):
        Principal.from_claims({"sub": "bob", "tenant": "acme", "roles": ["root"]})
    with pytest.raises(Forbidden, match="Platform roles carry no tenant claim"):
        Principal.from_claims({"sub": "svc", "tenant": "acme", "roles": ["service"]})
    with pytest.raises(Unauthorized):
        Principal.from_claims({"roles": ["platform_admin"]})
    assert parse_roles(None) == frozenset()


def test_ids_are_time_ordered_and_refs_parse():
    ids = [uuid7(now_ms=ms) for ms in (1, 2, 3)]
    assert ids == sorted(ids) and all(i.version == 7 for i in ids)
    assert parse_ref("TCK-42") == 42 and parse_ref("tck-7") == 7
    assert parse_ref(str(ids[0])) == ids[0]
    assert parse_ref("TCK-0") is None and parse_ref("nope") is None
