"""The entrypoint of every SQS-fed function: powertools' ``BatchProcessor`` with
``process_partial_response``.

Each record is handled in its own transaction, as the service itself (``Principal.system``):

- **Once.** The inbound-message log (source, message id) is claimed in the record's transaction:
  a message SQS delivers twice finds its row and has no second effect; a record whose handling
  fails leaves no row, so its retry goes ahead. The message id is the outbox event id the
  publisher put in the ``event_id`` attribute when there is one (stable across the post-commit
  publish and the relay), else SQS's message id.
- **Poison records are acknowledged, not retried.** A body that is not JSON, or does not fit the
  worker's model, can never succeed: it is recorded in the log as ``refused`` with its reason
  (and body, for the operator) and counted (``InboundRefused``); it does not block the batch and
  does not cycle through retries to the dead-letter queue.
- **Failures are reported per record.** Any other error fails that record only
  (``batchItemFailures``); SQS redelivers it, and after ``max_receive_count`` receives moves it to
  the worker's DLQ (``ticketing-replay-dlq`` puts it back).

The events the records' transactions committed are published by the same finish step as the
routes'.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ValidationError

from shared import db, outbox
from shared.auth import Principal
from shared.observability import logger, metrics, tracer
from shared.runtime import catalog
from shared.runtime.entrypoints import Handler, cached_services, finish, init_phase, services, spec_of

RecordT = TypeVar("RecordT", bound=BaseModel)
RecordHandler = Callable[[db.UnitOfWork, RecordT, SQSRecord], None]
# A handler that opens its own transactions (the webhook dispatcher: no transaction may stay open
# while it waits on an HTTP request).
OwnTransactions = Callable[[RecordT, SQSRecord], None]
# Told of a refused record inside the transaction that logs it (e.g. intake keeps its own record).
RefusedHandler = Callable[[db.UnitOfWork, SQSRecord, str], None]

CLAIM = """
INSERT INTO inbound_message (source, message_id, status) VALUES (%(source)s, %(message_id)s, 'processed')
ON CONFLICT DO NOTHING
RETURNING message_id
"""
REFUSE = """
INSERT INTO inbound_message (source, message_id, status, reason, body)
VALUES (%(source)s, %(message_id)s, 'refused', %(reason)s, %(body)s)
ON CONFLICT DO NOTHING
RETURNING message_id
"""
PURGE = """
WITH gone AS (DELETE FROM inbound_message WHERE received_at < now() - make_interval(days => %(days)s)
              RETURNING 1)
SELECT count(*) AS purged FROM gone
"""
# A refused record's body is kept up to this size (SQS allows 256 KB).
REFUSED_BODY_CHARS = 64 * 1024


class Refused(Exception):
    """A record that can never succeed; raised by a handler for a reason its model cannot see."""


def message_id(record: SQSRecord) -> str:
    """The id a record is deduplicated on: the outbox event id if the publisher gave one."""
    attribute = record.message_attributes["event_id"]  # None when absent (powertools' mapping)
    value = attribute.string_value if attribute is not None else None
    return value or record.message_id


def worker(
    function: str | catalog.FunctionSpec,
    handle: RecordHandler[RecordT] | None,
    model: type[RecordT],
    *,
    source: str | None = None,
    on_refused: RefusedHandler | None = None,
    inbound_log: bool = True,
    own_transactions: OwnTransactions[RecordT] | None = None,
    parallel: int = 1,
) -> Handler:
    """The Lambda handler of a queue worker: each record's body parsed as ``model`` (JSON), then
    ``handle(uow, parsed, record)`` in that record's own transaction. ``source`` names the log's
    source (default: the function's name). ``on_refused`` runs in the transaction that logs a
    refused record (its metric is the worker's to add). ``inbound_log=False`` leaves processed
    records out of the inbound log, for a handler that dedupes on an id of its own (intake: the
    event id), saving a round trip per record; refused records are still logged.

    ``own_transactions`` (instead of ``handle``) is called as ``(parsed, record)`` outside any
    transaction, for a handler that must not hold one open (it dedupes on its own). ``parallel``
    handles up to that many records of a batch side by side, each in a thread of its own (with
    its own connection), so that one slow record does not hold back the rest of its batch."""
    if (handle is None) == (own_transactions is None):
        raise TypeError("give a worker either handle or own_transactions")
    spec = spec_of(function)
    init_phase(spec)
    log_source = source or spec.function
    principal = Principal.system(spec.function)
    processor = BatchProcessor(event_type=EventType.SQS)
    pool: list[ThreadPoolExecutor] = []

    def refuse(record: SQSRecord, reason: str) -> None:
        logger.warning(
            "record refused", extra={"source": log_source, "message_id": record.message_id, "reason": reason}
        )
        metrics.add_metric(name="InboundRefused", unit=MetricUnit.Count, value=1)
        with db.transaction(principal) as uow:
            logged = uow.execute(
                REFUSE,
                {
                    "source": log_source,
                    "message_id": message_id(record),
                    "reason": reason[:1000],
                    "body": (record.body or "")[:REFUSED_BODY_CHARS],
                },
            ).fetchone()
            if on_refused is not None and logged is not None:  # a redelivery is told once
                on_refused(uow, record, reason)

    def on_record(record: SQSRecord) -> None:
        try:
            parsed = model.model_validate_json(record.body or "")
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
                for e in exc.errors(include_input=False)
            )
            refuse(record, f"the body does not fit {model.__name__}: {problems}")
            return
        try:
            if own_transactions is not None:
                own_transactions(parsed, record)
                return
            assert handle is not None
            with db.transaction(principal) as uow:
                claimed = (
                    uow.execute(CLAIM, {"source": log_source, "message_id": message_id(record)}).fetchone()
                    if inbound_log
                    else True
                )
                if claimed is None:
                    logger.info(
                        "record already handled",
                        extra={"source": log_source, "message_id": record.message_id},
                    )
                    return
                handle(uow, parsed, record)
        except Refused as exc:
            refuse(record, str(exc))
        except Exception:
            # The record fails alone (SQS redelivers it); its error is logged here, as powertools'
            # batch processor keeps it to itself.
            logger.exception("record failed", extra={"source": log_source, "message_id": record.message_id})
            raise

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        outbox.take_committed()
        try:
            services(spec)
            if parallel > 1:
                if not pool:  # kept across invocations: each thread keeps its connection
                    pool.append(ThreadPoolExecutor(max_workers=parallel, thread_name_prefix=spec.function))
                response = _side_by_side(event, on_record, pool[0])
            else:
                response = process_partial_response(
                    event=event, record_handler=on_record, processor=processor, context=context
                )
            failed = len(response["batchItemFailures"])
            if failed:
                metrics.add_metric(name="InboundFailed", unit=MetricUnit.Count, value=failed)
            return dict(response)
        finally:
            finish(cached_services(spec), getattr(context, "aws_request_id", ""))

    return handler


def _side_by_side(
    event: dict[str, Any], on_record: Callable[[SQSRecord], None], pool: ThreadPoolExecutor
) -> Any:
    """The batch's records handled in the pool's threads; the same partial-batch response
    as powertools' (the failed records' message ids). Each thread runs in a copy of this
    invocation's context, so what its transactions commit reaches the finish step."""
    records = [SQSRecord(raw) for raw in event.get("Records") or []]
    failures: list[dict[str, str]] = []

    def one(record: SQSRecord) -> None:
        try:
            on_record(record)
        except Exception:  # logged by on_record
            failures.append({"itemIdentifier": record.message_id})

    for future in [pool.submit(contextvars.copy_context().run, one, record) for record in records]:
        future.result()
    return {"batchItemFailures": failures}


def purge(*, older_than_days: int = 14) -> int:
    """Forget log rows older than SQS could ever redeliver (14 days is SQS's longest retention)."""
    with db.transaction(Principal.system("inbound-log")) as uow:
        row = uow.execute(PURGE, {"days": older_than_days}).fetchone()
        return int(row["purged"]) if row else 0
