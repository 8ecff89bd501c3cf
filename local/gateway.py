"""A local stand-in for API Gateway (REST): the same route table, authorizer and proxy events.

For each request: find the route (``shared.routes.ROUTES``) by method and path template; run
``functions/authorizer`` with a TOKEN (default) or REQUEST event for routes with ``auth=True``
(401 when it raises ``Unauthorized``, 403 when its policy does not allow the method ARN); build
the REST proxy event (``local.events.api_gateway_event``) with ``requestContext.authorizer`` as
API Gateway fills it; invoke ``functions.<name>.handler.handler``; write the proxy response.

Handlers run on a small pool of long-lived threads, as warm Lambda containers would: each
keeps its own database connection across requests.

It also answers Lambda's Invoke API for the operator functions (``local.invoke``), so that the
runbook's ``aws lambda invoke`` commands work locally, and passes every other request signed
with AWS Signature V4 (``Authorization: AWS4-HMAC-SHA256 Credential=...``) to the local AWS
(moto's server) verbatim, so that one endpoint serves ``aws --endpoint-url`` for events, sqs,
s3, secretsmanager and lambda invoke alike.

Like API Gateway, it answers every request with problem+json, including the ones the standard
library's server would answer itself with HTML: unknown methods (405 or 404), request lines and
URLs over 8192 bytes (414), header sections over 10 KB or 100 fields (431), malformed framing
(400, then the connection is closed), bodies over 10 MB (413, without reading them).

Requests are logged one line each (method, path, status, ms): never tokens, bodies or query
strings.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import http.client
import json
import logging
import re
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from local import invoke, lambdas
from local.events import api_gateway_event, match_path
from local.logs import kv
from shared.kernel.errors import problem_type
from shared.runtime import after_response
from shared.runtime.catalog import AUTHORIZER_FUNCTION, ROUTES, FunctionSettings, Route

log = logging.getLogger("local.gateway")

API_ID = "local"
STAGE = "local"
JWKS_PATH = "/.well-known/jwks.json"
_SKIP_RESPONSE_HEADERS = {"content-length", "transfer-encoding", "connection", "date", "server"}

# API Gateway's limits (REST): URL 8192 bytes (edge-optimized APIs), header values about 10 KB in
# all, payload 10 MB. Above them the answer is 414, 431 or 413, as problem+json.
MAX_URL_BYTES = 8192
MAX_HEADER_BYTES = 10 * 1024
MAX_BODY_BYTES = 10 * 1024 * 1024
# After an error that closes the connection, what the client still sends (a body not read) is
# discarded for at most this long, so that it reads the answer rather than a connection reset.
LINGER_S = 2.0
# A request to the local AWS may wait: sqs receive-message long-polls up to 20 s.
AWS_TIMEOUT_S = 120.0

# Hop-by-hop fields (RFC 9110 §7.6.1) and those the passthrough sets itself: never forwarded.
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",  # answered here (100 Continue) before the body was read
    "content-length",  # set from the body actually forwarded
}
_SKIP_AWS_RESPONSE_HEADERS = _HOP_BY_HOP | {"date", "server"}  # the server writes its own
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_DIGITS = re.compile(r"[0-9]+")
_HEX = re.compile(rb"[0-9A-Fa-f]+")
_SIGV4 = re.compile(r"AWS4-HMAC-SHA256\s+Credential=[^/\s,]*/[^/\s,]*/[^/\s,]*/([^/\s,]+)/aws4_request")
# Problem type slugs and RFC 9110 titles for the statuses the gateway itself answers.
_SLUGS = {
    400: "bad-request",
    404: "not-found",
    405: "method-not-allowed",
    413: "content-too-large",
    414: "uri-too-long",
    431: "request-header-fields-too-large",
    500: "internal-error",
    501: "not-implemented",
    502: "bad-gateway",
    504: "gateway-timeout",
    505: "http-version-not-supported",
}
_TITLES = {413: "Content Too Large", 414: "URI Too Long"}


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    function: str | None = None
    # Work the handler deferred until after its response (shared.after_response).
    after: list[after_response.Task] = field(default_factory=list)
    # Content-Length of a relayed answer to HEAD (which has no body here): the upstream's.
    head_length: int | None = None


def problem(
    status: int, slug: str, detail: str, *, instance: str, headers: list[tuple[str, str]] | None = None
) -> Response:
    title = _TITLES.get(status) or HTTPStatus(status).phrase
    body = {
        "type": problem_type(slug),
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    return Response(
        status=status,
        headers=[("Content-Type", "application/problem+json"), *(headers or [])],
        body=json.dumps(body).encode(),
    )


def method_arn(method: str, path: str) -> str:
    return f"arn:aws:execute-api:{lambdas.REGION}:{lambdas.ACCOUNT}:{API_ID}/{STAGE}/{method}{path}"


def _specificity(template: str) -> tuple[bool, ...]:
    """Sorts resource paths as API Gateway prefers them: at the first segment where two differ, a
    literal segment wins over a parameter."""
    return tuple(part.startswith("{") for part in template.strip("/").split("/"))


def resolve(method: str, path: str) -> tuple[Route | None, list[str]]:
    """The route for method + path, and the methods the path has. As in API Gateway, the resource is
    chosen first (literal segments win over parameters: ``/routing-rules/test`` over
    ``/routing-rules/{rule_id}``), then the method on it: a method that resource lacks is not looked
    for on a less specific one."""
    candidates = [route for route in ROUTES if match_path(route.path, path) is not None]
    if not candidates:
        return None, []
    resource = min((route.path for route in candidates), key=_specificity)
    on_resource = [route for route in candidates if route.path == resource]
    allowed = sorted({route.method for route in on_resource})
    return next((r for r in on_resource if r.method == method), None), allowed


def policy_allows(policy: dict[str, Any], arn: str) -> bool:
    """IAM evaluation for execute-api:Invoke on ``arn``: an explicit Deny wins, else an Allow is needed."""
    statements = (policy.get("policyDocument") or {}).get("Statement") or []
    allowed = False
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action", [])
        resources = statement.get("Resource", [])
        actions = [actions] if isinstance(actions, str) else actions
        resources = [resources] if isinstance(resources, str) else resources
        if not any(fnmatch.fnmatchcase("execute-api:Invoke", a) for a in actions):
            continue
        if not any(fnmatch.fnmatchcase(arn, r) for r in resources):
            continue
        if statement.get("Effect") == "Deny":
            return False
        if statement.get("Effect") == "Allow":
            allowed = True
    return allowed


def aws_service(headers: list[tuple[str, str]]) -> str | None:
    """The signing service (``sqs``, ``events``...) when the request is signed with AWS Signature V4."""
    authorization = next((v for k, v in headers if k.lower() == "authorization"), "")
    signed = _SIGV4.match(authorization.strip())
    return signed.group(1) if signed else None


class Gateway:
    def __init__(
        self, *, authorizer_event: str = "TOKEN", max_workers: int = 8, aws_endpoint: str | None = None
    ) -> None:
        if authorizer_event not in ("TOKEN", "REQUEST"):
            raise ValueError("authorizer_event is TOKEN or REQUEST")
        self.authorizer_event = authorizer_event
        # The local AWS (moto's server, ``LocalAws.endpoint``) that SigV4-signed requests are
        # passed to; set once it runs. Without it they are routed like any other request.
        self.aws_endpoint = aws_endpoint
        # Handler threads are hosts for after-response work: the server runs it once the
        # response is written, as Lambda's extension does after API Gateway has its answer.
        self.pool = ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="lambda", initializer=after_response.host_this_thread
        )
        # One invocation at a time per function, as one Lambda environment runs them: a function's
        # resolver keeps the current request in module state (powertools' app.context), which two
        # threads running the same handler at once would share (a KeyError '_route', seen as a 500
        # when two clients wrote routing rules at the same moment).
        self._environments: dict[str, threading.Lock] = {}
        self._environments_lock = threading.Lock()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    # -- the request pipeline ------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> Response:
        url = urlsplit(target)
        path = url.path or "/"
        if path == JWKS_PATH and method in ("GET", "HEAD"):
            return self._jwks()
        invocation = invoke.PATH.match(path)
        if invocation and method == "POST":  # Lambda's Invoke API, for the operator functions
            name = unquote(invocation.group(1))
            status, response_headers, response_body = self.pool.submit(invoke.invoke, name, body).result()
            return Response(status, response_headers, response_body, function=name)
        service = aws_service(headers)
        if service is not None and self.aws_endpoint:  # any other AWS API call: the local AWS answers
            response = self._aws(method, target, headers, body, instance=path)
            response.function = f"aws:{service}"
            return response
        route, allowed = resolve(method, path)
        if route is None:
            if allowed:
                return problem(
                    405,
                    "method-not-allowed",
                    f"{method} is not allowed on {path}.",
                    instance=path,
                    headers=[("Allow", ", ".join(allowed))],
                )
            return problem(404, "not-found", f"No route for {path}.", instance=path)

        authorizer_context: dict[str, Any] | None = None
        if route.auth:
            outcome = self._authorize(route, method, path, url.query, headers)
            if isinstance(outcome, Response):
                return outcome
            authorizer_context = outcome

        single = {}
        for name, value in headers:
            single[name] = value
        multi: dict[str, list[str]] = {}
        for name, value in headers:
            multi.setdefault(name, []).append(value)
        text: str | bytes | None
        binary = False
        if not body:
            text = None
        else:
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text, binary = body, True
        event = api_gateway_event(
            method=method,
            resource=route.path,
            path=path,
            headers=single,
            query=url.query or None,
            body=text,
            authorizer=authorizer_context,
            base64_body=binary,
            stage=STAGE,
        )
        event["multiValueHeaders"] = multi or None
        request_id = event["requestContext"]["requestId"]
        response = self._invoke(route.function, route.settings, event, instance=path)
        response.headers.append(("x-amzn-RequestId", request_id))
        response.function = route.function
        return response

    def _aws(
        self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, *, instance: str
    ) -> Response:
        """Pass the request to moto's server verbatim (method, target, headers, body) and relay its
        answer. ``Host`` is kept, so that what moto builds from it (SQS queue URLs) names this
        gateway; hop-by-hop fields are dropped and ``Content-Length`` is the body's."""
        assert self.aws_endpoint is not None
        upstream = urlsplit(self.aws_endpoint)
        named = {t.strip().lower() for k, v in headers if k.lower() == "connection" for t in v.split(",")}
        framed = False
        connection = http.client.HTTPConnection(
            upstream.hostname or "127.0.0.1", upstream.port, timeout=AWS_TIMEOUT_S
        )
        try:
            try:
                connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
                for name, value in headers:
                    lowered = name.lower()
                    framed = framed or lowered in ("content-length", "transfer-encoding")
                    if lowered not in _HOP_BY_HOP and lowered not in named:
                        connection.putheader(name, value)
                if body or framed:
                    connection.putheader("Content-Length", str(len(body)))
            except (ValueError, http.client.InvalidURL) as exc:  # what http.client would not send
                return problem(400, "bad-request", f"Cannot forward this request: {exc}", instance=instance)
            connection.endheaders(body or None)
            answer = connection.getresponse()
            data = answer.read()
        except TimeoutError:
            return problem(
                504, "gateway-timeout", "The local AWS (moto) did not answer in time.", instance=instance
            )
        except (OSError, http.client.HTTPException) as exc:
            log.error("local AWS unreachable", extra={"fields": {"error": type(exc).__name__}})
            return problem(
                502, "bad-gateway", f"The local AWS (moto) is not reachable: {exc}", instance=instance
            )
        finally:
            connection.close()
        relayed = [(k, v) for k, v in answer.getheaders() if k.lower() not in _SKIP_AWS_RESPONSE_HEADERS]
        response = Response(answer.status, relayed, data)
        if method == "HEAD":
            length = answer.getheader("Content-Length")
            response.head_length = int(length) if length and _DIGITS.fullmatch(length) else None
        return response

    def _jwks(self) -> Response:
        from local.keys import ensure_signing_key

        body = json.dumps(ensure_signing_key().jwks()).encode()
        return Response(200, [("Content-Type", "application/json"), ("Cache-Control", "max-age=60")], body)

    def _authorize(
        self, route: Route, method: str, path: str, query: str, headers: list[tuple[str, str]]
    ) -> dict[str, Any] | Response:
        arn = method_arn(method, path)
        authorization = next((v for k, v in headers if k.lower() == "authorization"), "")
        if not authorization.strip():
            # API Gateway answers without calling the authorizer when the identity source is empty.
            return self._unauthorized(path, "No Authorization header.")
        event: dict[str, Any]
        if self.authorizer_event == "TOKEN":
            event = {"type": "TOKEN", "authorizationToken": authorization, "methodArn": arn}
        else:
            proxy = api_gateway_event(
                method=method, resource=route.path, path=path, headers=dict(headers), query=query
            )
            event = {
                "type": "REQUEST",
                "methodArn": arn,
                **{k: proxy[k] for k in ("resource", "path", "httpMethod", "headers", "multiValueHeaders")},
                **{k: proxy[k] for k in ("queryStringParameters", "multiValueQueryStringParameters")},
                "pathParameters": proxy["pathParameters"] or {},
                "stageVariables": {},
                "requestContext": proxy["requestContext"],
            }
        started = time.monotonic()
        future = self.pool.submit(
            lambda: lambdas.load(AUTHORIZER_FUNCTION)(event, lambdas.context(AUTHORIZER_FUNCTION))
        )
        try:
            result = future.result()
        except lambdas.FunctionMissing:
            log.error("functions/authorizer is missing")
            return problem(500, "internal-error", "The authorizer is not available.", instance=path)
        except Exception as exc:
            if str(exc) == "Unauthorized":
                return self._unauthorized(path, "The bearer token is missing, invalid or expired.")
            log.exception("authorizer failed")
            return problem(500, "internal-error", "The authorizer failed.", instance=path)
        if not isinstance(result, dict) or not result.get("principalId"):
            log.error("authorizer returned an invalid response")
            return problem(
                500, "internal-error", "The authorizer returned an invalid response.", instance=path
            )
        if not policy_allows(result, arn):
            return problem(
                403, "forbidden", "The caller is not allowed to access this resource.", instance=path
            )
        context = {k: v for k, v in (result.get("context") or {}).items()}
        context.update(
            principalId=result["principalId"], integrationLatency=int((time.monotonic() - started) * 1000)
        )
        return context

    def _unauthorized(self, path: str, detail: str) -> Response:
        return problem(401, "unauthorized", detail, instance=path, headers=[("WWW-Authenticate", "Bearer")])

    def _invoke(
        self, function: str, settings: FunctionSettings, event: dict[str, Any], *, instance: str
    ) -> Response:
        with self._environments_lock:
            environment = self._environments.setdefault(function, threading.Lock())

        def invoke() -> tuple[Any, list[after_response.Task]]:
            with environment:
                try:
                    result = lambdas.load(function)(event, lambdas.context(function, settings))
                finally:
                    # Taken (and dropped) even when the handler failed, as a crash loses it in AWS.
                    deferred = after_response.take_ready()
            return result, deferred

        try:
            result, deferred = self.pool.submit(invoke).result()
        except lambdas.FunctionMissing as exc:
            return problem(501, "not-implemented", f"{exc} (yet).", instance=instance)
        except Exception:
            log.exception("function failed", extra={"fields": {"function": function}})
            return problem(
                502, "bad-gateway", "The function failed (see the stack's console).", instance=instance
            )
        response = proxy_response(result, function=function, instance=instance)
        response.after = deferred
        return response

    def run_after(self, response: Response) -> None:
        """Run the work the handler deferred until after its response, on a handler thread."""
        if response.after:
            try:
                self.pool.submit(after_response.run, response.after)
            except RuntimeError:  # shutting down: the outbox relay publishes it on the next start
                log.warning("after-response work dropped at shutdown")


def proxy_response(result: Any, *, function: str, instance: str) -> Response:
    """Turn a Lambda proxy integration result into an HTTP response, as API Gateway does."""
    if not isinstance(result, dict) or not isinstance(result.get("statusCode"), int):
        log.error("malformed Lambda proxy response", extra={"fields": {"function": function}})
        return problem(502, "bad-gateway", "Malformed Lambda proxy response.", instance=instance)
    merged: dict[str, list[str]] = {}
    for name, value in (result.get("headers") or {}).items():
        merged[name] = [str(value)]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        merged[name] = [str(v) for v in (values if isinstance(values, list) else [values])]
    headers = [(k, v) for k, vs in merged.items() if k.lower() not in _SKIP_RESPONSE_HEADERS for v in vs]
    raw = result.get("body")
    if raw is None:
        body = b""
    elif result.get("isBase64Encoded"):
        try:
            body = base64.b64decode(str(raw), validate=True)
        except binascii.Error:
            log.error("response body is not valid base64", extra={"fields": {"function": function}})
            return problem(502, "bad-gateway", "Malformed Lambda proxy response.", instance=instance)
    else:
        body = str(raw).encode("utf-8")
    return Response(status=result["statusCode"], headers=headers, body=body)


class _Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def make_server(host: str, port: int, gateway: Gateway) -> ThreadingHTTPServer:
    class RequestHandler(BaseHTTPRequestHandler):
        """One connection. Everything it answers is problem+json when not a handler's response:
        the standard library's own errors (``send_error``), unknown methods (``__getattr__``),
        limits and framing (``_check_request``, checked before ``100 Continue`` is sent)."""

        protocol_version = "HTTP/1.1"
        server_version = "ticketing-local"
        # Per request: the body's Content-Length, or None for a chunked body.
        _length: int | None = 0
        _checked = False

        def __getattr__(self, name: str) -> Callable[[], None]:
            # Every method reaches the gateway, which answers 405 (with Allow) or 404 as API
            # Gateway does, instead of the standard library's HTML 501 for a method without do_*.
            if name.startswith("do_"):
                return self._dispatch
            raise AttributeError(name)

        # -- the request's head ---------------------------------------------------------------

        def parse_request(self) -> bool:
            self._checked, self._length = False, 0
            if not super().parse_request():
                return False
            return self._checked or self._check_request()

        def handle_expect_100(self) -> bool:
            # A request refused on its head gets its final answer instead of 100 Continue, so
            # that the client never sends the body (e.g. 413 for a body over the limit).
            self._checked = True
            return self._check_request() and super().handle_expect_100()

        def _check_request(self) -> bool:
            """Limits and framing, from the request line and headers alone (sends the error)."""
            if self.request_version == "HTTP/0.9":
                return self._refuse(505, "Send the request line as METHOD target HTTP/1.1.")
            if len(self.path) > MAX_URL_BYTES:
                return self._refuse(414, f"The URL is longer than {MAX_URL_BYTES} bytes.")
            if self.headers.defects or self.headers.get_payload():
                return self._refuse(400, "The header section is malformed (a field line without a name).")
            fields = self.headers.items()
            if any(not _TOKEN.fullmatch(name) or "\r" in value or "\n" in value for name, value in fields):
                return self._refuse(400, "A header field name is not a token, or a field value is folded.")
            if sum(len(name) + len(value) for name, value in fields) > MAX_HEADER_BYTES:
                return self._refuse(
                    431, f"The header fields are larger than {MAX_HEADER_BYTES} bytes in all."
                )
            if len(self.headers.get_all("Host") or []) > 1:
                return self._refuse(400, "More than one Host header field.")
            try:
                origin_form = urlsplit(self.path).path.startswith("/")
            except ValueError:
                origin_form = False
            if not origin_form:
                return self._refuse(400, "The request target must be a path, e.g. /tickets.")
            codings = self.headers.get_all("Transfer-Encoding") or []
            lengths = self.headers.get_all("Content-Length") or []
            if codings:
                if lengths:
                    return self._refuse(400, "Both Transfer-Encoding and Content-Length were sent.")
                names = [c.strip().lower() for v in codings for c in v.split(",") if c.strip()]
                if self.request_version == "HTTP/1.0" or not names or names[-1] != "chunked":
                    return self._refuse(400, "The body's transfer coding must end with chunked (HTTP/1.1).")
                if names != ["chunked"]:
                    return self._refuse(501, "Only the chunked transfer coding is supported.")
                self._length = None
            elif lengths:
                values = [part.strip() for v in lengths for part in v.split(",")]
                if not all(_DIGITS.fullmatch(value) for value in values):
                    return self._refuse(400, "Content-Length must be a non-negative decimal integer.")
                if len({value.lstrip("0") for value in values}) > 1:
                    return self._refuse(400, "Content-Length has several different values.")
                digits = values[0].lstrip("0")
                if len(digits) > len(str(MAX_BODY_BYTES)) or int(digits or 0) > MAX_BODY_BYTES:
                    return self._refuse(413, f"The body is larger than {MAX_BODY_BYTES} bytes.")
                self._length = int(digits or 0)
            return True

        def _refuse(self, status: int, detail: str) -> bool:
            self.send_error(status, explain=detail)
            return False

        # -- the body ---------------------------------------------------------------------------

        def _read_body(self) -> bytes:
            """The body (chunked or Content-Length); ``_Refused`` when it is malformed or too large."""
            if self._length is not None:
                body = self.rfile.read(self._length) if self._length else b""
                if len(body) < self._length:
                    raise _Refused(400, "The body ended before Content-Length bytes.")
                return body
            chunks: list[bytes] = []
            total = 0
            while True:
                line = self.rfile.readline(1025)  # chunk-size [; extensions] CRLF
                digits = line.split(b";", 1)[0].strip()
                if not line.endswith(b"\n") or not _HEX.fullmatch(digits):
                    raise _Refused(400, "Malformed chunked body: a chunk size line is invalid.")
                digits = digits.lstrip(b"0")
                size = int(digits or b"0", 16) if len(digits) <= 8 else MAX_BODY_BYTES + 1
                total += size
                if total > MAX_BODY_BYTES:  # refused before the chunk is read
                    raise _Refused(413, f"The body is larger than {MAX_BODY_BYTES} bytes.")
                if size == 0:
                    break
                chunk = self.rfile.read(size)
                if len(chunk) < size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                    raise _Refused(400, "Malformed chunked body: a chunk is truncated.")
                chunks.append(chunk)
            trailer = 0
            while True:  # the trailer section, discarded
                line = self.rfile.readline(MAX_HEADER_BYTES + 1)
                if not line.endswith(b"\n"):
                    raise _Refused(400, "Malformed chunked body: the trailer section is invalid.")
                if line in (b"\r\n", b"\n"):
                    return b"".join(chunks)
                trailer += len(line)
                if trailer > MAX_HEADER_BYTES:
                    raise _Refused(431, f"The trailer fields are larger than {MAX_HEADER_BYTES} bytes.")

        # -- answering --------------------------------------------------------------------------

        def _dispatch(self) -> None:
            started = time.monotonic()
            if not _TOKEN.fullmatch(self.command or ""):
                self.send_error(400, explain="The request method is not a valid token.")
                return
            try:
                body = self._read_body()
            except _Refused as refused:
                self.send_error(refused.status, explain=refused.detail)
                return
            path = urlsplit(self.path).path
            headers = list(self.headers.items())
            if self.headers.get("Host") is None:  # HTTP/1.0: API Gateway's events always have one
                headers.append(("Host", "{}:{}".format(*self.connection.getsockname()[:2])))
            try:
                response = gateway.handle(self.command, self.path, headers, body)
            except Exception:
                log.exception("gateway error")
                response = problem(500, "internal-error", "The local gateway failed.", instance=path)
            self._write(response)
            gateway.run_after(response)
            self._log(path, response.status, started, response.function)

        def _write(self, response: Response, *, close: bool = False) -> None:
            self.send_response(response.status)
            for name, value in response.headers:
                self.send_header(name, value)
            if close:
                self.send_header("Connection", "close")
            bodiless = response.status < 200 or response.status in (204, 304)
            if not bodiless:
                length = len(response.body)
                if self.command == "HEAD" and response.head_length is not None:
                    length = response.head_length
                self.send_header("Content-Length", str(length))
            self.end_headers()
            if self.command != "HEAD" and not bodiless:
                self.wfile.write(response.body)
            self.wfile.flush()

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """Every error the standard library answers itself (400 bad request line, 414, 431,
            505...), and the gateway's own refusals: problem+json, then the connection is closed."""
            started = time.monotonic()
            if self.request_version == "HTTP/0.9":
                self.request_version = "HTTP/1.0"  # answer with a status line and headers all the same
            request_id = str(uuid.uuid4())
            target = self.path if self.command and len(self.path) <= MAX_URL_BYTES else ""
            try:
                path = urlsplit(target).path
            except ValueError:
                path = ""
            if not path.startswith("/"):
                path = ""
            detail = explain or message or HTTPStatus(code).description
            slug = _SLUGS.get(code) or HTTPStatus(code).phrase.lower().replace(" ", "-")
            response = problem(
                code,
                slug,
                detail[:500],
                instance=path or f"urn:uuid:{request_id}",
                headers=[("x-amzn-RequestId", request_id)],
            )
            self.close_connection = True
            try:
                self._write(response, close=True)
                self._linger()
            except OSError:
                pass  # the client is gone
            self._log(path or "-", code, started, None)

        def _linger(self) -> None:
            """Half-close, then discard what the client still sends (an unread body), for at most
            LINGER_S: closing with unread data would reset the connection, and the client could
            lose the answer."""
            self.connection.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + LINGER_S
            while (remaining := deadline - time.monotonic()) > 0:
                self.connection.settimeout(remaining)
                if not self.connection.recv(65536):
                    break

        def _log(self, path: str, status: int, started: float, function: str | None) -> None:
            kv(
                log,
                logging.INFO,
                "request",
                method=(self.command or "-")[:20],
                path=path[:200],
                status=status,
                ms=round((time.monotonic() - started) * 1000, 1),
                function=function,
            )

        def log_message(self, format: str, *args: Any) -> None:
            return  # one structured line per request is logged by _dispatch and send_error

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            # A client that went away mid-request is not the gateway's error: no traceback.
            if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
                log.debug("client connection lost")
                return
            log.exception("connection handling failed")

    return Server((host, port), RequestHandler)
