"""Deployment settings, read from cdk.json context (``cdk synth -c key=value`` overrides them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from constructs import Node


def _bool(value: Any, *, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    raise ValueError(f"context {key!r} must be true or false, got {value!r}")


def _optional(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


@dataclass(frozen=True, kw_only=True)
class StackSettings:
    """Everything that differs between deployments of the same code."""

    stage: str
    db_instance_class: str  # e.g. t4g.medium (the "db." prefix is added by RDS)
    deletion_protection: bool
    multi_az: bool
    jwt_issuer: str
    jwks_url: str
    jwt_audience: str | None = None
    alarm_email: str | None = None
    alarm_topic_arn: str | None = None  # an existing topic: no topic is created then
    db_connections_alarm_threshold: int = 300
    # Operator functions are deployed as "<prefix>-<name>" (runbook: ticketing-replay-dlq).
    function_name_prefix: str = "ticketing"

    @classmethod
    def from_context(cls, node: Node) -> StackSettings:
        def get(key: str, default: Any = None) -> Any:
            value = node.try_get_context(key)
            return default if value is None else value

        def required(key: str) -> str:
            value = _optional(get(key))
            if value is None:
                raise ValueError(f"cdk.json context {key!r} is required")
            return value

        return cls(
            stage=required("stage"),
            db_instance_class=required("dbInstanceClass"),
            deletion_protection=_bool(get("deletionProtection", True), key="deletionProtection"),
            multi_az=_bool(get("multiAz", True), key="multiAz"),
            jwt_issuer=required("jwtIssuer"),
            jwks_url=required("jwksUrl"),
            jwt_audience=_optional(get("jwtAudience")),
            alarm_email=_optional(get("alarmEmail")),
            alarm_topic_arn=_optional(get("alarmTopicArn")),
            db_connections_alarm_threshold=int(get("dbConnectionsAlarmThreshold", 300)),
            function_name_prefix=_optional(get("functionNamePrefix")) or "ticketing",
        )
