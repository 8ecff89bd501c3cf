"""PostgreSQL: connections, scoped transactions, error translation (``connection``), the
migration runner (``migrate``) and readiness (``health``)."""

from shared.db import connection as connection_module
from shared.db.connection import (
    SCOPE,
    Connection,
    close_all,
    connection,
    conninfo,
    jsonb,
    secret_conninfo,
    set_scope,
    transaction,
    translate_errors,
)

__all__ = [
    "SCOPE",
    "Connection",
    "close_all",
    "connection",
    "connection_module",
    "conninfo",
    "jsonb",
    "secret_conninfo",
    "set_scope",
    "transaction",
    "translate_errors",
]
