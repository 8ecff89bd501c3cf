"""Work that runs after the response has gone back to the caller.

A write route publishes its change's events right after commit (``shared.outbox``), but the
caller should not wait for that network call: the change is already committed, and the relay
publishes whatever the post-commit flush misses. So a handler ``defer``s such work, and
``finish`` (called by ``shared.api.entrypoint`` when the invocation ends) hands it on according
to where the handler runs:

- ``extension`` (in AWS, for functions that publish events): a Lambda *internal extension*, a
  thread of this process registered with the Lambda Extensions API during init. Lambda returns
  the handler's response to a synchronous caller (API Gateway) as soon as the handler returns,
  but does not freeze the environment, nor hand it the next invocation, until every extension
  has asked for its next event. The extension thread takes the invocation's deferred work from
  a queue, runs it, then asks. (AWS describes the pattern in "Running code after returning a
  response from an AWS Lambda function", AWS Compute Blog, 2023.)
- ``hosted``: the host that called the handler (the local gateway, the create benchmark) takes
  the work with ``take_ready`` and runs it after it has delivered the response.
- ``inline`` (the default, e.g. tests calling a handler directly): the work runs in ``finish``,
  before the handler returns, as if nothing were deferred.

Deferred work must be safe to lose: a crash after the response loses it, and something else
(the outbox relay) must make up for that. A task that raises is logged and dropped.
"""

from __future__ import annotations

import gc
import json
import os
import queue
import threading
import time
import urllib.request
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from shared.observability import logger

Task = Callable[[], None]

EXTENSION_NAME = "ticketing-after-response"
# Leave the extension this much of the invocation's time to ask for its next event.
_DEADLINE_MARGIN_S = 0.5


class Mode(StrEnum):
    INLINE = "inline"
    HOSTED = "hosted"
    EXTENSION = "extension"


_local = threading.local()


class _Registered:
    """The registered extension, if any (one per process, from init on)."""

    extension: Extension | None = None


def mode() -> Mode:
    """This thread's mode: ``extension`` once registered, else ``hosted`` on a host's threads."""
    if _Registered.extension is not None:
        return Mode.EXTENSION
    return Mode.HOSTED if getattr(_local, "hosted", False) else Mode.INLINE


def host_this_thread(hosted: bool = True) -> None:
    """Mark the calling thread as run by a host that calls ``take_ready()`` after each response
    and runs what it gets (the local gateway's handler threads, the create benchmark)."""
    _local.hosted = hosted


def _pending() -> list[Task]:
    tasks: list[Task] | None = getattr(_local, "pending", None)
    if tasks is None:
        tasks = _local.pending = []
    return tasks


def defer(task: Task) -> None:
    """Run ``task`` after this invocation's response (see the module docstring for where)."""
    _pending().append(task)


def finish(request_id: str) -> None:
    """End of an invocation: run, hand over or keep its deferred tasks. Called once per invocation."""
    tasks = _pending()
    _local.pending = []
    extension = _Registered.extension
    if extension is not None:
        extension.hand_over(request_id, tasks)  # even when empty: it waits for it
    elif mode() is Mode.HOSTED:
        _local.ready = take_ready() + tasks
    else:
        run(tasks)


def take_ready() -> list[Task]:
    """(hosted) The tasks of the invocations this thread finished, for the host to run."""
    tasks: list[Task] = getattr(_local, "ready", None) or []
    _local.ready = []
    return tasks


def run(tasks: list[Task]) -> None:
    """Run deferred tasks (a failing one is logged and dropped), then collect the young garbage
    they left, so that the collection does not fall into the next invocation's response time."""
    for task in tasks:
        try:
            task()
        except Exception:
            logger.exception("after-response task failed", extra={"task": getattr(task, "__name__", "?")})
    if tasks:
        gc.collect(0)


def tune_gc() -> None:
    """Fewer, later garbage collections on the request path (called once, at the end of init).

    ``gc.freeze()`` moves everything imported so far out of the collector's view, so full
    collections no longer walk the libraries' objects; a higher first-generation threshold
    (50,000 allocations instead of 700) means a request rarely triggers a collection at all.
    Reference cycles are still collected, only less often; a Lambda's memory bounds the cost.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


# --- the Lambda internal extension ------------------------------------------------------------


def start_extension(runtime_api: str | None = None) -> bool:
    """Register the internal extension and start its thread; True when deferred work now runs
    after the response. Must be called during init (at import of the handler module): Lambda
    accepts registrations only then. Outside Lambda, or if registration fails, returns False
    and the mode stays as it was (``inline`` runs the work before returning: slower, not lost).
    """
    if _Registered.extension is not None:
        return True
    api = runtime_api or os.environ.get("AWS_LAMBDA_RUNTIME_API")
    if not api:
        return False
    try:
        extension = Extension.register(api)
    except (OSError, ValueError) as exc:
        logger.warning("after-response extension not registered; deferred work runs inline", exc_info=exc)
        return False
    _Registered.extension = extension
    extension.start()
    return True


class Extension:
    """The extension thread's side: ask for the next event, run that invocation's work, repeat."""

    def __init__(self, api: str, extension_id: str) -> None:
        self.api = api
        self.extension_id = extension_id
        # (request id, that invocation's tasks), from the handler's thread to this one.
        self.handoff: queue.Queue[tuple[str, list[Task]]] = queue.Queue()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.loop, name=EXTENSION_NAME, daemon=True)

    @classmethod
    def register(cls, api: str) -> Extension:
        request = urllib.request.Request(
            f"http://{api}/2020-01-01/extension/register",
            data=json.dumps({"events": ["INVOKE"]}).encode(),
            headers={"Lambda-Extension-Name": EXTENSION_NAME, "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 (the runtime API)
            extension_id = response.headers["Lambda-Extension-Identifier"]
        if not extension_id:
            raise ValueError("no Lambda-Extension-Identifier in the register response")
        return cls(api, extension_id)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        """Stop after the current wait (tests; in Lambda the thread lives as long as the process)."""
        self.stopped.set()

    def hand_over(self, request_id: str, tasks: list[Task]) -> None:
        self.handoff.put((request_id, tasks))

    def next_event(self) -> dict[str, Any]:
        """Block until Lambda sends the next event. Asking tells Lambda this extension is done."""
        request = urllib.request.Request(
            f"http://{self.api}/2020-01-01/extension/event/next",
            headers={"Lambda-Extension-Identifier": self.extension_id},
            method="GET",
        )
        with urllib.request.urlopen(request) as response:  # noqa: S310 (the runtime API; waits while frozen)
            event: dict[str, Any] = json.loads(response.read())
        return event

    def loop(self) -> None:
        while not self.stopped.is_set():
            try:
                event = self.next_event()
            except Exception:
                if self.stopped.is_set():
                    return
                # Lambda resets an environment whose extension stops asking; keep asking.
                logger.exception("after-response extension could not reach the Extensions API")
                time.sleep(0.1)
                continue
            if event.get("eventType") == "INVOKE":
                deadline = float(event.get("deadlineMs") or 0) / 1000
                self.serve_invocation(str(event.get("requestId", "")), deadline)

    def serve_invocation(self, request_id: str, deadline: float) -> None:
        """Run the deferred work of invocation ``request_id`` once its handler has finished.

        Waits for that invocation's hand-over until shortly before its deadline (epoch seconds);
        work of an earlier invocation that arrives first runs too.
        """
        while True:
            timeout = max(deadline - time.time() - _DEADLINE_MARGIN_S, 0.0) if deadline else None
            try:
                handed_request, tasks = self.handoff.get(timeout=timeout)
            except queue.Empty:
                logger.warning(
                    "invocation ended without handing over its deferred work", extra={"request": request_id}
                )
                return
            run(tasks)
            if handed_request == request_id:
                return
