"""The local gateway: its pieces and its HTTP server in process, and its HTTP edge on the stack.

In process (no subprocess, no database: the routes exercised here, healthz and openapi, do not
need one): routing, policy evaluation, proxy responses, schedules; the server's answers to what
the standard library would answer with HTML (unknown methods, oversized request lines and
headers, malformed framing), over raw sockets; the AWS passthrough against a recording upstream.
The tests marked e2e send the same raw requests to the stack ``python -m local.run`` runs.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from local import keys
from local.gateway import (
    MAX_BODY_BYTES,
    MAX_URL_BYTES,
    Gateway,
    aws_service,
    make_server,
    method_arn,
    policy_allows,
    proxy_response,
    resolve,
)
from local.scheduler import parse_rate
from shared.auth import tokens
from tests.e2e.conftest import Stack

PROBLEM = "application/problem+json"
SIGV4 = (
    "AWS4-HMAC-SHA256 Credential=testing/20260101/eu-west-1/{service}/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=0123456789abcdef"
)


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


def test_resolve_takes_the_most_specific_resource_before_the_method() -> None:
    """As API Gateway: /routing-rules/test is its own resource, not a rule id."""
    route, allowed = resolve("POST", "/routing-rules/test")
    assert route is not None and route.function == "test_routing_rules" and allowed == ["POST"]
    assert resolve("GET", "/routing-rules/test") == (None, ["POST"])
    route, allowed = resolve("DELETE", "/routing-rules/0190a0b2-0000-7000-8000-000000000000")
    assert route is not None and route.function == "delete_routing_rule"
    assert allowed == ["DELETE", "GET", "PUT"]


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


# -- the HTTP server, in process -------------------------------------------------------------------


@dataclass
class Edge:
    gateway: Gateway
    port: int


@pytest.fixture(scope="module")
def shared_edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    """One gateway and its HTTP server on a free loopback port, for the module (a signing key is
    slow to make)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TICKETING_JWT_DIR", str(tmp_path_factory.mktemp("edge") / "jwt"))
        keys.ensure_signing_key()
        patch.delenv("JWKS_JSON", raising=False)
        for name, value in keys.local_verifier_env().items():
            patch.setenv(name, value)
        tokens.reset()
        gateway = Gateway(max_workers=2)
        server = make_server("127.0.0.1", 0, gateway)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield Edge(gateway, server.server_address[1])
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)
            gateway.close()
            tokens.reset()


@pytest.fixture
def edge(shared_edge: Edge) -> Iterator[Edge]:
    try:
        yield shared_edge
    finally:
        shared_edge.gateway.aws_endpoint = None


@pytest.fixture
def served(edge: Edge) -> int:
    """The port of the gateway's HTTP server."""
    return edge.port


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    closed: bool  # the server closed the connection cleanly (EOF, not a reset) after answering

    def problem(self, status: int, slug: str) -> dict[str, Any]:
        assert self.status == status, (self.status, self.body)
        assert self.headers["Content-Type"] == PROBLEM
        assert b"<html" not in self.body.lower()
        document: dict[str, Any] = json.loads(self.body)
        assert document["type"] == f"urn:ticketing:problem:{slug}"
        assert document["status"] == status
        assert document["title"] and document["detail"] and document["instance"]
        return document


def exchange(port: int, data: bytes, *, method: str = "GET", then: bytes = b"") -> Answer:
    """Send raw bytes (and ``then``, once the answer's head is in), read one answer, and whether
    the server then closed the connection cleanly."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        response = http.client.HTTPResponse(sock, method=method)
        response.begin()
        body = response.read()
        if then:
            with contextlib.suppress(OSError):
                sock.sendall(then)  # what a client streaming its body still sends
        sock.settimeout(LINGER_WAIT_S)
        try:
            closed = sock.recv(1 << 16) == b""
        except TimeoutError:
            closed = False
        response.close()
        return Answer(response.status, response.headers, body, closed)


LINGER_WAIT_S = 3.0
HOST = b"Host: 127.0.0.1\r\n"
# Requests the standard library would answer with HTML (or not at all): status and problem slug.
STD_LIB_ERRORS = {
    "bad request line": (b"GARBAGE\r\n\r\n", 400, "bad-request"),
    "bad version": (b"GET /healthz HTTP/1.x\r\n\r\n", 400, "bad-request"),
    "HTTP/2 over HTTP/1": (b"GET /healthz HTTP/2.0\r\n\r\n", 505, "http-version-not-supported"),
    "HTTP/0.9": (b"GET /healthz\r\n\r\n", 505, "http-version-not-supported"),
    "URL over 8192 bytes": (
        b"GET /" + b"a" * MAX_URL_BYTES + b" HTTP/1.1\r\n" + HOST + b"\r\n",
        414,
        "uri-too-long",
    ),
    "request line over 64 KiB": (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414, "uri-too-long"),
    "headers over 10 KiB": (
        b"GET /healthz HTTP/1.1\r\n"
        + HOST
        + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 200) for i in range(60))
        + b"\r\n",
        431,
        "request-header-fields-too-large",
    ),
    "one header over 64 KiB": (
        b"GET /healthz HTTP/1.1\r\n" + HOST + b"X-Big: " + b"v" * 70_000 + b"\r\n\r\n",
        431,
        "request-header-fields-too-large",
    ),
    "over 100 headers": (
        b"GET /healthz HTTP/1.1\r\n" + HOST + b"".join(b"X-%d: v\r\n" % i for i in range(101)) + b"\r\n",
        431,
        "request-header-fields-too-large",
    ),
    "space before the colon": (
        b"POST /tickets HTTP/1.1\r\n" + HOST + b"Content-Length : 2\r\n\r\n{}",
        400,
        "bad-request",
    ),
    "folded header": (b"GET /healthz HTTP/1.1\r\n" + HOST + b"X-A: 1\r\n  2\r\n\r\n", 400, "bad-request"),
    "two Host fields": (b"GET /healthz HTTP/1.1\r\n" + HOST + HOST + b"\r\n", 400, "bad-request"),
    "method not a token": (b"GE(T /healthz HTTP/1.1\r\n" + HOST + b"\r\n", 400, "bad-request"),
    "target not a path": (b"OPTIONS * HTTP/1.1\r\n" + HOST + b"\r\n", 400, "bad-request"),
}
# Malformed framing: 400 (or 501 for a transfer coding other than chunked), then closed.
BAD_FRAMING = {
    "Content-Length not a number": (b"Content-Length: abc\r\n", 400),
    "Content-Length negative": (b"Content-Length: -2\r\n", 400),
    "Content-Length with a sign": (b"Content-Length: +2\r\n", 400),
    "Content-Length hexadecimal": (b"Content-Length: 0x2\r\n", 400),
    "Content-Length empty": (b"Content-Length: \r\n", 400),
    "Content-Length conflicting fields": (b"Content-Length: 2\r\nContent-Length: 3\r\n", 400),
    "Content-Length conflicting list": (b"Content-Length: 2, 3\r\n", 400),
    "Content-Length and Transfer-Encoding": (b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n", 400),
    "chunked not last": (b"Transfer-Encoding: chunked, gzip\r\n", 400),
    "unknown transfer coding": (b"Transfer-Encoding: gzip, chunked\r\n", 501),
}


def test_aws_service_reads_the_sigv4_credential_scope() -> None:
    assert aws_service([("authorization", SIGV4.format(service="sqs"))]) == "sqs"
    assert aws_service([("Authorization", SIGV4.format(service="events"))]) == "events"
    assert aws_service([("Authorization", "Bearer a.b.c")]) is None
    assert aws_service([("Authorization", "AWS4-HMAC-SHA256 Credential=broken")]) is None
    assert aws_service([]) is None


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND", "BREW", "get"])
def test_a_method_without_a_handler_is_405_with_allow_or_404_problem(served: int, method: str) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", served, timeout=10)
    try:
        connection.request(method, "/healthz")
        known = connection.getresponse()
        body = json.loads(known.read())
        assert known.status == 405 and known.headers["Content-Type"] == PROBLEM
        assert known.headers["Allow"] == "GET"
        assert body["type"] == "urn:ticketing:problem:method-not-allowed" and body["instance"] == "/healthz"
        connection.request(method, "/nowhere")  # same connection: it stays usable
        unknown = connection.getresponse()
        assert unknown.status == 404 and unknown.headers["Content-Type"] == PROBLEM
        assert "Allow" not in unknown.headers
        assert json.loads(unknown.read())["type"] == "urn:ticketing:problem:not-found"
    finally:
        connection.close()


@pytest.mark.parametrize(("raw", "status", "slug"), STD_LIB_ERRORS.values(), ids=STD_LIB_ERRORS.keys())
def test_what_the_std_lib_answers_in_html_is_problem_json(
    served: int, raw: bytes, status: int, slug: str
) -> None:
    answer = exchange(served, raw)
    answer.problem(status, slug)
    assert answer.headers["Connection"] == "close" and answer.closed
    assert answer.headers["x-amzn-RequestId"]


@pytest.mark.parametrize(("framing", "status"), BAD_FRAMING.values(), ids=BAD_FRAMING.keys())
def test_malformed_framing_is_400_problem_then_closed(served: int, framing: bytes, status: int) -> None:
    request = b"POST /tickets HTTP/1.1\r\n" + HOST + framing + b"\r\n{}"
    answer = exchange(served, request, then=b"{}" * 1000)
    body = answer.problem(status, "bad-request" if status == 400 else "not-implemented")
    assert body["instance"] == "/tickets"
    assert answer.headers["Connection"] == "close" and answer.closed


def test_identical_content_lengths_are_one(served: int) -> None:
    answer = exchange(
        served, b"GET /healthz HTTP/1.1\r\n" + HOST + b"Content-Length: 2, 02\r\nConnection: close\r\n\r\n{}"
    )
    assert answer.status == 200, answer.body


def test_a_body_over_10_mb_is_413_without_being_read(served: int) -> None:
    head = b"POST /tickets HTTP/1.1\r\n" + HOST + b"Content-Length: %d\r\n" % (MAX_BODY_BYTES + 1)
    # with Expect: the final answer comes instead of 100 Continue, and the body is never sent
    answer = exchange(served, head + b"Expect: 100-continue\r\n\r\n")
    assert answer.problem(413, "content-too-large")["instance"] == "/tickets"
    assert answer.closed
    # without: answered from the head, and what the client still sends is discarded
    answer = exchange(served, head + b"\r\n" + b"x" * 65536, then=b"x" * (1 << 20))
    answer.problem(413, "content-too-large")
    assert answer.closed
    # chunked: refused at the chunk that crosses the limit, before it is read
    chunked = b"POST /tickets HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n"
    answer = exchange(served, chunked + b"%x\r\n" % (MAX_BODY_BYTES + 1))
    answer.problem(413, "content-too-large")
    assert answer.closed


@pytest.mark.parametrize(
    "body",
    [b"zz\r\n", b"3\r\nabcdef\r\n", b"3\r\nab", b"3\r\nabc\r\n0\r\nX-Trailer"],
    ids=["size not hex", "chunk longer than its size", "truncated chunk", "unterminated trailer"],
)
def test_a_malformed_chunked_body_is_400_problem(served: int, body: bytes) -> None:
    request = b"POST /tickets HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n" + body
    with socket.create_connection(("127.0.0.1", served), timeout=10) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)  # the body ends here
        response = http.client.HTTPResponse(sock, method="POST")
        response.begin()
        assert response.status == 400 and response.headers["Content-Type"] == PROBLEM
        assert json.loads(response.read())["type"] == "urn:ticketing:problem:bad-request"
        response.close()


def test_a_chunked_body_reaches_the_handler(served: int) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", served, timeout=10)
    try:
        body = iter([b'{"title": ', b'"x"}'])
        connection.request("POST", "/tickets", body=body, encode_chunked=True)  # no token: 401
        response = connection.getresponse()
        assert response.status == 401 and json.loads(response.read())["status"] == 401
        connection.request("GET", "/healthz")  # the connection is still in step
        assert connection.getresponse().status == 200
    finally:
        connection.close()


# -- the AWS passthrough, in process (against a recording upstream) -------------------------------


@dataclass
class Upstream:
    """A stand-in for moto's server that records what reaches it and answers 201 (HEAD: 200)."""

    url: str = ""
    seen: list[tuple[str, str, list[tuple[str, str]], bytes]] = field(default_factory=list)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    recorded = Upstream()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            recorded.seen.append((self.command, self.path, list(self.headers.items()), body))
            payload = b'{"QueueUrl": "http://%s/123456789012/q"}' % self.headers["Host"].encode()
            self.send_response(200 if self.command == "HEAD" else 201)
            self.send_header("Content-Type", "application/x-amz-json-1.0")
            self.send_header("x-amzn-RequestId", "upstream-id")
            self.send_header("Set-Cookie", "a=1")
            self.send_header("Set-Cookie", "b=2")
            self.send_header("Keep-Alive", "timeout=5")
            self.send_header("Content-Length", "1234" if self.command == "HEAD" else str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _answer

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    recorded.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield recorded
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_sigv4_requests_are_passed_verbatim_and_the_answer_relayed(edge: Edge, upstream: Upstream) -> None:
    edge.gateway.aws_endpoint, served = upstream.url, edge.port
    target = "/bucket/a%2Fb%20c?x-id=PutObject&tagging=&list-type=2"
    body = [b"chunk one, ", b"chunk two"]
    connection = http.client.HTTPConnection("127.0.0.1", served, timeout=10)
    try:
        connection.putrequest("PUT", target, skip_accept_encoding=True)
        for name, value in [
            ("Authorization", SIGV4.format(service="s3")),
            ("X-Amz-Date", "20260101T000000Z"),
            ("x-amz-meta-under_score", "kept"),
            ("Transfer-Encoding", "chunked"),
            ("Expect", "100-continue"),
            ("Connection", "keep-alive, X-Hop"),
            ("X-Hop", "named by Connection"),
            ("Keep-Alive", "timeout=5"),
        ]:
            connection.putheader(name, value)
        connection.endheaders()
        for chunk in body:
            connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        connection.send(b"0\r\n\r\n")
        response = connection.getresponse()
        relayed = response.read()
    finally:
        connection.close()

    [(method, path, headers, forwarded)] = upstream.seen
    assert (method, path, forwarded) == ("PUT", target, b"".join(body))
    names = {name.lower(): value for name, value in headers}
    assert names["host"] == f"127.0.0.1:{served}"  # the client's, so moto's URLs name the gateway
    assert names["authorization"] == SIGV4.format(service="s3")
    assert names["x-amz-date"] == "20260101T000000Z" and names["x-amz-meta-under_score"] == "kept"
    assert names["content-length"] == str(len(b"".join(body)))
    for hop in ("transfer-encoding", "expect", "connection", "x-hop", "keep-alive"):
        assert hop not in names
    assert response.status == 201
    assert json.loads(relayed) == {"QueueUrl": f"http://127.0.0.1:{served}/123456789012/q"}
    assert response.headers["x-amzn-RequestId"] == "upstream-id"
    assert response.headers.get_all("Set-Cookie") == ["a=1", "b=2"]
    assert "Keep-Alive" not in response.headers


def test_a_relayed_head_keeps_the_upstream_content_length(edge: Edge, upstream: Upstream) -> None:
    edge.gateway.aws_endpoint, served = upstream.url, edge.port
    answer = exchange(
        served,
        b"HEAD /bucket/key HTTP/1.1\r\n"
        + HOST
        + b"Authorization: %s\r\nConnection: close\r\n\r\n" % SIGV4.format(service="s3").encode(),
        method="HEAD",
    )
    assert answer.status == 200 and answer.headers["Content-Length"] == "1234" and answer.body == b""
    assert upstream.seen[0][:2] == ("HEAD", "/bucket/key")


def test_what_is_not_an_aws_call_stays_with_the_gateway(edge: Edge, upstream: Upstream) -> None:
    edge.gateway.aws_endpoint, served = upstream.url, edge.port
    base = f"http://127.0.0.1:{served}"
    sigv4 = {"Authorization": SIGV4.format(service="lambda")}
    # Lambda's Invoke API is answered by the gateway itself, signed or not
    missing = requests.post(
        f"{base}/2015-03-31/functions/nope/invocations", data=b"{}", headers=sigv4, timeout=10
    )
    assert missing.status_code == 404 and missing.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    # routes, bearer tokens and unsigned requests behave as before
    assert requests.get(f"{base}/healthz", timeout=10).status_code == 200
    assert (
        requests.get(f"{base}/tickets", headers={"Authorization": "Bearer x"}, timeout=10).status_code == 401
    )
    assert requests.get(f"{base}/nowhere", timeout=10).status_code == 404
    assert upstream.seen == []
    # a SigV4 request on a route's path is an AWS call
    assert requests.get(f"{base}/healthz", headers=sigv4, timeout=10).status_code == 201
    assert [seen[1] for seen in upstream.seen] == ["/healthz"]


def test_without_a_local_aws_sigv4_requests_are_routed_as_before(edge: Edge) -> None:
    assert edge.gateway.aws_endpoint is None
    served = edge.port
    signed = {"Authorization": SIGV4.format(service="sqs")}
    assert requests.get(f"http://127.0.0.1:{served}/healthz", headers=signed, timeout=10).status_code == 200


def test_an_unreachable_local_aws_is_502_problem(edge: Edge) -> None:
    gateway, served = edge.gateway, edge.port
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        gateway.aws_endpoint = f"http://127.0.0.1:{unused.getsockname()[1]}"  # bound, not listening
        answer = requests.post(
            f"http://127.0.0.1:{served}/",
            data=b"Action=ListQueues",
            headers={"Authorization": SIGV4.format(service="sqs")},
            timeout=10,
        )
    assert answer.status_code == 502 and answer.headers["Content-Type"] == PROBLEM
    assert answer.json()["type"] == "urn:ticketing:problem:bad-gateway"


# -- the same, on the running stack -----------------------------------------------------------------


def _stack_port(stack: Stack) -> int:
    port = urlsplit(stack.url).port
    assert port is not None
    return port


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("raw", "status", "slug"),
    [
        (b"TRACE /tickets HTTP/1.1\r\n" + HOST + b"Connection: close\r\n\r\n", 405, "method-not-allowed"),
        (b"TRACE /nowhere HTTP/1.1\r\n" + HOST + b"Connection: close\r\n\r\n", 404, "not-found"),
        *[
            STD_LIB_ERRORS[name]
            for name in ("bad request line", "URL over 8192 bytes", "headers over 10 KiB")
        ],
        (b"POST /tickets HTTP/1.1\r\n" + HOST + b"Content-Length: 1, 2\r\n\r\n{}", 400, "bad-request"),
        (b"POST /tickets HTTP/1.1\r\n" + HOST + b"Content-Length: -1\r\n\r\n{}", 400, "bad-request"),
    ],
    ids=[
        "TRACE known path",
        "TRACE unknown path",
        "bad request line",
        "long URL",
        "big headers",
        "CL list",
        "CL<0",
    ],
)
def test_the_stack_answers_problem_json_at_its_edge(stack: Stack, raw: bytes, status: int, slug: str) -> None:
    answer = exchange(_stack_port(stack), raw)
    body = answer.problem(status, slug)
    assert answer.closed
    if status == 405:
        assert set(answer.headers["Allow"].replace(" ", "").split(",")) == {"GET", "POST"}
        assert body["instance"] == "/tickets"


@pytest.mark.e2e
def test_the_stack_refuses_a_body_over_10_mb_with_413(stack: Stack) -> None:
    answer = requests.post(
        f"{stack.url}/tickets",
        data=b"x" * (MAX_BODY_BYTES + 1),
        headers={"Content-Type": "application/json", "Authorization": "Bearer x"},
        timeout=30,
    )
    assert answer.status_code == 413 and answer.headers["Content-Type"] == PROBLEM
    assert answer.json()["type"] == "urn:ticketing:problem:content-too-large"
