"""Settings, read from the environment when a handler first needs them (never at import time)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    # Locally and in tests: a libpq URL for the application role.
    database_url: str | None = None
    # In AWS: the app role's secret (username/password) and the RDS Proxy endpoint.
    db_secret_arn: str | None = None
    db_host: str | None = None
    db_port: int = 5432
    db_name: str = "ticketing"
    db_sslmode: str = "require"
    # Send each transaction's statements in psycopg's pipeline mode (fewer round trips).
    db_pipeline: bool = True
    event_bus_name: str = "ticketing"
    event_source: str = "ticketing"
    idempotency_ttl_hours: int = 24
    # Where work deferred until after the response runs (shared.after_response): "inline" (before
    # the handler returns) or "extension" (a Lambda internal extension, after the response).
    after_response: Literal["inline", "extension"] = "inline"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values = {name: env[name.upper()] for name in cls.model_fields if name.upper() in env}
        return cls.model_validate(values)


@cache
def get_settings() -> Settings:
    return Settings.from_env()
