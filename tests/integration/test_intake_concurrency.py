"""Workers racing on the same fingerprints (issue 10 §4): the partial unique index holds one open
ticket per fingerprint under concurrency, and every event is counted exactly once."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

from shared import db
from shared.auth import Principal
from shared.intake.model import IntakeEvent
from shared.intake.service import IntakeSettings, ingest

WORKERS = 6
EVENTS_PER_WORKER = 15
FINGERPRINTS = 3


def event(key: str) -> IntakeEvent:
    return IntakeEvent(
        event_id=str(uuid.uuid4()),
        source="platform.runtime",
        detail_type="Job Failed",
        tenant_id="acme",
        dedup_key=key,
        summary=f"{key} failed",
        severity="error",
        occurred_at=datetime.now(UTC),
        category="pipeline_failure",
        priority="high",
    )


def test_racing_workers_open_one_ticket_per_fingerprint_and_count_every_event(database):
    barrier = threading.Barrier(WORKERS)
    errors: list[BaseException] = []
    principal = Principal.system("intake")

    def work(n: int) -> None:
        try:
            barrier.wait()
            for i in range(EVENTS_PER_WORKER):
                with db.transaction(principal) as uow:
                    ingest(
                        uow,
                        event(f"job:{(n + i) % FINGERPRINTS}"),
                        now=datetime.now(UTC),
                        settings=IntakeSettings(),
                    )
        except BaseException as exc:
            errors.append(exc)
        finally:
            db.close_all()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with database.admin() as conn:
        rows = conn.execute(
            "SELECT dedup_key, count(*) AS tickets, sum(occurrence_count) AS counted FROM ticket"
            " GROUP BY dedup_key"
        ).fetchall()
        logged = conn.execute("SELECT count(*) AS n FROM intake_event").fetchone()["n"]
    assert len(rows) == FINGERPRINTS
    assert all(r["tickets"] == 1 for r in rows)
    assert sum(r["counted"] for r in rows) == WORKERS * EVENTS_PER_WORKER == logged
