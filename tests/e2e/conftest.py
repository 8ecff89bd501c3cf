"""The local stack (``python -m local.run``) as a subprocess, driven over HTTP.

The stack gets a free port, its own signing keys (a temporary TICKETING_JWT_DIR) and its own
database: an embedded PostgreSQL under ``.local/pgdata-e2e-<worker>``, or, when
``TEST_DATABASE_URL`` is set, a fresh database on that server (dropped afterwards). Tokens are
minted with ``python -m local.token``, exactly as ``make token`` does. The stack is always
terminated (SIGTERM, then SIGKILL), and its console is shown when it fails to start.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / ".local"
START_TIMEOUT_S = 90


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Stack:
    url: str
    env: dict[str, str]
    console: Path
    early_token: str = ""  # minted before the stack started (the key was created by local.token)

    def token(self, sub: str, tenant: str = "", roles: str = "tenant_user", ttl: int = 600) -> str:
        """A token from ``python -m local.token``: the last line of its output."""
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "local.token",
                "--sub",
                sub,
                "--tenant",
                tenant,
                "--roles",
                roles,
                "--ttl",
                str(ttl),
            ],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        lines = done.stdout.strip().splitlines()
        assert lines, done.stderr
        return lines[-1]

    def console_lines(self) -> list[str]:
        try:
            return self.console.read_text(errors="replace").splitlines()
        except OSError:
            return []

    def console_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.console.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no console output)"


@dataclass
class _ExternalDb:
    server_url: str
    name: str

    @property
    def url(self) -> str:
        return make_conninfo("", **{**conninfo_to_dict(self.server_url), "dbname": self.name})

    def create(self) -> None:
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))

    def drop(self) -> None:
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    workdir = tmp_path_factory.mktemp("e2e-stack")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "JWKS_", "JWT_"))}
    env.pop("DATABASE_URL", None)
    env.update(
        PORT=str(_free_port()),
        TICKETING_JWT_DIR=str(workdir / "jwt"),
        XDG_RUNTIME_DIR=env.get("XDG_RUNTIME_DIR") or str(LOCAL / "runtime"),
        PYTHONUNBUFFERED="1",
    )
    Path(env["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)
    external: _ExternalDb | None = None
    if os.environ.get("TEST_DATABASE_URL"):
        external = _ExternalDb(
            os.environ["TEST_DATABASE_URL"], f"ticketing_e2e_{worker}_{uuid.uuid4().hex[:8]}"
        )
        external.create()
        env["DATABASE_URL"] = external.url
        # The app role is cluster-wide: keep the password the integration tests give it.
        env["TICKETING_APP_PASSWORD"] = "ticketing_app"
    else:
        LOCAL.mkdir(exist_ok=True)
        env["TICKETING_PGDATA"] = str(LOCAL / f"pgdata-e2e-{worker}")

    console = workdir / "console.log"
    url = f"http://127.0.0.1:{env['PORT']}"
    running = Stack(url=url, env=env, console=console)
    running.early_token = running.token("early", tenant="acme", roles="tenant_user")
    with console.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "local.run"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the local stack exited with {proc.returncode}:\n{running.console_tail()}")
            try:
                if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the local stack was not ready within {START_TIMEOUT_S}s:\n{running.console_tail()}"
                )
            time.sleep(0.3)
        yield running
    finally:
        _stop(proc)
        if external is not None:
            external.drop()


@pytest.fixture(scope="session")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


Call = Callable[..., requests.Response]


@pytest.fixture(scope="session")
def call(stack: Stack, http: requests.Session) -> Call:
    """``call(method, path, token=None, **requests_kwargs)`` against the stack."""

    def _call(method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return http.request(method, f"{stack.url}{path}", headers=headers, timeout=30, **kwargs)

    return _call
