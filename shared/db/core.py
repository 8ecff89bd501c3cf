"""Connections, scoped transactions and the unit of work.

Every transaction the service runs is opened here, and every one carries its principal's scope
as transaction-local settings (``app.tenant_id``, ``app.is_platform``, ``app.principal``,
``app.system``, ``app.roles``) that PostgreSQL's row-level security policies read. The
application connects as ``ticketing_app``, a role without BYPASSRLS, so a query that forgets its
WHERE clause still cannot see another tenant's rows. Only ``Principal.system(...)`` gets the system scope.

Where the database is comes from the entrypoint (``configure``): a URL locally and in tests,
the app secret and RDS Proxy in AWS. The secret is read through a callable the entrypoint hands
in (``shared.config.secrets``, with a time-to-live); when the database refuses the password
(after a rotation) it is read again at once and the connection retried, so a warm function
never keeps failing with an old password.

One connection per thread (Lambda runs one thread; the local gateway runs several), kept across
invocations and replaced when it breaks.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from shared.auth import Principal
from shared.config.settings import DatabaseSettings
from shared.db.errors import translate_errors
from shared.kernel.errors import ServiceUnavailable
from shared.observability import logger

Connection = psycopg.Connection[dict[str, Any]]

_local = threading.local()


class _QuietPipelineAbort(logging.Filter):
    """psycopg logs a warning when a pipeline ends after a failed statement already raised in the
    block ("error ignored terminating ... pipeline aborted"). Here that is the normal way a
    rejected write ends (the error itself is handled), so the warning would only be noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("error ignored terminating")


logging.getLogger("psycopg").addFilter(_QuietPipelineAbort())


# ---- where the database is ---------------------------------------------------------------------


class Source(Protocol):
    """Where connections go; ``key`` tells sources apart in the per-thread cache."""

    @property
    def key(self) -> str: ...

    @property
    def pipeline(self) -> bool: ...

    def conninfo(self, *, refresh: bool = False) -> str: ...


@dataclass(frozen=True)
class UrlSource:
    """A libpq URL (locally, in tests)."""

    url: str
    pipeline: bool = True

    @property
    def key(self) -> str:
        return self.url

    def conninfo(self, *, refresh: bool = False) -> str:
        return self.url


SecretReader = Callable[..., Mapping[str, Any]]  # (arn, *, max_age_s, refresh) -> {"username", "password"}


@dataclass(frozen=True)
class SecretSource:
    """The app secret's username and password, and RDS Proxy's endpoint (in AWS)."""

    secret_arn: str
    host: str
    read_secret: SecretReader = field(compare=False)
    port: int = 5432
    dbname: str = "ticketing"
    sslmode: str = "require"
    max_age_s: int = 300
    pipeline: bool = True

    @property
    def key(self) -> str:
        return f"{self.host}:{self.port}/{self.dbname}"

    def conninfo(self, *, refresh: bool = False) -> str:
        secret = self.read_secret(self.secret_arn, max_age_s=self.max_age_s, refresh=refresh)
        return secret_conninfo(
            secret, host=self.host, port=self.port, dbname=self.dbname, sslmode=self.sslmode
        )


def source_from_settings(settings: DatabaseSettings, read_secret: SecretReader) -> Source:
    if settings.database_url:
        return UrlSource(settings.database_url, pipeline=settings.db_pipeline)
    assert settings.db_secret_arn and settings.db_host  # DatabaseSettings validated that
    return SecretSource(
        secret_arn=settings.db_secret_arn,
        host=settings.db_host,
        read_secret=read_secret,
        port=settings.db_port,
        dbname=settings.db_name,
        sslmode=settings.db_sslmode,
        max_age_s=settings.db_secret_max_age_s,
        pipeline=settings.db_pipeline,
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


class _Configured:
    source: Source | None = None


def configure(source: Source | None) -> None:
    """Where this process's transactions go (called by the entrypoints on first use; tests)."""
    _Configured.source = source


def configured() -> Source:
    source = _Configured.source
    if source is None:
        raise ServiceUnavailable("The database is not configured (DATABASE_URL, or DB_SECRET_ARN + DB_HOST).")
    return source


# ---- connections -------------------------------------------------------------------------------

# SQLSTATEs of a refused login: invalid_password, invalid_authorization_specification.
_AUTH_FAILED = frozenset({"28P01", "28000"})


def _refused_login(exc: psycopg.OperationalError) -> bool:
    return exc.sqlstate in _AUTH_FAILED or "password authentication failed" in str(exc)


def _connect(source: Source) -> Connection:
    # No server-side prepared statements: they pin RDS Proxy connections to one client, and a
    # generic plan cached after five runs is the wrong plan for most searches.
    def attempt(refresh: bool) -> Connection:
        return psycopg.connect(
            source.conninfo(refresh=refresh), autocommit=True, row_factory=dict_row, prepare_threshold=None
        )

    try:
        try:
            return attempt(refresh=False)
        except psycopg.OperationalError as exc:
            if not _refused_login(exc):
                raise
            # The secret rotated since it was read: read it again, once, and retry.
            logger.info("database refused the cached password; reading the secret again")
            return attempt(refresh=True)
    except psycopg.OperationalError as exc:
        raise ServiceUnavailable("The database is unreachable.") from exc


def connection() -> Connection:
    """This thread's connection for the configured database, opened on first use."""
    source = configured()
    cache: dict[str, Connection] = getattr(_local, "connections", None) or {}
    _local.connections = cache
    conn = cache.get(source.key)
    if conn is not None and (conn.closed or conn.broken):
        cache.pop(source.key, None)
        conn = None
    if conn is None:
        conn = _connect(source)
        cache[source.key] = conn
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


# ---- scope and the unit of work -----------------------------------------------------------------

SCOPE = (
    "SELECT set_config('app.tenant_id', %s, true), set_config('app.is_platform', %s, true),"
    " set_config('app.principal', %s, true), set_config('app.system', %s, true),"
    " set_config('app.roles', %s, true)"
)


def _scope_params(principal: Principal) -> tuple[str, str, str, str, str]:
    """The values of ``SCOPE`` for the principal (empty tenant = none). ``app.roles`` is the
    principal's roles, comma-separated, for the policies that tell roles apart (``app_has_role``,
    migration 0007: who may read an integration is not who may change it)."""
    return (
        principal.tenant or "",
        "on" if principal.is_platform else "off",
        principal.scope_key,
        "on" if principal.is_system else "off",
        ",".join(sorted(principal.roles)),
    )


def set_scope(conn: Connection, principal: Principal) -> None:
    """Set the principal's scope in the transaction already open on ``conn`` (diagnostics)."""
    conn.execute(SCOPE, _scope_params(principal))


class UnitOfWork:
    """One scoped transaction: its connection, its principal, and what happens once it commits.

    Packages run SQL through it (``execute``), open savepoints (``savepoint``) and register work
    for after the commit (``after_commit``): the outbox uses that to hand the events a change
    recorded to the entrypoint's finish step, which publishes them.
    """

    __slots__ = ("_after_commit", "_savepoints", "conn", "principal")

    def __init__(self, conn: Connection, principal: Principal) -> None:
        self.conn = conn
        self.principal = principal
        self._after_commit: list[Callable[[], None]] = []
        self._savepoints = 0

    def execute(self, query: Any, params: Any = None, *, prepare: bool | None = None) -> psycopg.Cursor[Any]:
        return self.conn.execute(query, params, prepare=prepare)

    def executemany(self, query: Any, params_seq: Any) -> None:
        """One statement for each parameter set, pipelined (one round trip for the lot)."""
        with self.conn.cursor() as cursor:
            cursor.executemany(query, params_seq)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: an error inside rolls back to here (and comes out as a domain
        error, like the transaction's own) and leaves the outer transaction usable.

        Written out in SQL rather than with psycopg's ``transaction()``: that one decides between
        a savepoint and a new transaction from the connection's status, which in pipeline mode
        reads "idle" right after a result was fetched, so it would COMMIT our transaction (and
        its scope) instead. The pipeline is synchronised at the end of the block, so that an
        error of a statement nobody read inside it is caught here, not at COMMIT.
        """
        self._savepoints += 1
        name = sql.Identifier(f"uow_savepoint_{self._savepoints}")
        self.conn.execute(sql.SQL("SAVEPOINT {}").format(name))
        # What the block asked to run after commit goes with its rollback (an outbox message
        # whose row is rolled back must not be published).
        callbacks = len(self._after_commit)
        try:
            with translate_errors():
                yield
                self._sync()
        except BaseException:
            del self._after_commit[callbacks:]
            self._sync(quiet=True)  # an aborted pipeline takes commands again after a sync
            self.conn.execute(sql.SQL("ROLLBACK TO SAVEPOINT {}").format(name))
            self.conn.execute(sql.SQL("RELEASE SAVEPOINT {}").format(name))
            raise
        self.conn.execute(sql.SQL("RELEASE SAVEPOINT {}").format(name))

    def _sync(self, *, quiet: bool = False) -> None:
        if self.conn.pgconn.pipeline_status == psycopg.pq.PipelineStatus.OFF:
            return
        try:
            with self.conn.pipeline() as pipeline:
                pipeline.sync()
        except psycopg.Error:
            if not quiet:
                raise

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._after_commit.append(callback)

    def _committed(self) -> None:
        for callback in self._after_commit:
            callback()
        self._after_commit.clear()


@contextmanager
def transaction(principal: Principal) -> Iterator[UnitOfWork]:
    """A transaction scoped to ``principal``; database errors come out as domain errors.

    The transaction runs in psycopg's pipeline mode: statements go out without waiting for the
    previous one's result, and the client waits only when it reads a result. So BEGIN, the
    scope and the first query share one round trip, and the last writes share one with COMMIT
    (a create is two round trips in all). Errors of statements nobody read surface at the next
    read or at COMMIT, inside this block, and roll the whole transaction back. ``rowcount`` is
    not known until a result is read: count with ``RETURNING`` instead. ``uow.savepoint()``
    blocks inside become savepoints. ``DB_PIPELINE=off`` turns pipelining off (same statements,
    one round trip each). What was registered with ``after_commit`` runs once COMMIT succeeded.
    """
    with translate_errors():
        source = configured()
        conn = _scoped_begin()
        uow = UnitOfWork(conn, principal)
        try:
            with conn.pipeline() if source.pipeline else nullcontext():
                conn.execute("BEGIN")
                conn.execute(SCOPE, _scope_params(principal))
                yield uow
                conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
    uow._committed()


def _rollback(conn: Connection) -> None:
    if conn.closed or conn.broken:
        return
    try:
        conn.execute("ROLLBACK")
    except psycopg.Error:
        conn.close()  # the next transaction opens a fresh connection


IDLE_CHECK_S = 30.0


def _scoped_begin() -> Connection:
    """This thread's connection, pinged first if it sat idle long enough to have been dropped.

    RDS Proxy or a failover may close a kept connection while the function is idle; nothing
    has happened yet at this point, so a dead one is simply replaced.
    """
    conn = connection()
    last_used: dict[int, float] = getattr(_local, "last_used", None) or {}
    _local.last_used = last_used
    now = time.monotonic()
    if now - last_used.get(id(conn), now) > IDLE_CHECK_S:
        try:
            conn.execute("SELECT 1")
        except psycopg.OperationalError:
            conn.close()
            conn = connection()
    last_used[id(conn)] = now
    return conn


def jsonb(value: Any) -> Jsonb:
    return Jsonb(value, dumps=lambda v: json.dumps(v, default=str))
