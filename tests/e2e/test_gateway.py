"""The local gateway's pieces, in process: routing, policy evaluation, proxy responses, schedules.

No subprocess and no database: the routes exercised here (healthz, openapi) do not need one.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from local import keys
from local.gateway import Gateway, method_arn, policy_allows, proxy_response, resolve
from local.scheduler import parse_rate
from shared.auth import tokens


@pytest.fixture
def gateway(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    monkeypatch.setenv("TICKETING_JWT_DIR", str(tmp_path / "jwt"))
    keys.ensure_signing_key()
    monkeypatch.delenv("JWKS_JSON", raising=False)
    for name, value in keys.local_verifier_env().items():
        monkeypatch.setenv(name, value)
    tokens.reset()
    gw = Gateway(max_workers=2)
    try:
        yield gw
    finally:
        gw.close()
        tokens.reset()


def test_resolve_prefers_the_method_and_reports_allowed_methods() -> None:
    route, allowed = resolve("GET", "/tickets/TCK-1")
    assert route is not None and route.function == "get_ticket"
    assert allowed == ["GET", "PATCH"]
    route, allowed = resolve("PUT", "/tickets/TCK-1")
    assert route is None and allowed == ["GET", "PATCH"]
    assert resolve("GET", "/nope") == (None, [])
    route, _ = resolve("POST", "/tickets/abc/transitions")
    assert route is not None and route.function == "transition_ticket"


def test_method_arn_has_the_api_gateway_shape() -> None:
    assert method_arn("GET", "/tickets/1").endswith(":local/local/GET/tickets/1")


def test_policy_evaluation() -> None:
    arn = method_arn("GET", "/tickets/1")
    wildcard = arn.split("/")[0] + "/local/*/*"

    def doc(*statements: dict[str, str]) -> dict[str, object]:
        return {
            "principalId": "x",
            "policyDocument": {"Version": "2012-10-17", "Statement": list(statements)},
        }

    allow = {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": wildcard}
    deny = {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": wildcard}
    assert policy_allows(doc(allow), arn)
    assert not policy_allows(doc(deny), arn)
    assert not policy_allows(doc(allow, deny), arn)
    assert not policy_allows(doc({**allow, "Resource": arn.replace("/local/", "/prod/")}), arn)
    assert not policy_allows(doc(), arn)


def test_proxy_response_merges_headers_and_decodes_base64() -> None:
    response = proxy_response(
        {
            "statusCode": 200,
            "headers": {"Content-Type": "image/png", "X-One": "a"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": base64.b64encode(b"\x89PNG").decode(),
            "isBase64Encoded": True,
        },
        function="f",
        instance="/x",
    )
    assert response.status == 200
    assert response.body == b"\x89PNG"
    assert ("Set-Cookie", "a=1") in response.headers and ("Set-Cookie", "b=2") in response.headers
    assert ("X-One", "a") in response.headers


@pytest.mark.parametrize(
    "result", [None, {}, {"statusCode": "200"}, {"statusCode": 200, "body": "!", "isBase64Encoded": True}]
)
def test_malformed_proxy_responses_are_502(result: object) -> None:
    assert proxy_response(result, function="f", instance="/x").status == 502


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60.0),
        ("rate(5 minutes)", 300.0),
        ("rate(30 seconds)", 30.0),
        ("rate(1 second)", 1.0),
        ("rate(2 hours)", 7200.0),
        ("cron(0 * * * ? *)", None),
        ("rate(0 minutes)", None),
    ],
)
def test_parse_rate(expression: str, seconds: float | None) -> None:
    assert parse_rate(expression) == seconds


def test_gateway_serves_the_jwks(gateway: Gateway) -> None:
    response = gateway.handle("GET", "/.well-known/jwks.json", [], b"")
    assert response.status == 200
    assert json.loads(response.body)["keys"][0]["kid"] == keys.ensure_signing_key().kid


def test_gateway_runs_the_authorizer(gateway: Gateway) -> None:
    good = keys.mint(sub="olga", tenant=None, roles=["platform_operator"])
    allowed = gateway.handle("GET", "/openapi.json", [("Authorization", f"Bearer {good}")], b"")
    assert allowed.status == 200, allowed.body
    assert allowed.function == "openapi"

    missing = gateway.handle("GET", "/openapi.json", [], b"")
    assert missing.status == 401
    assert ("Content-Type", "application/problem+json") in missing.headers

    expired_claims = keys.build_claims(sub="olga", tenant=None, roles=["platform_operator"], ttl_s=60, now=0)
    expired = keys.sign(expired_claims, keys.ensure_signing_key())
    assert gateway.handle("GET", "/openapi.json", [("authorization", f"Bearer {expired}")], b"").status == 401

    denied = keys.mint(sub="nobody", tenant=None, roles=["tenant_user"])
    assert gateway.handle("GET", "/openapi.json", [("Authorization", f"Bearer {denied}")], b"").status == 403


def test_gateway_request_authorizer_mode(gateway: Gateway) -> None:
    request_mode = Gateway(authorizer_event="REQUEST", max_workers=1)
    try:
        good = keys.mint(sub="olga", tenant=None, roles=["platform_operator"])
        assert (
            request_mode.handle("GET", "/openapi.json?x=1", [("Authorization", f"Bearer {good}")], b"").status
            == 200
        )
        assert (
            request_mode.handle("GET", "/openapi.json", [("Authorization", "Bearer nope")], b"").status == 401
        )
    finally:
        request_mode.close()


def test_health_needs_no_authorizer(gateway: Gateway) -> None:
    response = gateway.handle("GET", "/healthz", [], b"")
    assert response.status == 200
    assert any(name == "x-amzn-RequestId" for name, _ in response.headers)
