"""Connections, transactions and tenant scope.

Every transaction the service runs is opened here, and every one carries its principal's scope
as transaction-local settings (``app.tenant_id``, ``app.is_platform``, ``app.principal``,
``app.system``) that PostgreSQL's row-level security policies read. The application connects
as ``ticketing_app``, a role without BYPASSRLS, so a query that forgets its WHERE clause still
cannot see another tenant's rows.

One connection per thread (Lambda runs one thread; the local gateway runs several), kept across
invocations and replaced when it breaks. psycopg errors become domain errors in one place.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from shared.auth import Principal
from shared.config.settings import Settings, get_settings
from shared.kernel.errors import Conflict, DomainError, ServiceUnavailable, ValidationFailed

Connection = psycopg.Connection[dict[str, Any]]

_local = threading.local()


class _QuietPipelineAbort(logging.Filter):
    """psycopg logs a warning when a pipeline ends after a failed statement already raised in the
    block ("error ignored terminating ... pipeline aborted"). Here that is the normal way a
    rejected write ends (the error itself is handled), so the warning would only be noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("error ignored terminating")


logging.getLogger("psycopg").addFilter(_QuietPipelineAbort())


def conninfo(settings: Settings) -> str:
    """The libpq connection string for the application role."""
    if settings.database_url:
        return settings.database_url
    if not (settings.db_secret_arn and settings.db_host):
        raise ServiceUnavailable("The database is not configured (DATABASE_URL or DB_SECRET_ARN + DB_HOST).")
    from shared.aws import get_secret_json

    return secret_conninfo(
        get_secret_json(settings.db_secret_arn),
        host=settings.db_host,
        port=settings.db_port,
        dbname=settings.db_name,
        sslmode=settings.db_sslmode,
    )


def secret_conninfo(
    secret: Mapping[str, Any],
    *,
    host: str,
    port: int,
    dbname: str,
    sslmode: str,
    application_name: str = "ticketing",
    connect_timeout: int = 5,
) -> str:
    """A libpq connection string from an RDS secret's username and password."""
    return psycopg.conninfo.make_conninfo(
        host=host,
        port=port,
        dbname=dbname,
        user=secret["username"],
        password=secret["password"],
        sslmode=sslmode,
        connect_timeout=connect_timeout,
        application_name=application_name,
    )


def connection() -> Connection:
    """This thread's connection for the configured database, opened on first use."""
    settings = get_settings()
    cache: dict[str, Connection] = getattr(_local, "connections", None) or {}
    _local.connections = cache
    key = settings.database_url or f"{settings.db_host}/{settings.db_name}"
    conn = cache.get(key)
    if conn is not None and (conn.closed or conn.broken):
        cache.pop(key, None)
        conn = None
    if conn is None:
        try:
            # No server-side prepared statements: they pin RDS Proxy connections to one client,
            # and a generic plan cached after five runs is the wrong plan for most searches.
            conn = psycopg.connect(
                conninfo(settings), autocommit=True, row_factory=dict_row, prepare_threshold=None
            )
        except psycopg.OperationalError as exc:
            raise ServiceUnavailable("The database is unreachable.") from exc
        cache[key] = conn
        _opened.add(conn)
    return conn


# Every connection this process opened, whichever thread holds it (for close_all).
_opened: weakref.WeakSet[Connection] = weakref.WeakSet()


def close_all(*, every_thread: bool = False) -> None:
    """Close this thread's connections or, with ``every_thread``, every connection this process
    opened (tests, local stack shutdown: nothing may be using them then). A thread whose
    connection was closed opens a fresh one on its next transaction."""
    mine = list((getattr(_local, "connections", None) or {}).values())
    for conn in list(_opened) if every_thread else mine:
        conn.close()
        _opened.discard(conn)
    _local.connections = {}


SCOPE = (
    "SELECT set_config('app.tenant_id', %s, true), set_config('app.is_platform', %s, true),"
    " set_config('app.principal', %s, true), set_config('app.system', %s, true)"
)


def _scope_params(principal: Principal) -> tuple[str, str, str, str]:
    """The values of ``SCOPE`` for the principal (empty tenant = none)."""
    return (
        principal.tenant or "",
        "on" if principal.is_platform else "off",
        principal.scope_key,
        "on" if principal.is_system else "off",
    )


def set_scope(conn: Connection, principal: Principal) -> None:
    """Set the principal's scope in the transaction already open on ``conn``."""
    conn.execute(SCOPE, _scope_params(principal))


@contextmanager
def transaction(principal: Principal) -> Iterator[Connection]:
    """A transaction scoped to ``principal``; database errors come out as domain errors.

    The transaction runs in psycopg's pipeline mode: statements go out without waiting for the
    previous one's result, and the client waits only when it reads a result. So BEGIN, the
    scope and the first query share one round trip, and the last writes share one with COMMIT
    (a create is two round trips in all). Errors of statements nobody read surface at the next
    read or at COMMIT, inside this block, and roll the whole transaction back. ``rowcount`` is
    not known until a result is read: count with ``RETURNING`` instead. Nested
    ``conn.transaction()`` blocks inside become savepoints. ``DB_PIPELINE=off`` turns pipelining
    off (same statements, one round trip each).
    """
    with translate_errors():
        conn = _scoped_begin(principal)
        pipelined = get_settings().db_pipeline
        try:
            with conn.pipeline() if pipelined else nullcontext():
                conn.execute("BEGIN")
                conn.execute(SCOPE, _scope_params(principal))
                yield conn
                conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise


def _rollback(conn: Connection) -> None:
    if conn.closed or conn.broken:
        return
    try:
        conn.execute("ROLLBACK")
    except psycopg.Error:
        conn.close()  # the next transaction opens a fresh connection


_IDLE_CHECK_S = 30.0


def _scoped_begin(principal: Principal) -> Connection:
    """This thread's connection, pinged first if it sat idle long enough to have been dropped.

    RDS Proxy or a failover may close a kept connection while the function is idle; nothing
    has happened yet at this point, so a dead one is simply replaced.
    """
    conn = connection()
    last_used: dict[int, float] = getattr(_local, "last_used", None) or {}
    _local.last_used = last_used
    now = time.monotonic()
    if now - last_used.get(id(conn), now) > _IDLE_CHECK_S:
        try:
            conn.execute("SELECT 1")
        except psycopg.OperationalError:
            conn.close()
            conn = connection()
    last_used[id(conn)] = now
    return conn


@contextmanager
def translate_errors() -> Iterator[None]:
    """The one place where psycopg errors turn into domain errors."""
    try:
        yield
    except DomainError:
        raise
    except (pg_errors.SerializationFailure, pg_errors.DeadlockDetected, pg_errors.LockNotAvailable) as exc:
        raise Conflict("A concurrent change got there first; retry the request.") from exc
    except pg_errors.UniqueViolation as exc:
        raise Conflict("That would duplicate an existing record.") from exc
    except (
        pg_errors.CheckViolation,
        pg_errors.NotNullViolation,
        pg_errors.StringDataRightTruncation,
        pg_errors.InvalidTextRepresentation,
        pg_errors.ForeignKeyViolation,
    ) as exc:
        raise ValidationFailed("The request breaks a data constraint.") from exc
    except psycopg.DataError as exc:
        # Anything else the database cannot store as given (a NUL in text, a number out of range),
        # also when psycopg refuses it before sending.
        raise ValidationFailed("The request carries a value the database cannot store.") from exc
    except pg_errors.InsufficientPrivilege as exc:
        # Row-level security refused a write: the principal's scope does not cover that row.
        raise ValidationFailed("That record is outside your scope.") from exc
    except (psycopg.OperationalError, pg_errors.QueryCanceled) as exc:
        raise ServiceUnavailable("The database did not answer in time.") from exc


def jsonb(value: Any) -> Jsonb:
    return Jsonb(value, dumps=lambda v: json.dumps(v, default=str))
