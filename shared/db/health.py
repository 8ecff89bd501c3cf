"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from shared import db
from shared.kernel.errors import ServiceUnavailable

READY = "SELECT to_regclass('public.ticket') IS NOT NULL AS migrated"


def readiness() -> dict[str, Any]:
    """Ready when the database answers and the schema is migrated; else ServiceUnavailable."""
    with db.translate_errors():
        row = db.connection().execute(READY).fetchone()
    if not row or not row["migrated"]:
        raise ServiceUnavailable("The database is reachable but not migrated.")
    return {"status": "ready", "checks": {"database": "ok"}}
