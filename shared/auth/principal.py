"""Who is calling: the principal built from the authorizer's claims, and what its roles allow.

Claims are validated where they enter (the authorizer, and again in every route handler that
reads ``requestContext.authorizer``): a subject is opaque but bounded, a tenant id follows one
documented pattern (``TENANT_ID_PATTERN``), roles are a list of strings or one string, and the
``system:`` subject namespace belongs to the service itself (``Principal.system``), never to a
token.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any

from shared.kernel.errors import Forbidden, Unauthorized


class Role(StrEnum):
    PLATFORM_ADMIN = "platform_admin"
    PLATFORM_OPERATOR = "platform_operator"
    TENANT_ADMIN = "tenant_admin"
    TENANT_USER = "tenant_user"
    SERVICE = "service"


PLATFORM_ROLES = frozenset({Role.PLATFORM_ADMIN, Role.PLATFORM_OPERATOR, Role.SERVICE})
TENANT_ROLES = frozenset({Role.TENANT_ADMIN, Role.TENANT_USER})

# A tenant id: lowercase letters, digits and "-_.", starting with a letter or digit, at most 63
# characters. The same pattern is enforced in tokens (403), in request bodies and queries (422 /
# 400) and by the database (migration 0004).
TENANT_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"
_TENANT_ID = re.compile(TENANT_ID_PATTERN)
# Subjects are opaque (the issuer's user or client id) but bounded, without control characters.
SUBJECT_MAX_LENGTH = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Subjects of the service's own principals; a token may never carry one.
SYSTEM_PREFIX = "system:"


@lru_cache(maxsize=1024)
def _scope_key(tenant: str | None, sub: str, is_platform: bool) -> str:
    canonical = json.dumps([tenant, sub, is_platform], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def scope_key(tenant: str | None, sub: str, is_platform: bool) -> str:
    """The scope key of the principal with these claims (``Principal.scope_key``), for state kept
    per person that the service reads on their behalf (notification preferences)."""
    return _scope_key(tenant, sub, is_platform)


def is_tenant_id(value: object) -> bool:
    return isinstance(value, str) and _TENANT_ID.fullmatch(value) is not None


def parse_roles(raw: object) -> frozenset[Role]:
    """Roles from a claim: a list of strings, or a comma/space separated string. Unknown roles
    are ignored; a claim of any other type (a number, a boolean, an object) is refused."""
    if raw is None:
        return frozenset()
    if isinstance(raw, str):
        items = raw.replace(",", " ").split()
    elif isinstance(raw, list | tuple | set | frozenset) and all(isinstance(r, str) for r in raw):
        items = list(raw)
    else:
        raise Forbidden("The token's roles claim must be a list of strings or one string.")
    known = {r.value for r in Role}
    return frozenset(Role(r) for r in items if r in known)


@dataclass(frozen=True, slots=True)
class Principal:
    sub: str
    tenant: str | None
    roles: frozenset[Role]
    # Only ``Principal.system`` sets this: the service's own scope in PostgreSQL (app.system),
    # which the outbox and the idempotency purge trust. Nothing read from a token can.
    is_system: bool = field(default=False, compare=True)

    @property
    def is_platform(self) -> bool:
        return bool(self.roles & PLATFORM_ROLES)

    @property
    def scope_key(self) -> str:
        """Identifies the caller for per-principal state (idempotency keys): a digest of a
        canonical encoding of (tenant or null, subject, platform flag), so that no two
        principals can share one, whatever characters their claims hold."""
        return _scope_key(self.tenant, self.sub, self.is_platform)

    def has_any(self, roles: Iterable[Role]) -> bool:
        return bool(self.roles & frozenset(roles))

    def require_any(self, roles: frozenset[Role], action: str) -> None:
        """Forbidden unless the principal holds one of ``roles`` (naming them)."""
        if not self.has_any(roles):
            allowed = ", ".join(sorted(role.value for role in roles))
            raise Forbidden(f"Only {allowed} may {action}.")

    def require_platform(self, action: str) -> None:
        if not self.is_platform:
            raise Forbidden(f"Only platform roles may {action}.")

    @classmethod
    def system(cls, name: str = "ticketing") -> Principal:
        """The service itself (relays, workers): platform scope, and the system scope."""
        return cls(sub=f"{SYSTEM_PREFIX}{name}", tenant=None, roles=frozenset({Role.SERVICE}), is_system=True)

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Principal:
        """Validate claims (from a verified JWT or the authorizer context) into a principal.

        A principal needs a subject and at least one known role. Tenant roles need a tenant,
        and a principal that holds only tenant roles is always confined to it; platform roles
        come without one (a token with both is refused). Claims of the wrong type or shape are
        refused with Forbidden (403), a missing subject with Unauthorized (401).
        """
        raw_sub = claims.get("sub") or claims.get("principalId")
        if raw_sub is not None and not isinstance(raw_sub, str):
            raise Forbidden("The token's subject must be a string.")
        sub = (raw_sub or "").strip()
        if not sub:
            raise Unauthorized("The token has no subject.")
        if len(sub) > SUBJECT_MAX_LENGTH or _CONTROL.search(sub):
            raise Forbidden(
                f"The token's subject must be at most {SUBJECT_MAX_LENGTH} characters, without control"
                " characters."
            )
        if sub.startswith(SYSTEM_PREFIX):
            raise Forbidden(f"Subjects beginning with '{SYSTEM_PREFIX}' are reserved for the service itself.")
        roles = parse_roles(claims.get("roles"))
        if not roles:
            raise Forbidden("The token carries no known role.")
        tenant_raw = claims.get("tenant")
        tenant: str | None = None
        if tenant_raw not in (None, ""):
            if not is_tenant_id(tenant_raw):
                raise Forbidden(
                    "The token's tenant claim is not a valid tenant id (lowercase letters, digits and"
                    " '-_.', starting with a letter or digit, at most 63 characters)."
                )
            tenant = str(tenant_raw)
        if not (roles & PLATFORM_ROLES) and tenant is None:
            raise Forbidden("Tenant roles need a tenant claim.")
        if roles & PLATFORM_ROLES and tenant is not None:
            # Platform roles see every tenant; a tenant claim beside them is a misissued token,
            # and neither reading of it (platform-wide, or confined) would be safe to guess.
            raise Forbidden("Platform roles carry no tenant claim; this token has both.")
        return cls(sub=sub, tenant=tenant, roles=roles)
