"""Who is calling: the principal built from the authorizer's claims, and what its roles allow."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from shared.errors import Forbidden, Unauthorized


class Role(StrEnum):
    PLATFORM_ADMIN = "platform_admin"
    PLATFORM_OPERATOR = "platform_operator"
    TENANT_ADMIN = "tenant_admin"
    TENANT_USER = "tenant_user"
    SERVICE = "service"


PLATFORM_ROLES = frozenset({Role.PLATFORM_ADMIN, Role.PLATFORM_OPERATOR, Role.SERVICE})
TENANT_ROLES = frozenset({Role.TENANT_ADMIN, Role.TENANT_USER})


def parse_roles(raw: str | Iterable[str] | None) -> frozenset[Role]:
    """Roles from a claim: a list, or a comma/space separated string. Unknown roles are ignored."""
    if raw is None:
        return frozenset()
    items = raw.replace(",", " ").split() if isinstance(raw, str) else [str(r) for r in raw]
    known = {r.value for r in Role}
    return frozenset(Role(r) for r in items if r in known)


@dataclass(frozen=True, slots=True)
class Principal:
    sub: str
    tenant: str | None
    roles: frozenset[Role]

    @property
    def is_platform(self) -> bool:
        return bool(self.roles & PLATFORM_ROLES)

    @property
    def scope_key(self) -> str:
        """Identifies the caller for per-principal state (idempotency keys)."""
        return f"{self.tenant or '*'}:{self.sub}"

    def has_any(self, roles: Iterable[Role]) -> bool:
        return bool(self.roles & frozenset(roles))

    def require_platform(self, action: str) -> None:
        if not self.is_platform:
            raise Forbidden(f"Only platform roles may {action}.")

    @classmethod
    def system(cls, name: str = "ticketing") -> Principal:
        """The service itself (relays, workers): platform scope."""
        return cls(sub=f"system:{name}", tenant=None, roles=frozenset({Role.SERVICE}))

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Principal:
        """Validate claims (from a verified JWT or the authorizer context) into a principal.

        A principal needs a subject and at least one known role. Tenant roles need a tenant,
        and a principal that holds only tenant roles is always confined to it; platform roles
        come without one (a token with both is refused).
        """
        sub = str(claims.get("sub") or claims.get("principalId") or "").strip()
        if not sub:
            raise Unauthorized("The token has no subject.")
        roles = parse_roles(claims.get("roles"))
        if not roles:
            raise Forbidden("The token carries no known role.")
        tenant_raw = claims.get("tenant")
        tenant = str(tenant_raw).strip() if tenant_raw not in (None, "") else None
        if not (roles & PLATFORM_ROLES) and tenant is None:
            raise Forbidden("Tenant roles need a tenant claim.")
        if roles & PLATFORM_ROLES and tenant is not None:
            # Platform roles see every tenant; a tenant claim beside them is a misissued token,
            # and neither reading of it (platform-wide, or confined) would be safe to guess.
            raise Forbidden("Platform roles carry no tenant claim; this token has both.")
        return cls(sub=sub, tenant=tenant, roles=roles)
