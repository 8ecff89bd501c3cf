"""Invoke the stack's operator functions locally, as ``aws lambda invoke`` does in AWS.

The local gateway answers Lambda's Invoke API for the scheduled functions and queue workers
(``POST /2015-03-31/functions/<name>/invocations``), so the runbook's commands work against
``make run`` too:

    aws lambda invoke --endpoint-url http://127.0.0.1:8000 --function-name audit_verify \\
        --payload '{"ticket": "TCK-42"}' --cli-binary-format raw-in-base64-out /dev/stdout

or, without the AWS CLI, ``make invoke FN=audit_verify PAYLOAD='{"ticket": "TCK-42"}'`` (this
module's ``main``). A function is named by its folder (``audit_verify``), its deployed-style
name (``ticketing-audit-verify``) or an ARN ending in either. As in Lambda, a function that
raises answers 200 with ``X-Amz-Function-Error: Unhandled`` and ``{errorMessage, errorType}``.
The endpoint is the local stack's only: in AWS, Lambda's own API (and IAM) does this.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

from local import lambdas
from shared.runtime.catalog import OPERATORS, SCHEDULED, WORKERS, FunctionSettings

PATH = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")


def invocable() -> dict[str, FunctionSettings]:
    """The functions an operator may invoke directly, by folder name."""
    functions = {s.function: s.settings for s in (*SCHEDULED, *WORKERS, *OPERATORS)}
    return functions


def resolve_name(name: str) -> str | None:
    """The folder name for ``name`` (folder, ``ticketing-…`` name or ARN), if it is invocable."""
    bare = name.rsplit(":function:", 1)[-1].split(":", 1)[0]
    for function in invocable():
        if bare in (function, lambdas.context(function).function_name):
            return function
    return None


def invoke(name: str, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
    """Lambda's Invoke API, synchronous (RequestResponse): status, headers, body."""
    function = resolve_name(name)
    if function is None:
        return _error(404, "ResourceNotFoundException", f"Function not found: {name}")
    try:
        payload = json.loads(body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return _error(400, "InvalidRequestContentException", "Could not parse request body into json")
    settings = invocable()[function]
    headers = [("Content-Type", "application/json"), ("X-Amz-Executed-Version", "$LATEST")]
    try:
        result = lambdas.load(function)(payload, lambdas.context(function, settings))
    except Exception as exc:  # what Lambda reports for an unhandled error
        error = {"errorMessage": str(exc), "errorType": type(exc).__name__}
        return 200, [*headers, ("X-Amz-Function-Error", "Unhandled")], json.dumps(error).encode()
    return 200, headers, json.dumps(result, default=str).encode()


def _error(status: int, kind: str, message: str) -> tuple[int, list[tuple[str, str]], bytes]:
    body = json.dumps({"Type": "User", "message": message}).encode()
    return status, [("Content-Type", "application/json"), ("x-amzn-ErrorType", kind)], body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Invoke an operator function of the running local stack.")
    parser.add_argument("function", help="e.g. audit_verify, outbox_relay")
    parser.add_argument("payload", nargs="?", default="{}", help="the JSON event (default {})")
    parser.add_argument("--url", default=f"http://127.0.0.1:{os.environ.get('PORT') or 8000}")
    args = parser.parse_args(argv)
    try:
        json.loads(args.payload)
    except ValueError:
        print(f"the payload is not JSON: {args.payload}", file=sys.stderr)
        return 2
    if not args.url.startswith(("http://", "https://")):
        print(f"--url must be http(s): {args.url}", file=sys.stderr)
        return 2
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
        f"{args.url.rstrip('/')}/2015-03-31/functions/{quote(args.function, safe='')}/invocations",
        data=args.payload.encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=900) as response:  # noqa: S310 - our own URL
            failed = response.headers.get("X-Amz-Function-Error") is not None
            result: Any = json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        print(exc.read().decode(errors="replace"), file=sys.stderr)
        return 1
    except urllib.error.URLError as exc:
        print(
            f"cannot reach the local stack at {args.url} ({exc.reason}); is `make run` up?", file=sys.stderr
        )
        return 1
    print(json.dumps(result, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
