"""Settings: small pydantic models, one per concern, composed into one model per function.

Each function's model is composed (``shared.runtime.settings``) from ``RuntimeSettings`` and
the mixin of every resource its catalog entry declares, and validated from the environment on
the function's first invocation, never at import. A missing or malformed variable fails with
``SettingsError`` naming it: a deployment bug is then one clear line in the log.

Nothing in the domain reads these: entrypoints hand the domain what it needs (a database
source, publishers, a clock, a time-to-live).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class SettingsError(Exception):
    """The function's environment is missing a variable or holds a malformed one."""


class EnvSettings(BaseModel):
    """A model read from environment variables: each field from the variable of its upper-case name."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        env = os.environ if env is None else env
        values = {name: env[name.upper()] for name in cls.model_fields if name.upper() in env}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(_describe(e) for e in exc.errors())
            raise SettingsError(f"{cls.__name__}: {problems}") from None


def _describe(error: Any) -> str:
    loc = [str(p) for p in error.get("loc", ()) if p != "__root__"]
    name = loc[0].upper() if loc else "environment"
    return f"{name}: {error.get('msg', 'invalid')}"


class RuntimeSettings(EnvSettings):
    """What every function has."""

    # Where work deferred until after the response runs (shared.runtime.after_response): "inline"
    # (before the handler returns) or "extension" (a Lambda internal extension).
    after_response: Literal["inline", "extension"] = "inline"
    idempotency_ttl_hours: int = Field(default=24, ge=1, le=24 * 30)
    # Events per minute a routing key may send to POST /v2/enqueue (an integration may have its own).
    enqueue_rate_limit_per_minute: int = Field(default=120, ge=1, le=100_000)


class DatabaseSettings(EnvSettings):
    """PostgreSQL as ``ticketing_app``: a libpq URL locally, the app secret and RDS Proxy in AWS."""

    database_url: str | None = None
    db_secret_arn: str | None = None
    db_host: str | None = None
    db_port: int = 5432
    db_name: str = "ticketing"
    db_sslmode: str = "require"
    # Send each transaction's statements in psycopg's pipeline mode (fewer round trips).
    db_pipeline: bool = True
    # How long a read of the secret is trusted; a refused password re-reads it at once.
    db_secret_max_age_s: int = Field(default=300, ge=0)

    @model_validator(mode="after")
    def _one_way_in(self) -> DatabaseSettings:
        if not self.database_url and not (self.db_secret_arn and self.db_host):
            missing = [n for n in ("db_secret_arn", "db_host") if not getattr(self, n)]
            needed = " and ".join(m.upper() for m in missing)
            raise ValueError(f"set DATABASE_URL, or {needed} (the app secret and RDS Proxy)")
        return self


class EventBusSettings(EnvSettings):
    """Publishing to the ticket bus."""

    event_bus_name: str = Field(min_length=1)
    event_source: str = Field(default="ticketing", min_length=1)


class IntakeConfigSettings(EnvSettings):
    """Intake's deployment settings: AWS account → tenant for AWS's own events (JSON), and the
    reopen window of flap protection."""

    intake_account_tenants: dict[str, str] = Field(default_factory=dict)
    intake_reopen_window_minutes: int = Field(default=10, ge=0, le=24 * 60)

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("intake_account_tenants"), str):
            text = data["intake_account_tenants"].strip()
            try:
                data = {**data, "intake_account_tenants": json.loads(text) if text else {}}
            except json.JSONDecodeError as exc:
                raise ValueError(f"INTAKE_ACCOUNT_TENANTS is not JSON: {exc}") from None
        return data


# 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.
DEFAULT_RETRY_SCHEDULE = "5,300,1800,7200,18000,36000,50400,72000,86400"


class WebhookSettings(EnvSettings):
    """How webhook URLs are vetted: https required (always in AWS), and the loopback hosts or
    addresses that may be delivered to, comma-separated (none in AWS; the local stack's own)."""

    webhook_require_https: bool = True
    webhook_allow_loopback: str = ""
    # Seconds to wait before each retry of a failed delivery (the Standard Webhooks schedule,
    # README "Outbound webhooks"); after the last one a delivery is failed and dead-lettered.
    webhook_retry_schedule: str = Field(default=DEFAULT_RETRY_SCHEDULE, pattern=r"^\s*\d+(\s*,\s*\d+)*\s*$")

    @property
    def retry_delays_s(self) -> tuple[int, ...]:
        return tuple(int(part) for part in self.webhook_retry_schedule.split(","))


class EmailSettings(EnvSettings):
    """Sending e-mail with SES: from which address (a verified identity), through which
    configuration set (its bounces and complaints come back through SNS), and the domain of the
    per-message reply addresses (``reply+<token>@<domain>``; the from address's by default)."""

    ses_from_address: str = Field(min_length=3, pattern=r"^[^@\s]+@[^@\s]+$")
    ses_identity_arn: str = Field(min_length=1)
    ses_configuration_set: str = ""
    email_reply_domain: str = ""
    email_sender_name: str = "Ticketing"

    @property
    def reply_domain(self) -> str:
        return self.email_reply_domain or self.ses_from_address.rsplit("@", 1)[1]


class DeadLetterQueue(BaseModel):
    """One dead-letter queue and where its messages came from: a worker's queue (put them back on
    it) or a function's asynchronous invocations (invoke it again with each message's body)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str = Field(min_length=1)  # the worker's or scheduled function's name (e.g. outbox_relay)
    dlq_url: str = Field(min_length=1)
    dlq_arn: str | None = None
    source_queue_url: str | None = Field(default=None, min_length=1)
    source_queue_arn: str | None = None
    source_function: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_source(self) -> DeadLetterQueue:
        if (self.source_queue_url is None) == (self.source_function is None):
            raise ValueError(f"{self.name}: give exactly one of source_queue_url and source_function")
        return self


class DeadLetterSettings(EnvSettings):
    """Every dead-letter queue and its source, as the stack (or the local stack) describes them."""

    dead_letter_queues: list[DeadLetterQueue]

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("dead_letter_queues"), str):
            try:
                data = {**data, "dead_letter_queues": json.loads(data["dead_letter_queues"])}
            except json.JSONDecodeError as exc:
                raise ValueError(f"DEAD_LETTER_QUEUES is not JSON: {exc}") from None
        return data

    @model_validator(mode="after")
    def _unique_names(self) -> DeadLetterSettings:
        names = [q.name for q in self.dead_letter_queues]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"DEAD_LETTER_QUEUES names {repeated} more than once")
        return self
