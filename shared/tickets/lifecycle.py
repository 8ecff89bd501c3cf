"""The ticket lifecycle: one table of transitions, each gated by a policy.

A policy says who may take the transition and what it needs (a reason, a resolution). The
table is the only place that knows which moves exist; the service asks it and obeys.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.auth import PLATFORM_ROLES, TENANT_ROLES, Principal, Role
from shared.kernel.errors import Forbidden, InvalidTransition, ValidationFailed
from shared.tickets.models import Kind, State

_ALL = PLATFORM_ROLES | TENANT_ROLES


@dataclass(frozen=True, slots=True)
class Policy:
    roles: frozenset[Role]
    needs_reason: bool = False
    needs_resolution: bool = False
    requests_only_for_tenants: bool = False  # tenant roles may take it only on requests
    name: str = ""


WORK = Policy(roles=PLATFORM_ROLES, name="work")
RESOLVE = Policy(roles=PLATFORM_ROLES, needs_resolution=True, name="resolve")
# Tenants may withdraw their own requests; incidents are the platform's to cancel.
CANCEL = Policy(roles=_ALL, needs_reason=True, requests_only_for_tenants=True, name="cancel")
# A requester may confirm a resolution (close) or dispute it (reopen, with a reason).
CLOSE = Policy(roles=_ALL, name="close")
REOPEN = Policy(roles=_ALL, needs_reason=True, name="reopen")

S = State
TRANSITIONS: dict[State, dict[State, Policy]] = {
    S.NEW: {
        S.ACK: WORK,
        S.IN_PROGRESS: WORK,
        S.WAIT_REQUESTER: WORK,
        S.WAIT_DEPENDENCY: WORK,
        S.RESOLVED: RESOLVE,
        S.CANCELED: CANCEL,
    },
    S.ACK: {
        S.IN_PROGRESS: WORK,
        S.WAIT_REQUESTER: WORK,
        S.WAIT_DEPENDENCY: WORK,
        S.RESOLVED: RESOLVE,
        S.CANCELED: CANCEL,
    },
    S.IN_PROGRESS: {
        S.WAIT_REQUESTER: WORK,
        S.WAIT_DEPENDENCY: WORK,
        S.RESOLVED: RESOLVE,
        S.CANCELED: CANCEL,
    },
    S.WAIT_REQUESTER: {
        S.IN_PROGRESS: WORK,
        S.RESOLVED: RESOLVE,
        S.CANCELED: CANCEL,
    },
    S.WAIT_DEPENDENCY: {
        S.IN_PROGRESS: WORK,
        S.RESOLVED: RESOLVE,
        S.CANCELED: CANCEL,
    },
    S.RESOLVED: {
        S.CLOSED: CLOSE,
        S.IN_PROGRESS: REOPEN,
    },
    S.CLOSED: {
        S.IN_PROGRESS: REOPEN,
    },
    S.CANCELED: {},  # terminal
}


def allowed_targets(current: State) -> list[State]:
    return list(TRANSITIONS[current])


def check(
    principal: Principal,
    *,
    current: State,
    target: State,
    kind: Kind,
    reason: str | None,
    resolution: str | None,
) -> Policy:
    """The policy for ``current → target`` if ``principal`` may take it with what it gave.

    Raises InvalidTransition (409, naming the allowed targets), Forbidden (403) or
    ValidationFailed (422, naming what is missing).
    """
    policy = TRANSITIONS[current].get(target)
    if policy is None:
        allowed = [s.value for s in allowed_targets(current)]
        detail = f"A ticket in state '{current.value}' cannot move to '{target.value}'. " + (
            f"Allowed: {', '.join(allowed)}." if allowed else f"'{current.value}' is terminal."
        )
        raise InvalidTransition(detail, current_state=current.value, allowed_transitions=allowed)
    if not principal.has_any(policy.roles):
        raise Forbidden(f"Your roles may not move a ticket from '{current.value}' to '{target.value}'.")
    if policy.requests_only_for_tenants and not principal.is_platform and kind is not Kind.REQUEST:
        raise Forbidden("Tenant roles may cancel requests only; incidents are canceled by the platform.")
    if policy.needs_reason and not reason:
        raise ValidationFailed(
            f"Moving from '{current.value}' to '{target.value}' needs a reason.",
            errors=[{"loc": ["body", "reason"], "msg": "required for this transition"}],
        )
    if policy.needs_resolution and not resolution:
        raise ValidationFailed(
            "Resolving a ticket needs a resolution.",
            errors=[{"loc": ["body", "resolution"], "msg": "required for this transition"}],
        )
    return policy


def is_open(state: State) -> bool:
    return state not in (State.RESOLVED, State.CLOSED, State.CANCELED)
