"""``POST /v2/enqueue`` to the ticket being visible through ``GET /tickets?dedup_key=`` on the
local stack (issue 10 §8; target p99 ≤ 2 s).

Starts ``make run``'s stack (``python -m local.run``) on a free port with its own embedded
PostgreSQL data directory (``.local/pgdata-bench-enqueue``, fresh each run) unless ``--url`` names
a running one, creates an integration as a platform admin, then sends ``--events`` triggers, one
at a time, each with a new dedup key, and polls ``GET /tickets?dedup_key=<key>`` every
``--poll-ms`` until the ticket is there. The figure is the time from sending the request to the
first poll that sees the ticket: the route (validate, rate-limit, outbox row, 202), the
post-commit send to the intake queue, the worker's poll of its queue (the local stack polls every
tenth of a second, as SQS long polling hands Lambda a message at once) and the worker's transaction.

    .venv/bin/python -m bench.enqueue_latency [--events 100] [--url http://127.0.0.1:8000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from bench import common

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".local" / "pgdata-bench-enqueue"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def token(env: dict[str, str], sub: str, roles: str, tenant: str = "") -> str:
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "local.token", "--sub", sub, "--tenant", tenant, "--roles", roles],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


@contextmanager
def local_stack(
    workdir: Path, *, database_url: str | None = None, data: Path = DATA
) -> Iterator[tuple[str, dict[str, str]]]:
    """``make run``'s stack on a free port: its own embedded PostgreSQL in ``data`` (fresh), or the
    database ``database_url`` (an admin URL) names."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "JWKS_", "JWT_"))}
    env.pop("DATABASE_URL", None)
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    else:
        shutil.rmtree(data, ignore_errors=True)
    env.update(
        PORT=str(_free_port()),
        TICKETING_JWT_DIR=str(workdir / "jwt"),
        TICKETING_PGDATA=str(data),
        XDG_RUNTIME_DIR=env.get("XDG_RUNTIME_DIR") or str(ROOT / ".local" / "runtime"),
        PYTHONUNBUFFERED="1",
        POWERTOOLS_LOG_LEVEL="WARNING",
    )
    url = f"http://127.0.0.1:{env['PORT']}"
    with (workdir / "console.log").open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "local.run"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"the local stack exited: see {workdir / 'console.log'}")
            try:
                if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the local stack was not ready within 120 s")
            time.sleep(0.3)
        yield url, env
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def measure(url: str, env: dict[str, str], *, events: int, poll_s: float) -> list[float]:
    session = requests.Session()
    admin = token(env, "pat", "platform_admin")
    ops = token(env, "olga", "platform_operator")
    created = session.post(
        f"{url}/integrations",
        # above the default 120 a minute, so the probes are not throttled
        json={
            "name": "bench latency",
            "tenant_id": "acme",
            "category": "pipeline_failure",
            "rate_limit_per_minute": 6000,
        },
        headers={"Authorization": f"Bearer {admin}"},
        timeout=30,
    )
    if created.status_code != 201:
        raise SystemExit(f"creating the integration: {created.status_code} {created.text}")
    routing_key = created.json()["routing_key"]
    latencies: list[float] = []
    for i in range(events):
        key = f"bench-latency-{uuid.uuid4().hex[:12]}"
        started = time.perf_counter()
        answer = session.post(
            f"{url}/v2/enqueue",
            json={
                "routing_key": routing_key,
                "event_action": "trigger",
                "dedup_key": key,
                "payload": {"summary": f"latency probe {i}", "source": "bench", "severity": "error"},
            },
            timeout=30,
        )
        if answer.status_code != 202:
            raise SystemExit(f"/v2/enqueue answered {answer.status_code}: {answer.text}")
        while True:
            found = session.get(
                f"{url}/tickets",
                params={"dedup_key": key},
                headers={"Authorization": f"Bearer {ops}"},
                timeout=30,
            )
            if found.status_code == 200 and found.json()["items"]:
                break
            if time.perf_counter() - started > 30:
                raise SystemExit(f"the ticket for {key} was not visible within 30 s")
            time.sleep(poll_s)
        latencies.append(time.perf_counter() - started)
    return latencies


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--poll-ms", type=int, default=20)
    parser.add_argument("--url", help="a running local stack (its tokens: make token); default: start one")
    args = parser.parse_args(argv)
    load = common.machine_load()
    print(f"load average before the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    workdir = ROOT / ".local" / "bench-enqueue"
    workdir.mkdir(parents=True, exist_ok=True)
    if args.url:
        latencies = measure(args.url, dict(os.environ), events=args.events, poll_s=args.poll_ms / 1000)
    else:
        with local_stack(workdir) as (url, env):
            latencies = measure(url, env, events=args.events, poll_s=args.poll_ms / 1000)
    p50, p99 = common.percentile(latencies, 50), common.percentile(latencies, 99)
    print(
        f"/v2/enqueue → visible in GET /tickets?dedup_key=: {len(latencies)} events,"
        f" p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms;"
        f" target p99 <= 2000 ms: {'met' if p99 <= 2 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
