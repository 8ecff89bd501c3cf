"""PostgreSQL: where it is and scoped transactions (``core``), the translation of its
errors (``errors``), the migration runner (``migrate``) and readiness (``health``)."""

from shared.db.core import (
    SCOPE,
    Connection,
    SecretSource,
    Source,
    UnitOfWork,
    UrlSource,
    close_all,
    configure,
    configured,
    connection,
    jsonb,
    secret_conninfo,
    set_scope,
    source_from_settings,
    transaction,
)
from shared.db.errors import on_violation, translate_errors

__all__ = [
    "SCOPE",
    "Connection",
    "SecretSource",
    "Source",
    "UnitOfWork",
    "UrlSource",
    "close_all",
    "configure",
    "configured",
    "connection",
    "jsonb",
    "on_violation",
    "secret_conninfo",
    "set_scope",
    "source_from_settings",
    "transaction",
    "translate_errors",
]
