"""Property-based testing of the whole API against its own document (schemathesis).

The local stack serves ``/openapi.json``; ``st run`` generates requests from it for every operation,
valid and invalid, and checks every answer with all of its checks: valid requests are accepted,
invalid ones refused, responses (statuses, media types, bodies, headers) are the documented ones,
unsupported methods are 405 with Allow, auth is enforced. It runs once as a tenant user and once as
a platform operator, bounded (``MAX_EXAMPLES`` per operation, a fixed seed) so that it stays a test.
``schemathesis.toml`` (the repository root) holds the per-operation allowances for state the schema
cannot see, with their reasons; a fuller run by hand: ``make fuzz``.

This module is also the run's hooks module (``hooks`` in ``schemathesis.toml``): see
``before_call``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis

from shared.http.openapi import IDEMPOTENCY_KEY_PATTERN
from shared.http.writes import IF_MATCH_PATTERN
from shared.intake.pagerduty import ROUTING_KEY_PATTERN

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
MAX_EXAMPLES = 25
SEED = 20261202
# The bounded run takes about a minute on two cores, both principals side by side.
TIMEOUT_S = 600
PRINCIPALS = {
    "tenant_user": {"sub": "fuzz-alice", "tenant": "acme", "roles": "tenant_user"},
    "platform_operator": {"sub": "fuzz-olga", "tenant": "", "roles": "platform_operator"},
}
# Where schemathesis.toml reads the bearer token from.
TOKEN_VARIABLE = "TICKETING_FUZZ_TOKEN"
# The routing key of the integration the run sends POST /v2/enqueue events through (before_call).
ROUTING_KEY_VARIABLE = "TICKETING_FUZZ_ROUTING_KEY"
# Who creates that integration (platform admins create integrations), and its tenant.
INTEGRATION_ADMIN = {"sub": "fuzz-pat", "tenant": "", "roles": "platform_admin"}
FUZZ_TENANT = "fuzz-intake"
CONFIG = ROOT / "schemathesis.toml"
# The bounded run's changes to schemathesis.toml, for time only (what is checked is the same):
# - values captured from earlier responses make the fuzzing phase's generation several times slower
#   here (over a minute instead of about ten seconds on two cores); the coverage and stateful
#   phases still send real ticket ids, and the fuzzing phase's bodies are judged before the ticket
#   is looked up;
# - Hypothesis' "too slow" health check measures how fast data is generated on this machine, which
#   says nothing about the API and fails at random on a busy two-core host.
BOUNDED_TOP = 'suppress-health-check = ["too_slow"]\n\n'
BOUNDED_TABLES = "\n[phases.fuzzing.extra-data-sources]\nresponses = false\n"

_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
_IF_MATCH = re.compile(IF_MATCH_PATTERN)
_ROUTING_KEY = re.compile(ROUTING_KEY_PATTERN)
_JSON = re.compile(r"^application/json\s*(;|$)", re.IGNORECASE)


def _sets_out_to_break(case: Any, header: str) -> bool:
    """Whether ``case`` is a negative case made to send an invalid ``header``."""
    data = case.meta.phase.data if case.meta is not None else None
    if data is None:
        return False
    return getattr(data, "parameter", None) == header or any(
        mutation.parameter == header for mutation in getattr(data, "mutations", ())
    )


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Three corrections to generated requests, each keeping them what schemathesis meant them to be.

    - Each valid Idempotency-Key is made unique to its request (still 1-255 visible ASCII
      characters). A key is one request's by contract, and a key reused with another request is a
      422 the server must give; a generator that draws "0" twice is not a client reusing a key.
    - An invalid If-Match in a case not made to break If-Match becomes ``*`` (valid: no check).
      Schemathesis 4.32's coverage phase cannot draw a valid value for a header whose pattern needs
      characters other than letters and digits (an entity tag is quoted), so it builds its cases on
      one of its invalid values (0) and labels them positive: every PATCH and transition it sent
      was refused for the header, and the bodies it meant to test were never judged.
    - A well-formed routing key in a POST /v2/enqueue event becomes the run's integration's key
      (``ROUTING_KEY_VARIABLE``). A key is valid only when the service issued it, which no schema
      can say; with a drawn one every event would be refused for its key, and the event itself
      never judged. Content-Type probes keep their drawn key: the route reads any media type as
      JSON (monitoring tools send all sorts), which the document cannot say either.
    """
    headers = case.headers or {}
    routing_key = os.environ.get(ROUTING_KEY_VARIABLE)
    body = case.body
    if (
        routing_key
        and case.method.upper() == "POST"
        and case.path == "/v2/enqueue"
        and isinstance(body, dict)
        and isinstance(body.get("routing_key"), str)
        and _ROUTING_KEY.match(body["routing_key"])
        and _JSON.match(str(headers.get("Content-Type") or case.media_type or "application/json"))
    ):
        body["routing_key"] = routing_key
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and _IDEMPOTENCY_KEY.match(key):
        headers["Idempotency-Key"] = f"{key}.{uuid.uuid4().hex}"[-255:]
    if_match = headers.get("If-Match")
    valid = isinstance(if_match, str) and _IF_MATCH.match(if_match)
    if if_match is not None and not valid and not _sets_out_to_break(case, "If-Match"):
        headers["If-Match"] = "*"


@dataclass
class Run:
    """One principal's ``st run``: its exit status, output and the document's operation count."""

    principal: str
    returncode: int
    output: str
    operations: int
    seconds: float

    @property
    def summary(self) -> str:
        at = self.output.rfind("=== SUMMARY ===")
        return self.output[at:] if at >= 0 else self.output[-3000:]

    @property
    def phases(self) -> str:
        """Each phase's time, and how many cases were generated."""
        times = re.findall(r"(Examples|Coverage|Fuzzing|Stateful) \(in ([0-9.]+)s\)", self.output)
        cases = re.findall(r"[0-9]+ generated", self.output)
        return ", ".join([*(f"{phase} {float(t):.0f} s" for phase, t in times), *cases[-1:]])

    @property
    def every_operation_tested(self) -> bool:
        return f"Tested: {self.operations}" in self.summary


def st_command(
    document: Path, url: str, config: Path, *, max_examples: int, seed: int | None, extra: list[str]
) -> list[str]:
    """``st run`` over every operation of ``document``, with every check, against ``url``.

    The document is read from a file: schemathesis leaves out the operation that served it when it
    loads it over HTTP, and /openapi.json is an operation to test too. The token comes from the
    environment (``TOKEN_VARIABLE``), through schemathesis.toml. ``Connection: close``: the local
    gateway answers a request on a kept-alive connection some 40 ms late (its response goes out in
    two writes, and Nagle's algorithm waits for the client's delayed ACK), which would make the run
    several times slower; a new connection per request costs under a millisecond.
    """
    return [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        str(document),
        "--url",
        url,
        "--checks",
        "all",
        "--max-examples",
        str(max_examples),
        *(["--seed", str(seed)] if seed is not None else []),
        "--header",
        "Connection: close",
        *extra,
    ]


def bounded_config(workdir: Path) -> Path:
    """schemathesis.toml with the bounded run's changes (``BOUNDED_TOP``, ``BOUNDED_TABLES``)."""
    config = workdir / "schemathesis.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(BOUNDED_TOP + CONFIG.read_text(encoding="utf-8") + BOUNDED_TABLES, encoding="utf-8")
    return config


def fuzz_integration(url: str, admin_token: str) -> str:
    """The routing key of a new integration for the run's events (tenant ``FUZZ_TENANT``, which
    nothing else uses), with a limit no run reaches."""
    created = requests.post(
        f"{url}/integrations",
        headers={"Authorization": f"Bearer {admin_token}"},
        json={
            "name": f"schemathesis {uuid.uuid4().hex[:8]}",
            "tenant_id": FUZZ_TENANT,
            "rate_limit_per_minute": 100_000,
        },
        timeout=30,
    )
    created.raise_for_status()
    key: str = created.json()["routing_key"]
    return key


def run_schemathesis(
    url: str,
    tokens: dict[str, str],
    workdir: Path,
    *,
    max_examples: int,
    seed: int | None,
    routing_key: str,
    config: Path = CONFIG,
    extra: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    timeout: float | None = TIMEOUT_S,
) -> list[Run]:
    """One ``st run`` per principal (name → token), side by side, against the stack at ``url``;
    POST /v2/enqueue events go through ``routing_key``'s integration."""
    started: list[tuple[str, str, int, float, subprocess.Popen[str]]] = []
    for principal, token in tokens.items():
        served = requests.get(f"{url}/openapi.json", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        served.raise_for_status()
        document = workdir / principal / "openapi.json"
        document.parent.mkdir(parents=True, exist_ok=True)
        document.write_text(served.text, encoding="utf-8")
        operations = sum(len(item) for item in served.json()["paths"].values())
        options = [*extra, "--report", "junit", "--report-dir", str(workdir / principal / "report")]
        command = st_command(document, url, config, max_examples=max_examples, seed=seed, extra=options)
        process = subprocess.Popen(
            command,
            cwd=ROOT,  # schemathesis.toml, and this module as its hooks
            env={
                **(env if env is not None else os.environ),
                TOKEN_VARIABLE: token,
                ROUTING_KEY_VARIABLE: routing_key,
                "NO_COLOR": "1",
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append((principal, token, operations, time.monotonic(), process))
    runs = []
    for principal, token, operations, began, process in started:
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        seconds = time.monotonic() - began
        runs.append(Run(principal, process.returncode, output.replace(token, "[token]"), operations, seconds))
    return runs


def intake_tickets(url: str, token: str, wait_s: float = 60.0) -> int:
    """Tickets of ``FUZZ_TENANT`` (only the run's integration opens any), once there are some: the
    local stack's intake worker polls its queue."""
    deadline = time.monotonic() + wait_s
    while True:
        found = requests.get(
            f"{url}/tickets",
            params={"tenant_id": FUZZ_TENANT, "limit": 1},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        found.raise_for_status()
        count = len(found.json()["items"])
        if count or time.monotonic() > deadline:
            return count
        time.sleep(1)


def test_the_api_does_what_its_document_says(stack: Any, tmp_path: Path) -> None:
    tokens = {principal: stack.token(ttl=3600, **claims) for principal, claims in PRINCIPALS.items()}
    routing_key = fuzz_integration(stack.url, stack.token(ttl=600, **INTEGRATION_ADMIN))
    config = bounded_config(tmp_path)
    runs = run_schemathesis(
        stack.url,
        tokens,
        tmp_path,
        max_examples=MAX_EXAMPLES,
        seed=SEED,
        routing_key=routing_key,
        config=config,
        env=stack.env,
    )
    for run in runs:
        print(f"{run.principal}: {run.seconds:.0f} s, {run.phases}")  # shown with -rP
        assert run.returncode == 0, (
            f"schemathesis found problems as {run.principal} ({run.seconds:.0f} s):\n{run.output[-20000:]}"
        )
        assert run.every_operation_tested, (
            f"not every operation was tested as {run.principal}:\n{run.summary}"
        )
    # The events schemathesis sent with the run's routing key were judged, queued and turned into
    # incidents of the integration's tenant by the intake worker, not all refused for their key.
    assert intake_tickets(stack.url, tokens["platform_operator"]) > 0


def main(argv: list[str] | None = None) -> int:
    """``make fuzz``: a fuller run against the running local stack (``make run``), as both principals."""
    parser = argparse.ArgumentParser(prog="tests.e2e.test_fuzz", description=main.__doc__)
    parser.add_argument("--url", default=f"http://127.0.0.1:{os.environ.get('PORT') or 8000}")
    parser.add_argument("--examples", type=int, default=200, help="test cases per operation (default 200)")
    parser.add_argument("--seed", type=int, default=None, help="replay a run (default: a new seed)")
    parser.add_argument("--out", type=Path, default=ROOT / ".local" / "fuzz", help="documents and reports")
    parser.add_argument("st_options", nargs="*", help="more options for st run (after --)")
    args = parser.parse_args(argv)

    def mint(claims: dict[str, str]) -> str:
        token_options = ["--sub", claims["sub"], "--tenant", claims["tenant"], "--roles", claims["roles"]]
        minted = subprocess.run(
            [sys.executable, "-m", "local.token", *token_options, "--ttl", "7200"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        return minted.stdout.strip().splitlines()[-1]

    tokens = {principal: mint(claims) for principal, claims in PRINCIPALS.items()}
    runs = run_schemathesis(
        args.url,
        tokens,
        args.out,
        max_examples=args.examples,
        seed=args.seed,
        routing_key=fuzz_integration(args.url, mint(INTEGRATION_ADMIN)),
        extra=tuple(args.st_options),
        timeout=None,
    )
    for run in runs:
        print(f"==== as {run.principal} ({run.seconds:.0f} s, exit {run.returncode}) ====\n{run.output}")
    return max(run.returncode for run in runs)


if __name__ == "__main__":
    raise SystemExit(main())
