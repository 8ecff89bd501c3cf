"""Deployment settings, read from cdk.json context (``cdk synth -c key=value`` overrides them)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
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
    # Intake: AWS account id → tenant, for AWS's own events; flap protection's reopen window.
    account_tenants: dict[str, str] = field(default_factory=dict)
    intake_reopen_window_minutes: int = 10
    # E-mail notifications: the SES identity (a domain, verified through its DNS records once
    # deployed), the From address in it, and the domain of the reply addresses (the From domain's
    # unless given; the e-mail intake receives there).
    email_domain: str = "mail.platform.example.com"
    email_from_address: str = "ticketing@mail.platform.example.com"
    email_reply_domain: str | None = None

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
            account_tenants=_account_tenants(get("accountTenants", {})),
            intake_reopen_window_minutes=_minutes(get("intakeReopenWindowMinutes", 10)),
            **_email(get("emailDomain"), get("emailFromAddress"), get("emailReplyDomain")),
        )


_ACCOUNT = re.compile(r"^[0-9]{12}$")
_TENANT = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


def _account_tenants(value: Any) -> dict[str, str]:
    """``accountTenants``: {"123456789012": "acme"} (or its JSON text, from ``-c``)."""
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else {}
    if not isinstance(value, dict):
        raise ValueError(f"context 'accountTenants' must map account ids to tenant ids, got {value!r}")
    for account, tenant in value.items():
        if not _ACCOUNT.match(str(account)) or not isinstance(tenant, str) or not _TENANT.match(tenant):
            raise ValueError(
                f"context 'accountTenants': {account!r} → {tenant!r} is not account id → tenant id"
            )
    return {str(k): v for k, v in value.items()}


def _email(domain: Any, from_address: Any, reply_domain: Any) -> dict[str, Any]:
    """``emailDomain``, ``emailFromAddress`` (in that domain), ``emailReplyDomain`` (optional)."""
    found: dict[str, Any] = {}
    domain, from_address = _optional(domain), _optional(from_address)
    if domain is not None:
        found["email_domain"] = domain
    if from_address is not None:
        found["email_from_address"] = from_address
    checked_domain = found.get("email_domain", StackSettings.email_domain)
    checked_from = found.get("email_from_address", StackSettings.email_from_address)
    if not checked_from.endswith(f"@{checked_domain}"):
        raise ValueError(
            f"context 'emailFromAddress' {checked_from!r} must be an address of"
            f" 'emailDomain' {checked_domain!r}"
        )
    found["email_reply_domain"] = _optional(reply_domain)
    return found


def _minutes(value: Any) -> int:
    minutes = int(value)
    if not 0 <= minutes <= 24 * 60:
        raise ValueError(f"context 'intakeReopenWindowMinutes' must be 0..1440, got {value!r}")
    return minutes
