"""The lifecycle table and its policies."""

from __future__ import annotations

import pytest

from shared.auth import Principal, Role
from shared.kernel.errors import Forbidden, InvalidTransition, ValidationFailed
from shared.tickets import lifecycle
from shared.tickets.models import Kind, State

OPS = Principal("olga", None, frozenset({Role.PLATFORM_OPERATOR}))
SERVICE = Principal("intake", None, frozenset({Role.SERVICE}))
USER = Principal("alice", "acme", frozenset({Role.TENANT_USER}))
TENANT_ADMIN = Principal("anna", "acme", frozenset({Role.TENANT_ADMIN}))


def move(who, current, target, kind=Kind.INCIDENT, reason=None, resolution=None):
    return lifecycle.check(
        who, current=State(current), target=State(target), kind=kind, reason=reason, resolution=resolution
    )


def test_every_state_has_a_row_and_targets_are_states():
    assert set(lifecycle.TRANSITIONS) == set(State)
    for targets in lifecycle.TRANSITIONS.values():
        assert set(targets) <= set(State)


def test_canceled_is_terminal_and_nothing_returns_to_new():
    assert lifecycle.allowed_targets(State.CANCELED) == []
    assert all(State.NEW not in targets for targets in lifecycle.TRANSITIONS.values())


def test_reopen_paths():
    assert State.IN_PROGRESS in lifecycle.TRANSITIONS[State.CLOSED]
    assert State.IN_PROGRESS in lifecycle.TRANSITIONS[State.RESOLVED]
    assert lifecycle.TRANSITIONS[State.CLOSED][State.IN_PROGRESS].needs_reason


@pytest.mark.parametrize("target", ["ack", "in_progress", "wait_requester", "wait_dependency"])
def test_platform_works_tickets_and_tenants_do_not(target):
    assert move(OPS, "new", target).name == "work"
    assert move(SERVICE, "new", target).name == "work"
    for tenant in (USER, TENANT_ADMIN):
        with pytest.raises(Forbidden):
            move(tenant, "new", target)


def test_invalid_transition_names_the_allowed_ones():
    with pytest.raises(InvalidTransition) as excinfo:
        move(OPS, "new", "closed")
    assert excinfo.value.extensions["allowed_transitions"] == [
        "ack",
        "in_progress",
        "wait_requester",
        "wait_dependency",
        "resolved",
        "canceled",
    ]
    assert excinfo.value.status == 409


def test_resolve_needs_a_resolution_and_platform_role():
    with pytest.raises(ValidationFailed, match="resolution"):
        move(OPS, "in_progress", "resolved")
    assert move(OPS, "in_progress", "resolved", resolution="fixed").needs_resolution
    with pytest.raises(Forbidden):
        move(USER, "in_progress", "resolved", resolution="fixed")


def test_cancel_needs_a_reason_and_tenants_cancel_requests_only():
    with pytest.raises(ValidationFailed, match="reason"):
        move(OPS, "new", "canceled")
    move(USER, "new", "canceled", kind=Kind.REQUEST, reason="not needed")
    with pytest.raises(Forbidden):
        move(USER, "new", "canceled", kind=Kind.INCIDENT, reason="noise")
    move(OPS, "new", "canceled", kind=Kind.INCIDENT, reason="duplicate")


def test_requester_may_close_or_reopen_with_reason():
    move(USER, "resolved", "closed")
    with pytest.raises(ValidationFailed):
        move(USER, "closed", "in_progress")
    move(USER, "closed", "in_progress", reason="broken again")


def test_role_check_comes_after_the_table_check():
    with pytest.raises(InvalidTransition):
        move(USER, "canceled", "in_progress", reason="x")
