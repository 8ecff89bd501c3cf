"""Invoke the route Lambdas the way API Gateway does: real REST proxy events, per the route table."""

from __future__ import annotations

import base64
import importlib
import json
from dataclasses import dataclass
from typing import Any

import pytest

from local.events import LambdaContext, api_gateway_event, authorizer_context, match_path
from shared.runtime.catalog import ROUTES
from tests.conftest import Bus, Database


@dataclass
class Caller:
    sub: str
    tenant: str | None
    roles: list[str]


ALICE = Caller("alice", "acme", ["tenant_user"])  # a tenant user of acme
ANNA = Caller("anna", "acme", ["tenant_admin"])
GREG = Caller("greg", "globex", ["tenant_user"])  # another tenant
OPS = Caller("olga", None, ["platform_operator"])
ADMIN = Caller("pat", None, ["platform_admin"])


@dataclass
class Result:
    status: int
    headers: dict[str, str]
    body: Any
    raw: dict[str, Any]

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")


def invoke(
    method: str,
    path: str,
    *,
    caller: Caller | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
    query: str | dict[str, Any] | None = None,
    base64_body: bool = False,
) -> Result:
    """Call the Lambda the route table names for ``method path``, with a real event shape."""
    bare_path = path.split("?", 1)[0]
    if "?" in path and query is None:
        query = path.split("?", 1)[1]
    for route in ROUTES:
        if route.method == method and match_path(route.path, bare_path) is not None:
            break
    else:
        raise AssertionError(f"no route for {method} {path}")
    module = importlib.import_module(f"functions.{route.function}.handler")
    event = api_gateway_event(
        method=method,
        resource=route.path,
        path=bare_path,
        headers=headers,
        query=query,
        body=body,
        authorizer=authorizer_context(caller.sub, caller.tenant, caller.roles) if caller else None,
        base64_body=base64_body,
    )
    raw = module.handler(event, LambdaContext(function_name=route.function))
    out_headers = {k: v[-1] for k, v in (raw.get("multiValueHeaders") or {}).items()}
    out_headers.update(raw.get("headers") or {})
    text = raw.get("body") or ""
    if raw.get("isBase64Encoded"):
        text = base64.b64decode(text).decode()
    try:
        parsed = json.loads(text) if text else None
    except json.JSONDecodeError:
        parsed = text
    return Result(status=raw["statusCode"], headers=out_headers, body=parsed, raw=raw)


@pytest.fixture
def api(database: Database, event_bus: Bus) -> Any:
    """The HTTP API over a fresh database and moto's EventBridge."""
    return invoke


def create_ticket(caller: Caller = ALICE, **overrides: Any) -> dict[str, Any]:
    body = {"title": "Nightly pipeline failing on orders", "category": "pipeline_failure", "priority": "high"}
    body.update(overrides)
    result = invoke("POST", "/tickets", caller=caller, body=body)
    assert result.status == 201, result.body
    ticket: dict[str, Any] = result.body
    return ticket


@pytest.fixture
def without_sla(database: Database) -> None:
    """A deployment whose SLA policies are all disabled: tickets get no clocks and the trail and the
    bus carry no SLA events (for tests whose subject is the outbox, the audit chain or bounds)."""
    from shared.sla import config

    with database.admin() as conn:
        conn.execute("UPDATE sla_policy SET enabled = false")
    config.forget()
