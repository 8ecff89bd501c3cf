"""A local stand-in for API Gateway (REST): the same route table, authorizer and proxy events.

For each request: find the route (``shared.routes.ROUTES``) by method and path template; run
``functions/authorizer`` with a TOKEN (default) or REQUEST event for routes with ``auth=True``
(401 when it raises ``Unauthorized``, 403 when its policy does not allow the method ARN); build
the REST proxy event (``local.events.api_gateway_event``) with ``requestContext.authorizer`` as
API Gateway fills it; invoke ``functions.<name>.handler.handler``; write the proxy response.

Handlers run on a small pool of long-lived threads, as warm Lambda containers would: each
keeps its own database connection across requests.

It also answers Lambda's Invoke API for the operator functions (``local.invoke``), so that the
runbook's ``aws lambda invoke`` commands work locally.

Requests are logged one line each (method, path, status, ms): never tokens, bodies or query
strings.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import json
import logging
import time
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


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    function: str | None = None
    # Work the handler deferred until after its response (shared.after_response).
    after: list[after_response.Task] = field(default_factory=list)


def problem(
    status: int, slug: str, detail: str, *, instance: str, headers: list[tuple[str, str]] | None = None
) -> Response:
    title = HTTPStatus(status).phrase
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


def resolve(method: str, path: str) -> tuple[Route | None, list[str]]:
    """The route for method + path (literal segments win over parameters), and the methods the path has."""
    candidates = [route for route in ROUTES if match_path(route.path, path) is not None]
    allowed = sorted({route.method for route in candidates})
    matching = sorted((r for r in candidates if r.method == method), key=lambda r: r.path.count("{"))
    return (matching[0] if matching else None), allowed


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


class Gateway:
    def __init__(self, *, authorizer_event: str = "TOKEN", max_workers: int = 8) -> None:
        if authorizer_event not in ("TOKEN", "REQUEST"):
            raise ValueError("authorizer_event is TOKEN or REQUEST")
        self.authorizer_event = authorizer_event
        # Handler threads are hosts for after-response work: the server runs it once the
        # response is written, as Lambda's extension does after API Gateway has its answer.
        self.pool = ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="lambda", initializer=after_response.host_this_thread
        )

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
        def invoke() -> tuple[Any, list[after_response.Task]]:
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


def make_server(host: str, port: int, gateway: Gateway) -> ThreadingHTTPServer:
    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "ticketing-local"

        def _dispatch(self) -> None:
            started = time.monotonic()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            path = urlsplit(self.path).path
            try:
                response = gateway.handle(self.command, self.path, list(self.headers.items()), body)
            except Exception:
                log.exception("gateway error")
                response = problem(500, "internal-error", "The local gateway failed.", instance=path)
            self.send_response(response.status)
            for name, value in response.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
            self.wfile.flush()
            gateway.run_after(response)
            kv(
                log,
                logging.INFO,
                "request",
                method=self.command,
                path=path,
                status=response.status,
                ms=round((time.monotonic() - started) * 1000, 1),
                function=response.function,
            )

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _dispatch

        def log_message(self, format: str, *args: Any) -> None:
            return  # one structured line per request is logged by _dispatch

    server = ThreadingHTTPServer((host, port), RequestHandler)
    server.daemon_threads = True
    return server
