"""Who is calling: principals and roles (``principal``); bearer token verification (``tokens``)."""

from shared.auth.principal import (
    PLATFORM_ROLES,
    SYSTEM_PREFIX,
    TENANT_ID_PATTERN,
    TENANT_ROLES,
    Principal,
    Role,
    is_tenant_id,
    parse_roles,
)

__all__ = [
    "PLATFORM_ROLES",
    "SYSTEM_PREFIX",
    "TENANT_ID_PATTERN",
    "TENANT_ROLES",
    "Principal",
    "Role",
    "is_tenant_id",
    "parse_roles",
]
