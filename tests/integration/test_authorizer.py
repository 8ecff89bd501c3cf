"""functions/authorizer with the event shapes API Gateway sends (TOKEN and REQUEST)."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from functions.authorizer.handler import handler
from local.events import FIXTURES, LambdaContext
from local.keys import SigningKey, generate_private_key, sign, signing_key_from
from shared.auth import tokens

ISSUER = "https://issuer.example"
METHOD_ARN = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/tickets/TCK-1"
STAGE_WILDCARD = "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/*/*"


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return signing_key_from(generate_private_key("RS256"))


@pytest.fixture(autouse=True)
def verifier_env(monkeypatch: pytest.MonkeyPatch, key: SigningKey) -> Iterator[None]:
    monkeypatch.delenv("JWKS_URL", raising=False)
    monkeypatch.setenv("JWKS_JSON", json.dumps(key.jwks()))
    monkeypatch.setenv("JWT_ISSUER", ISSUER)
    monkeypatch.setenv("JWT_AUDIENCE", "ticketing")
    tokens.reset()
    yield
    tokens.reset()


def token(key: SigningKey, **overrides: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": "ticketing",
        "sub": "alice",
        "tenant": "acme",
        "roles": ["tenant_user"],
        "iat": now,
        "exp": now + 300,
    }
    claims.update(overrides)
    return sign({k: v for k, v in claims.items() if v is not None}, key)


def token_event(authorization: str) -> dict[str, Any]:
    return {"type": "TOKEN", "authorizationToken": authorization, "methodArn": METHOD_ARN}


def request_event(headers: dict[str, str]) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(
        json.loads((FIXTURES / "apiGatewayAuthorizerRequestEvent.json").read_text())
    )
    event["headers"].update(headers)
    return event


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = handler(event, LambdaContext(function_name="ticketing-authorizer"))
    return result


def statement(result: dict[str, Any]) -> dict[str, Any]:
    statements = result["policyDocument"]["Statement"]
    assert len(statements) == 1
    found: dict[str, Any] = statements[0]
    return found


def test_token_event_allows_with_stage_wildcard_and_context(key: SigningKey) -> None:
    result = invoke(token_event(f"Bearer {token(key)}"))
    assert result["principalId"] == "alice"
    assert statement(result) == {
        "Action": "execute-api:Invoke",
        "Effect": "Allow",
        "Resource": STAGE_WILDCARD,
    }
    assert result["context"] == {"sub": "alice", "tenant": "acme", "roles": "tenant_user"}


def test_request_event_reads_authorization_case_insensitively(key: SigningKey) -> None:
    result = invoke(request_event({"authorization": f"bearer {token(key, sub='bob')}"}))
    assert result["principalId"] == "bob"
    # The fixture's methodArn is .../abcdef123/test/GET/request.
    assert statement(result)["Resource"] == "arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/*/*"
    assert statement(result)["Effect"] == "Allow"


def test_request_event_with_canonical_header_name(key: SigningKey) -> None:
    result = invoke(request_event({"Authorization": f"Bearer {token(key)}"}))
    assert statement(result)["Effect"] == "Allow"


def test_platform_principal_without_tenant_gets_empty_tenant_and_joined_roles(key: SigningKey) -> None:
    raw = token(key, sub="olga", tenant=None, roles=["platform_operator", "platform_admin"])
    result = invoke(token_event(f"Bearer {raw}"))
    assert statement(result)["Effect"] == "Allow"
    assert result["context"]["tenant"] == ""
    assert sorted(result["context"]["roles"].split(",")) == ["platform_admin", "platform_operator"]
    assert all(isinstance(v, str) for v in result["context"].values())


def test_comma_string_roles_are_accepted(key: SigningKey) -> None:
    result = invoke(token_event(f"Bearer {token(key, roles='tenant_user,tenant_admin')}"))
    assert sorted(result["context"]["roles"].split(",")) == ["tenant_admin", "tenant_user"]


def test_unknown_roles_are_dropped_from_the_context(key: SigningKey) -> None:
    result = invoke(token_event(f"Bearer {token(key, roles=['tenant_user', 'wizard'])}"))
    assert result["context"]["roles"] == "tenant_user"


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"roles": ["wizard"]}, id="no-known-role"),
        pytest.param({"roles": []}, id="no-roles"),
        pytest.param({"tenant": None, "roles": ["tenant_user"]}, id="tenant-role-without-tenant"),
        pytest.param({"tenant": "acme", "roles": ["service"]}, id="platform-role-with-tenant"),
        pytest.param(
            {"tenant": "globex", "roles": ["tenant_user", "platform_operator"]}, id="mixed-with-tenant"
        ),
        # Issue 8: claims of the wrong type or shape are refused, never a TypeError.
        pytest.param({"roles": 5}, id="roles-a-number"),
        pytest.param({"roles": True}, id="roles-true"),
        pytest.param({"roles": {"tenant_user": True}}, id="roles-an-object"),
        pytest.param({"roles": ["tenant_user", 7]}, id="roles-with-a-number"),
        pytest.param({"tenant": "*"}, id="tenant-star"),
        pytest.param({"tenant": "a:b"}, id="tenant-with-colon"),
        pytest.param({"tenant": "Acme"}, id="tenant-uppercase"),
        pytest.param({"tenant": "-acme"}, id="tenant-leading-dash"),
        pytest.param({"tenant": "a" * 64}, id="tenant-too-long"),
        pytest.param({"tenant": 42}, id="tenant-a-number"),
        pytest.param({"sub": "a" * 256}, id="subject-too-long"),
        pytest.param({"sub": "ali\nce"}, id="subject-with-control-character"),
        # Issue 8/9: the system: namespace is the service's own, whatever roles the token carries.
        pytest.param({"sub": "system:outbox", "tenant": None, "roles": ["service"]}, id="system-subject"),
        pytest.param({"sub": "system:x", "roles": ["tenant_user"]}, id="system-subject-tenant"),
    ],
)
def test_verified_but_unacceptable_claims_are_denied(key: SigningKey, overrides: dict[str, Any]) -> None:
    result = invoke(token_event(f"Bearer {token(key, **overrides)}"))
    assert statement(result) == {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": STAGE_WILDCARD}
    assert "context" not in result


def test_valid_tenant_ids_and_long_subjects_up_to_the_bound_are_allowed(key: SigningKey) -> None:
    for tenant in ("acme", "a", "0x", "a-b_c.d", "a" * 63):
        assert statement(invoke(token_event(f"Bearer {token(key, tenant=tenant)}")))["Effect"] == "Allow"
    result = invoke(token_event(f"Bearer {token(key, sub='s' * 255)}"))
    assert statement(result)["Effect"] == "Allow" and result["context"]["sub"] == "s" * 255


def unauthorized_cases(key: SigningKey) -> list[dict[str, Any]]:
    stranger = signing_key_from(generate_private_key("ES256"))
    past = int(time.time()) - 3600
    return [
        token_event(""),
        token_event("Bearer"),
        token_event("Bearer "),
        token_event(f"Basic {token(key)}"),
        token_event(token(key)),  # no scheme
        token_event("Bearer not.a.jwt"),
        token_event(f"Bearer {token(key, exp=past, iat=past - 10)}"),
        token_event(f"Bearer {token(key, iss='https://evil.example')}"),
        token_event(f"Bearer {token(key, aud='other')}"),
        token_event(f"Bearer {token(stranger)}"),
        token_event(f"Bearer {token(key, sub=None)}"),
        {"type": "TOKEN", "methodArn": METHOD_ARN},
        request_event({}),
        request_event({"Authorization": ""}),
    ]


@pytest.mark.parametrize("case", range(14))
def test_missing_or_invalid_tokens_raise_unauthorized(key: SigningKey, case: int) -> None:
    event = unauthorized_cases(key)[case]
    with pytest.raises(Exception, match=r"^Unauthorized$") as caught:
        invoke(event)
    assert type(caught.value) is Exception


def test_the_token_is_never_logged(key: SigningKey, capsys: pytest.CaptureFixture[str]) -> None:
    good = token(key)
    invoke(token_event(f"Bearer {good}"))
    bad = token(key, iss="https://evil.example")
    with pytest.raises(Exception, match="Unauthorized"):
        invoke(token_event(f"Bearer {bad}"))
    out = capsys.readouterr()
    for raw in (good, bad):
        assert raw not in out.out
        assert raw not in out.err
        assert raw.split(".")[2] not in out.out + out.err


def test_malformed_method_arn_is_used_as_is(key: SigningKey) -> None:
    event = token_event(f"Bearer {token(key)}")
    event["methodArn"] = "not-an-arn"
    assert statement(invoke(event))["Resource"] == "not-an-arn"


class _JwksServer:
    """A loopback JWKS endpoint that counts its fetches."""

    def __init__(self, document: dict[str, Any]) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.document = document
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                body = json.dumps(outer.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def jwks_server(key: SigningKey, monkeypatch: pytest.MonkeyPatch) -> Iterator[_JwksServer]:
    server = _JwksServer(key.jwks())
    monkeypatch.delenv("JWKS_JSON", raising=False)
    monkeypatch.setenv("JWKS_URL", server.url)
    monkeypatch.setenv("JWKS_REFRESH_COOLDOWN_S", "3600")
    tokens.reset()
    try:
        yield server
    finally:
        server.close()


def test_jwks_url_is_fetched_once_and_cached(key: SigningKey, jwks_server: _JwksServer) -> None:
    for _ in range(3):
        assert statement(invoke(token_event(f"Bearer {token(key)}")))["Effect"] == "Allow"
    assert jwks_server.fetches == 1


def test_unknown_kids_refresh_the_jwks_at_most_once_per_cooldown(
    key: SigningKey, jwks_server: _JwksServer
) -> None:
    rotated = signing_key_from(generate_private_key("ES256"))
    assert statement(invoke(token_event(f"Bearer {token(key)}")))["Effect"] == "Allow"
    jwks_server.document = {"keys": [key.public_jwk(), rotated.public_jwk()]}
    # The first unknown kid triggers one refresh, which finds the rotated key.
    assert statement(invoke(token_event(f"Bearer {token(rotated)}")))["Effect"] == "Allow"
    stranger = signing_key_from(generate_private_key("ES256"))
    for _ in range(3):
        with pytest.raises(Exception, match=r"^Unauthorized$"):
            invoke(token_event(f"Bearer {token(stranger)}"))
    assert jwks_server.fetches == 2


def test_an_unreachable_jwks_is_an_error_not_a_401(key: SigningKey, monkeypatch: pytest.MonkeyPatch) -> None:
    from local.aws import free_port
    from shared.kernel.errors import ServiceUnavailable

    monkeypatch.delenv("JWKS_JSON", raising=False)
    monkeypatch.setenv("JWKS_URL", f"http://127.0.0.1:{free_port()}/jwks.json")
    monkeypatch.setenv("JWKS_TIMEOUT_S", "1")
    tokens.reset()
    with pytest.raises(ServiceUnavailable):
        invoke(token_event(f"Bearer {token(key)}"))
