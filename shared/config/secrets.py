"""Secrets Manager, read through powertools' parameters utility with a time-to-live.

A secret is cached for ``max_age_s`` (the database secret: 5 minutes), not for the life of the
process: after the 30-day rotation a warm function picks the new password up at the latest when
the cache expires, and at once when the database refuses the old one (``shared.db`` asks for a
fresh read then, ``refresh=True``).
"""

from __future__ import annotations

from typing import Any

DEFAULT_MAX_AGE_S = 300


class SecretError(Exception):
    """The secret cannot be read or is not the JSON object expected."""


def get_secret_json(arn: str, *, max_age_s: int = DEFAULT_MAX_AGE_S, refresh: bool = False) -> dict[str, Any]:
    """The secret's JSON object, from the cache unless it is older than ``max_age_s`` or ``refresh``."""
    from aws_lambda_powertools.utilities import parameters

    try:
        value = parameters.get_secret(arn, transform="json", max_age=max_age_s, force_fetch=refresh)
    except parameters.exceptions.GetParameterError as exc:
        raise SecretError(f"The secret {arn} cannot be read: {exc}") from exc
    except parameters.exceptions.TransformParameterError as exc:
        raise SecretError(f"The secret {arn} is not JSON.") from exc
    if not isinstance(value, dict):
        raise SecretError(f"The secret {arn} is not a JSON object.")
    return value


def clear_cache() -> None:
    """Forget every cached secret (tests; the local stack)."""
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()
