"""One loop that drives, locally, what EventBridge schedules and SQS event source mappings drive in AWS.

- Scheduled functions (``shared.routes.SCHEDULED``) run at their ``rate(...)``, with the real
  scheduled-event shape. A function whose folder does not exist yet is skipped with a warning.
- Queue workers (``shared.routes.WORKERS``) get batches from their queues, and report partial
  batch failures: only the records not listed in ``batchItemFailures`` are deleted.
- Every event the service publishes on its bus reaches the "tap" queue; each is logged as one
  line (type and identifiers only, never the whole detail).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from local import lambdas
from local.aws import LocalAws
from local.events import scheduled_event, sqs_event_of
from local.logs import kv
from shared.runtime.catalog import SCHEDULED, WORKERS, QueueWorker, ScheduledFunction

log = logging.getLogger("local.scheduler")

_RATE = re.compile(r"^rate\(\s*(\d+)\s+(second|seconds|minute|minutes|hour|hours|day|days)\s*\)$")
_UNIT_S = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
MAX_BATCHES_PER_POLL = 20
_EVENT_FIELDS = ("ticket_id", "key", "tenant_id", "state", "from_state", "to_state", "version")


def parse_rate(expression: str) -> float | None:
    """Seconds between runs for ``rate(N unit)``; None for anything else (cron is not emulated)."""
    match = _RATE.match(expression.strip())
    if not match:
        return None
    count, unit = int(match.group(1)), match.group(2).rstrip("s")
    return float(count * _UNIT_S[unit]) if count > 0 else None


@dataclass
class _Job:
    spec: ScheduledFunction
    interval_s: float
    next_run: float


class Scheduler(threading.Thread):
    def __init__(
        self,
        aws: LocalAws | None,
        *,
        first_run_after_s: float = 5.0,
        tap_every_s: float = 2.0,
        workers_every_s: float = 0.1,
    ) -> None:
        super().__init__(name="local-scheduler", daemon=True)
        self.aws = aws
        self.stopping = threading.Event()
        self._first_run_after_s = first_run_after_s
        self._tap_every_s = tap_every_s
        self._workers_every_s = workers_every_s
        self._sqs: Any = None
        self._arns: dict[str, str] = {}  # queue URL → ARN (for the records' eventSourceARN)

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        if self.is_alive():
            self.join(timeout)

    # -- setup -------------------------------------------------------------------------------

    def jobs(self) -> list[_Job]:
        start = time.monotonic()
        jobs: list[_Job] = []
        for spec in SCHEDULED:
            interval = parse_rate(spec.schedule)
            if interval is None:
                kv(
                    log,
                    logging.WARNING,
                    "schedule not emulated",
                    function=spec.function,
                    schedule=spec.schedule,
                )
                continue
            if not lambdas.exists(spec.function):
                kv(log, logging.WARNING, "scheduled function missing, skipped", function=spec.function)
                continue
            jobs.append(_Job(spec, interval, start + min(interval, self._first_run_after_s)))
        return jobs

    def _client(self) -> Any:
        if self._sqs is None and self.aws is not None:
            import boto3

            self._sqs = boto3.session.Session().client("sqs", endpoint_url=self.aws.endpoint)
        return self._sqs

    # -- loop --------------------------------------------------------------------------------

    def run(self) -> None:
        jobs = self.jobs()
        for job in jobs:
            kv(log, logging.INFO, "scheduled", function=job.spec.function, every_s=int(job.interval_s))
        # Each worker polls its own queue in a thread of its own, as each has its own event source
        # mapping in AWS: a worker waiting on slow receivers (webhooks) never holds up the others.
        pollers = [
            threading.Thread(
                target=self._poll_forever, args=(worker,), name=f"local-{worker.function}", daemon=True
            )
            for worker in WORKERS
            if self.aws is not None
        ]
        for poller in pollers:
            poller.start()
        next_tap = time.monotonic()
        try:
            while not self.stopping.is_set():
                now = time.monotonic()
                for job in jobs:
                    if now >= job.next_run:
                        self.run_scheduled(job.spec)
                        job.next_run = max(job.next_run + job.interval_s, time.monotonic())
                if self.aws is not None and now >= next_tap:
                    self.drain_tap()
                    next_tap = now + self._tap_every_s
                self.stopping.wait(0.1)
        finally:
            for poller in pollers:
                poller.join(10)
            try:
                from shared.db import close_all

                close_all()
            except Exception:
                log.debug("closing scheduler connections failed", exc_info=True)

    def _poll_forever(self, worker: QueueWorker) -> None:
        try:
            while not self.stopping.is_set():
                # A full batch says more are waiting: take the next at once, as Lambda's pollers
                # scale out with the backlog.
                if self.poll_worker(worker) < worker.batch_size:
                    self.stopping.wait(self._workers_every_s)
        finally:
            try:
                from shared.db import close_all

                close_all()
            except Exception:
                log.debug("closing worker connections failed", exc_info=True)

    def run_scheduled(self, spec: ScheduledFunction) -> None:
        started = time.monotonic()
        try:
            handler = lambdas.load(spec.function)
            handler(scheduled_event(), lambdas.context(spec.function, spec.settings))
        except Exception:
            log.exception("scheduled function failed", extra={"fields": {"function": spec.function}})
            return
        kv(log, logging.DEBUG, "scheduled run", function=spec.function, ms=_ms(started))

    def poll_worker(self, worker: QueueWorker) -> int:
        """One batch from the worker's queue through its handler; how many records it held."""
        if self.aws is None or worker.function not in self.aws.worker_queue_urls:
            return 0
        if not lambdas.exists(worker.function):
            return 0
        sqs = self._client()
        url = self.aws.worker_queue_urls[worker.function]
        try:
            messages = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=min(worker.batch_size, 10),
                WaitTimeSeconds=0,
                MessageAttributeNames=["All"],
                AttributeNames=["All"],
            ).get("Messages", [])
        except Exception:
            log.exception(
                "receiving from a worker queue failed", extra={"fields": {"function": worker.function}}
            )
            return 0
        if not messages:
            return 0
        arn = self._arns.get(url)
        if arn is None:
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            self._arns[url] = arn
        event = sqs_event_of(messages, queue_arn=arn)
        started = time.monotonic()
        try:
            result = lambdas.load(worker.function)(event, lambdas.context(worker.function, worker.settings))
        except Exception:
            log.exception(
                "worker failed; the batch will be retried", extra={"fields": {"function": worker.function}}
            )
            return len(messages)
        failed = {f.get("itemIdentifier") for f in (result or {}).get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        kv(
            log,
            logging.INFO,
            "worker batch",
            function=worker.function,
            records=len(messages),
            failed=len(failed),
            ms=_ms(started),
        )
        return len(messages)

    def drain_tap(self) -> None:
        if self.aws is None or not self.aws.tap_queue_url:
            return
        sqs = self._client()
        try:
            # Bounded: under a steady stream of events the tap never empties, and the workers and
            # schedules of this same loop must still get their turn (the rest waits two seconds).
            for _ in range(MAX_BATCHES_PER_POLL):
                messages = sqs.receive_message(
                    QueueUrl=self.aws.tap_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
                ).get("Messages", [])
                if not messages:
                    return
                for message in messages:
                    _log_published(message["Body"])
                sqs.delete_message_batch(
                    QueueUrl=self.aws.tap_queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
                    ],
                )
        except Exception:
            log.exception("draining the event tap failed")


def _log_published(body: str) -> None:
    try:
        event = json.loads(body)
    except json.JSONDecodeError:
        kv(log, logging.INFO, "event published", raw_bytes=len(body))
        return
    detail = event.get("detail") if isinstance(event.get("detail"), dict) else {}
    fields = {name: detail.get(name) for name in _EVENT_FIELDS if isinstance(detail.get(name), str | int)}
    kv(
        log,
        logging.INFO,
        "event published",
        type=event.get("detail-type"),
        source=event.get("source"),
        **fields,
    )


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
