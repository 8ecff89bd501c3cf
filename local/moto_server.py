"""The local stack's AWS in a process of its own: moto's server, with the costs that grow with a
queue's size cut.

``make run`` is otherwise one Python process (the gateway, every function, the scheduler); moto
answering in that same process made every SQS and EventBridge call wait for the interpreter lock
the functions hold, and the other way round. Run apart, the two use both cores.

    python -m local.moto_server --port 5000      (local/aws.py starts and stops it)

The process exits when its parent does, so a killed ``make run`` leaves no server behind.
"""

from __future__ import annotations

import argparse
import functools
import os
import threading
import time
from typing import Any

# moto counts a queue's messages (a scan of every message) for each of these attributes whenever
# any attribute is read, and it reads one on every SendMessage: with the SLA timer queue holding
# thousands of delayed messages, each send cost a scan of all of them (10,000 timers took minutes
# to enqueue). Locally the counts are remembered for a quarter of a second; SQS calls them
# approximate too.
_COUNTS = (
    "approximate_number_of_messages",
    "approximate_number_of_messages_delayed",
    "approximate_number_of_messages_not_visible",
)
COUNTS_FRESH_FOR_S = 0.25


def _remembered(name: str, compute: Any) -> property:
    def getter(queue: Any) -> int:
        kept: dict[str, tuple[float, int]] = queue.__dict__.setdefault("_local_counts", {})
        now = time.monotonic()
        hit = kept.get(name)
        if hit is not None and now - hit[0] < COUNTS_FRESH_FOR_S:
            return hit[1]
        value = int(compute(queue))
        kept[name] = (now, value)
        return value

    return property(getter)


def _visible_now(queue: Any) -> list[Any]:
    """``Queue.messages`` (the visible, undelayed messages) with "now" read once per call, not
    twice per message."""
    now = time.time() * 1000.0
    return [m for m in queue._messages if now > m.visible_at and now >= m.delayed_until]


def _delete_message(queue: Any, receipt_handle: str) -> None:
    """``Queue.delete_message`` in one pass, looking first among the messages in flight (a handle
    being deleted was received, so its message is almost always there) instead of building every
    message's list of handles twice."""
    from moto.sqs.exceptions import ReceiptHandleIsInvalid

    if receipt_handle in queue.deleted_messages:
        return  # already deleted: SQS accepts deleting it again
    target = next((m for m in queue.pending_messages if m.had_receipt_handle(receipt_handle)), None)
    if target is None:
        target = next((m for m in queue._messages if m.had_receipt_handle(receipt_handle)), None)
    if target is None:
        raise ReceiptHandleIsInvalid()
    queue.pending_messages.discard(target)
    queue.deleted_messages.update(target.all_receipt_handles)
    queue._messages = [m for m in queue._messages if m is not target]


def speed_up() -> None:
    """Patch moto (in this process) where its cost grows with the messages a queue holds, or is
    paid again on every request for something that never changes."""
    from moto import backends
    from moto.sqs import models
    from moto.sqs.models import Queue

    if getattr(Queue, "_local_speed_up", False):
        return
    converted = models.unix_time_millis

    def unix_time_millis(dt: Any = None) -> float:
        # moto builds two datetimes to get this number, for every message it checks.
        return time.time() * 1000.0 if dt is None else float(converted(dt))

    models.unix_time_millis = unix_time_millis
    for name in _COUNTS:
        setattr(Queue, name, _remembered(name, getattr(Queue, name).fget))
    Queue.messages = property(_visible_now)  # type: ignore[method-assign,assignment]
    Queue.delete_message = _delete_message  # type: ignore[method-assign,assignment]
    Queue._local_speed_up = True  # type: ignore[attr-defined]

    # The server lists moto's package folder (a listdir and an isdir per service) on every request.
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules

    # EventBridge renders each rule target's input through jsonpath expressions, and jsonpath_ng
    # builds its parser again for every expression it parses: remember the parsed expressions.
    import jsonpath_ng.ext

    jsonpath_ng.ext.parse = functools.lru_cache(maxsize=256)(jsonpath_ng.ext.parse)


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="moto's server for the local stack")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    speed_up()
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    stopped = threading.Event()
    try:
        stopped.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
