"""``make run``: the whole service on this machine, with the same handlers as in AWS.

- PostgreSQL: embedded (``TICKETING_PGDATA``, default ``.local/pgdata``) unless ``DATABASE_URL``
  is set, in which case it is the ADMIN url; migrations applied; handlers connect as
  ``ticketing_app`` (row-level security applies, as in AWS).
- AWS: moto's server on a free loopback port; the ticket bus, a tap queue that logs every
  published event, and one queue per worker.
- An HTTP gateway on ``127.0.0.1:$PORT`` (default 8000) that behaves like API Gateway REST with
  the Lambda authorizer; the local issuer's JWKS at ``/.well-known/jwks.json``.
- One scheduler thread for the scheduled functions, queue workers and the event tap.

Ctrl-C (or SIGTERM) stops it all; the embedded PostgreSQL is stopped too.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from local import pg
from local.logs import configure, kv

log = logging.getLogger("local.run")


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> int:
    configure(logging.DEBUG if os.environ.get("LOCAL_DEBUG") else logging.INFO)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, _raise_interrupt)  # also when started in the background (SIGINT ignored)
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT") or 8000)
    started = time.monotonic()

    # Defaults for the handlers' runtime, before anything reads them.
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "ticketing")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Ticketing")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")

    from local.gateway import Gateway, make_server

    gateway = Gateway(authorizer_event=os.environ.get("TICKETING_AUTHORIZER_EVENT", "TOKEN").upper())
    try:
        server = make_server(host, port, gateway)
    except OSError as exc:
        gateway.close()
        print(
            f"cannot listen on {host}:{port}: {exc.strerror} (set PORT=... to use another port)",
            file=sys.stderr,
        )
        return 1

    db: pg.Database | None = None
    aws = None
    scheduler = None
    try:
        from local.keys import ensure_signing_key, key_dir, local_verifier_env

        key = ensure_signing_key()
        os.environ.update(local_verifier_env())

        pgdata = Path(os.environ.get("TICKETING_PGDATA") or pg.DEFAULT_PGDATA).resolve()
        admin_url = os.environ.get("DATABASE_URL") or None
        app_password = os.environ.get("TICKETING_APP_PASSWORD") or pg.DEV_APP_PASSWORD
        db = pg.prepare(database_url=admin_url, pgdata=pgdata, app_password=app_password)
        os.environ["DATABASE_URL"] = db.app_url

        from shared import aws as shared_aws
        from shared.auth import tokens
        from shared.runtime import entrypoints

        tokens.reset()
        os.environ.setdefault("EVENT_BUS_NAME", "ticketing")
        os.environ.setdefault("EVENT_SOURCE", "ticketing")

        from local import aws as local_aws

        # Every declared resource gets its local counterpart and its variable (local/aws.py).
        aws = local_aws.start(bus_name=os.environ["EVENT_BUS_NAME"], event_source=os.environ["EVENT_SOURCE"])
        shared_aws.reset_clients()
        entrypoints.reset()
        gateway.aws_endpoint = aws.endpoint  # SigV4-signed requests to the gateway's port go to moto

        from local.scheduler import Scheduler

        scheduler = Scheduler(aws)
        scheduler.start()

        url = f"http://{host}:{server.server_address[1]}"
        where = f"pgdata={pgdata}" if db.embedded is not None else "from DATABASE_URL"
        print(
            "\n".join(
                [
                    "",
                    f"Ticketing local stack is up ({time.monotonic() - started:.1f}s)",
                    f"  API        {url}   (no token: {url}/healthz, {url}/readyz, POST {url}/v2/enqueue)",
                    "  Token      TOKEN=$(make -s token SUB=alice TENANT=acme ROLES=tenant_user | tail -1)"
                    "   (valid 1 hour; TTL=seconds)",
                    f'             curl -s -w "\\n" -H "Authorization: Bearer $TOKEN" {url}/tickets',
                    f'             curl -s -H "Authorization: Bearer $TOKEN" {url}/openapi.json',
                    f"  JWKS       {url}/.well-known/jwks.json   (iss=ticketing-local, aud=ticketing,"
                    f" kid={key.kid}, keys in {key_dir()})",
                    f"  Database   {db.description}   ({where})",
                    f"  AWS (moto) {aws.endpoint}   (bus={aws.bus_name}, published events are logged below)",
                    f"             or aws --endpoint-url {url} ...   (SigV4-signed requests go to moto)",
                    "  Ctrl-C stops everything.",
                    "",
                ]
            ),
            flush=True,
        )
        kv(log, logging.INFO, "ready", url=url)
        # From here on a signal asks the server to stop (from another thread, as shutdown() blocks)
        # instead of raising KeyboardInterrupt wherever the main thread happens to be.
        stopping = threading.Event()

        def _request_stop(signum: int, frame: FrameType | None) -> None:
            if not stopping.is_set():
                stopping.set()
                threading.Thread(target=server.shutdown, name="local-shutdown", daemon=True).start()

        signal.signal(signal.SIGTERM, _request_stop)
        signal.signal(signal.SIGINT, _request_stop)
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        log.info("stopping")
        server.server_close()
        if scheduler is not None:
            scheduler.stop()
        gateway.close()
        if aws is not None:
            aws.stop()
        if db is not None:
            db.stop()
        log.info("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
