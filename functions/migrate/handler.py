"""Custom resource handler (Provider framework): apply migrations on Create and Update.

CloudFormation sends Create on the first deploy and Update whenever the ``MigrationsHash``
property changes. Delete is a no-op: removing the stack must never drop the schema. An error
is raised, not swallowed: the provider framework reports it as FAILED with the message and the
deploy rolls back.

Invoking this function by hand with ``{"RequestType": "Update"}`` re-applies pending migrations.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from shared import aws, db
from shared.db import migrate
from shared.observability import logger

PHYSICAL_ID = "ticketing-migrations"
DEFAULT_MIGRATIONS_DIR = Path(__file__).resolve().parent.parent.parent / "migrations"


class MigrateSettings(BaseModel):
    """The function's environment, read on invocation (never at import)."""

    model_config = ConfigDict(frozen=True)

    master_secret_arn: str
    app_secret_arn: str
    migrate_db_host: str
    migrate_db_port: int = 5432
    migrate_db_name: str = "ticketing"
    db_sslmode: str = "require"
    migrations_dir: Path = DEFAULT_MIGRATIONS_DIR

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MigrateSettings:
        env = os.environ if env is None else env
        return cls.model_validate(
            {name: env[name.upper()] for name in cls.model_fields if name.upper() in env}
        )


def read_secret(arn: str) -> dict[str, Any]:
    """The current JSON of a Secrets Manager secret (not cached: rotation changes it)."""
    value = aws.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
    secret: dict[str, Any] = json.loads(value)
    return secret


def run(
    settings: MigrateSettings, *, secret_reader: Callable[[str], dict[str, Any]] | None = None
) -> list[str]:
    reader = secret_reader or read_secret
    master = reader(settings.master_secret_arn)
    app = reader(settings.app_secret_arn)
    dsn = db.secret_conninfo(
        master,
        host=settings.migrate_db_host,
        port=settings.migrate_db_port,
        dbname=settings.migrate_db_name,
        sslmode=settings.db_sslmode,
        application_name="ticketing-migrate",
        connect_timeout=10,
    )
    return migrate.apply(dsn, settings.migrations_dir, app_password=app["password"])


def handler(event: Mapping[str, Any], context: object) -> dict[str, Any]:
    request_type = event.get("RequestType", "Update")
    physical_id = event.get("PhysicalResourceId") or PHYSICAL_ID
    if request_type == "Delete":
        logger.info("migrations: delete is a no-op", extra={"physical_id": physical_id})
        return {"PhysicalResourceId": physical_id}
    applied = run(MigrateSettings.from_env())
    logger.info("migrations applied", extra={"request_type": request_type, "applied": applied})
    return {"PhysicalResourceId": physical_id, "Data": {"Applied": ",".join(applied) or "none"}}
