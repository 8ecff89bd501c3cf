"""The Lambda entrypoints: routes (``http``), queue workers (``worker``, in ``workers``), scheduled
and operator functions (``operator``). Each one, on its first invocation, validates the
function's settings (composed from its declared resources) and hands the domain its adapters:
where the database is, the publishers, the clock. Each ends every invocation with the same
finish step: the events its transactions committed are published (after the response where the
host allows: ``after_response``), and the relay is the backstop for anything lost.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ValidationError

from shared import db, outbox
from shared.aws.publishers import BusWithCopy, EventBridgePublisher, SqsPublisher
from shared.config import secrets
from shared.config.settings import DatabaseSettings, EventBusSettings, RuntimeSettings, SettingsError
from shared.http import RequestContext, problem
from shared.http.gate import refuse_bad_input
from shared.kernel.clock import Clock, utcnow
from shared.kernel.errors import DomainError
from shared.observability import logger, metrics, tracer
from shared.runtime import after_response, catalog
from shared.runtime import settings as function_settings
from shared.webhooks import events as webhook_events

Handler = Callable[[Any, LambdaContext], Any]
RequestT = TypeVar("RequestT", bound=BaseModel)

__all__ = [
    "Services",
    "cached_services",
    "error_result",
    "finish",
    "http",
    "init_phase",
    "operator",
    "reset",
    "services",
    "spec_of",
]


# ---- what a function is handed ---------------------------------------------------------------------


@dataclass(frozen=True)
class Services:
    """A function's validated settings and the adapters built from them."""

    spec: catalog.FunctionSpec
    settings: RuntimeSettings
    publishers: dict[str, outbox.Publisher] = field(default_factory=dict)
    clock: Clock = utcnow


_services: dict[str, Services] = {}


def spec_of(function: str | catalog.FunctionSpec) -> catalog.FunctionSpec:
    if isinstance(function, catalog.FunctionSpec):
        return function
    spec = catalog.find(function)
    if spec is None:
        raise LookupError(f"{function!r} is not in shared/runtime/catalog.py")
    return spec


def services(spec: catalog.FunctionSpec) -> Services:
    """The function's services, built on its first invocation (settings validated then)."""
    found = _services.get(spec.function)
    if found is not None:
        return found
    settings = function_settings.load(spec)
    if isinstance(settings, DatabaseSettings):
        db.configure(db.source_from_settings(settings, secrets.get_secret_json))
    publishers: dict[str, outbox.Publisher] = {}
    queues = function_settings.queue_urls(settings, spec)
    if isinstance(settings, EventBusSettings):
        bus = EventBridgePublisher(settings.event_bus_name, settings.event_source)
        webhook_queue = queues.get(catalog.WEBHOOK_DISPATCH)
        publishers["bus"] = (
            BusWithCopy(bus, webhook_queue, webhook_events.BUS_DETAIL_TYPES) if webhook_queue else bus
        )
    if queues:
        publishers["queue"] = SqsPublisher(queues)
    built = Services(spec=spec, settings=settings, publishers=publishers)
    _services[spec.function] = built
    return built


def cached_services(spec: catalog.FunctionSpec) -> Services | None:
    """The function's services if an invocation built them already."""
    return _services.get(spec.function)


def reset() -> None:
    """Forget every function's settings and adapters, and the cached secrets (tests, the local
    stack after it changed the environment): the next invocation reads them again."""
    _services.clear()
    secrets.clear_cache()


def _in_lambda() -> bool:
    return bool(os.environ.get("AWS_LAMBDA_RUNTIME_API"))


def init_phase(spec: catalog.FunctionSpec) -> None:
    """At import (Lambda's init phase): what can only happen then. The after-response extension is
    registered by the catalog entry's flag (not by a setting: nothing is read at import), and the
    collector is tuned for short requests."""
    if any(isinstance(r, catalog.Queue) and r.worker == catalog.SLA_TIMER for r in spec.settings.resources):
        _install_ticket_listeners()
    if spec.settings.after_response:
        after_response.start_extension()
    if _in_lambda():
        after_response.tune_gc()


def _install_ticket_listeners() -> None:
    """The capabilities that react to ticket changes in their transaction (the SLA engine), for a
    function that may change tickets (it declares the timer queue they enqueue to)."""
    from shared.sla import engine
    from shared.tickets import service

    service.on_change(engine.on_ticket_change, creation=engine.plan_creation)


def flush_metrics() -> None:
    """Publish the metrics the invocation added, if it added any (one EMF log line)."""
    if metrics.metric_set:
        metrics.flush_metrics()


def finish(svc: Services | None, request_id: str) -> None:
    """The finish step of every invocation: its metrics; what it committed, published after the
    response where the host allows; then the hand-over of the deferred work."""
    flush_metrics()
    committed = outbox.take_committed()
    if committed and svc is not None and svc.publishers:
        after_response.defer(partial(outbox.publish_committed, committed, svc.publishers))
    after_response.finish(request_id)


# ---- routes ------------------------------------------------------------------------------------------


Door = Callable[[dict[str, Any]], "dict[str, Any] | None"]


def http(app: Any, function: str | catalog.FunctionSpec, *, door: Door = refuse_bad_input) -> Handler:
    """The Lambda handler of a route function: the door (``shared.http.gate``, or the route's own:
    ``POST /v2/enqueue`` answers in PagerDuty's shape), then the resolver, with logging context,
    correlation id and tracing; then the finish step. Call at import."""
    spec = spec_of(function)
    init_phase(spec)

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
    @tracer.capture_lambda_handler
    def resolve(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        refused = door(event)
        if refused is not None:
            return refused
        try:
            svc = services(spec)
        except SettingsError as exc:
            logger.error("function misconfigured", extra={"function": spec.function, "error": str(exc)})
            response = problem(
                500,
                "The service is misconfigured; it has been logged.",
                slug="internal-error",
                title="Internal error",
            )
            return {
                "statusCode": response.status_code,
                "headers": {"Content-Type": str(response.content_type)},
                "body": response.body,
                "isBase64Encoded": False,
            }
        app.append_context(
            request_context=RequestContext(
                idempotency_ttl_hours=svc.settings.idempotency_ttl_hours,
                clock=svc.clock,
                enqueue_rate_limit_per_minute=svc.settings.enqueue_rate_limit_per_minute,
            )
        )
        result: dict[str, Any] = app.resolve(event, context)
        return result

    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        outbox.take_committed()  # start clean: publish exactly what this invocation commits
        try:
            return resolve(event, context)
        finally:
            finish(cached_services(spec), getattr(context, "aws_request_id", ""))

    return handler


# ---- scheduled and operator functions ----------------------------------------------------------------


def is_scheduled_event(event: Any) -> bool:
    return (
        isinstance(event, dict)
        and event.get("detail-type") == "Scheduled Event"
        and event.get("source") == "aws.events"
    )


def error_result(kind: str, message: str, **details: Any) -> dict[str, Any]:
    """What an operator gets for a request the function cannot carry out: a structured result,
    not an exception that pages on-call."""
    return {"error": {"type": kind, "message": message, **details}}


def operator(
    function: str | catalog.FunctionSpec,
    run: Callable[[RequestT, Services, LambdaContext], dict[str, Any]],
    request: type[RequestT],
    *,
    scheduled: Callable[[dict[str, Any]], RequestT] | None = None,
) -> Handler:
    """The Lambda handler of a scheduled or operator-invoked function.

    A schedule's event becomes a request through ``scheduled``; anything else is validated as a
    ``request`` (unknown fields refused, so a typo cannot widen a run). A payload that does not
    fit, or a domain error (no such ticket...), is answered with ``{"error": {...}}`` and logged;
    an unexpected error raises (a function error, which is alarmed). Metrics the run adds are
    flushed once, at the end (none for a refused request).
    """
    spec = spec_of(function)
    init_phase(spec)

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler
    def handler(event: Any, context: LambdaContext) -> dict[str, Any]:
        outbox.take_committed()
        svc: Services | None = None
        try:
            if scheduled is not None and is_scheduled_event(event):
                parsed = scheduled(event)
            elif not isinstance(event, dict):
                return _refused(spec, error_result("invalid_request", "The payload must be a JSON object."))
            else:
                try:
                    parsed = request.model_validate(event)
                except ValidationError as exc:
                    problems = [
                        {"loc": ".".join(str(p) for p in e["loc"]) or "payload", "msg": e["msg"]}
                        for e in exc.errors()
                    ]
                    message = "; ".join(f"{p['loc']}: {p['msg']}" for p in problems)
                    return _refused(
                        spec,
                        error_result(
                            "invalid_request", f"Invalid {spec.function} request: {message}", errors=problems
                        ),
                    )
            svc = services(spec)
            try:
                return run(parsed, svc, context)
            except DomainError as exc:
                if exc.status >= 500:
                    raise
                return _refused(spec, error_result(exc.slug.replace("-", "_"), exc.detail))
        finally:
            finish(svc, getattr(context, "aws_request_id", ""))

    return handler


def _refused(spec: catalog.FunctionSpec, result: dict[str, Any]) -> dict[str, Any]:
    logger.warning("request refused", extra={"function": spec.function, "error": result["error"]})
    return result


def webhook_url_policy(spec: catalog.FunctionSpec) -> Any:
    """How the function vets webhook URLs (``shared.webhooks.urls.UrlPolicy``), from its
    ``WebhookConfig`` settings (validated on its first invocation)."""
    from shared.config.settings import WebhookSettings
    from shared.webhooks import urls

    settings = services(spec).settings
    if not isinstance(settings, WebhookSettings):
        raise RuntimeError(f"{spec.function} does not declare WebhookConfig() in the catalog")
    return urls.UrlPolicy.from_env(
        settings.webhook_allow_loopback, require_https=settings.webhook_require_https
    )
