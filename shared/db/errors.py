"""The one place where psycopg errors become domain errors.

Integrity errors are translated by the *constraint's name* first: a package that owns a
constraint says what breaking it means (``on_violation("ticket_open_dedup_idx", ...)``), so a
later dedup index or unique subscription can mean "already exists" rather than a generic 409.
Anything unnamed falls back to a translation by class. The constraint's name is logged, never
sent to the client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from psycopg import errors as pg_errors

from shared.kernel.errors import Conflict, DomainError, ServiceUnavailable, ValidationFailed
from shared.observability import logger

Translation = Callable[[psycopg.Error], DomainError]
_BY_CONSTRAINT: dict[str, Translation] = {}


def on_violation(constraint: str, translation: Translation) -> None:
    """Say what breaking ``constraint`` (a constraint or unique index name) means."""
    _BY_CONSTRAINT[constraint] = translation


def _constraint(exc: psycopg.Error) -> str | None:
    return getattr(getattr(exc, "diag", None), "constraint_name", None)


@contextmanager
def translate_errors() -> Iterator[None]:
    try:
        yield
    except DomainError:
        raise
    except psycopg.IntegrityError as exc:
        constraint = _constraint(exc)
        translation = _BY_CONSTRAINT.get(constraint or "")
        if translation is not None:
            raise translation(exc) from exc
        logger.info("constraint violated", extra={"constraint": constraint, "sqlstate": exc.sqlstate})
        if isinstance(exc, pg_errors.UniqueViolation):
            raise Conflict("That would duplicate an existing record.") from exc
        raise ValidationFailed("The request breaks a data constraint.") from exc
    except (pg_errors.SerializationFailure, pg_errors.DeadlockDetected, pg_errors.LockNotAvailable) as exc:
        raise Conflict("A concurrent change got there first; retry the request.") from exc
    except (pg_errors.StringDataRightTruncation, pg_errors.InvalidTextRepresentation) as exc:
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
