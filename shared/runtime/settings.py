"""Each function's settings model, composed from the mixins of the resources it declares.

``settings_model(spec)`` is ``RuntimeSettings`` plus one mixin per declared resource
(``DatabaseSettings`` for ``Database()``, ``EventBusSettings`` for ``EventBus()``, a field
``<worker>_queue_url`` for ``Queue(worker)``...), so what a function may read is exactly what
its catalog entry says it touches. ``load(spec)`` validates it from the environment on the first
invocation and raises ``SettingsError`` naming any missing or malformed variable.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import Field, create_model

from shared.config.settings import (
    DatabaseSettings,
    DeadLetterSettings,
    EmailSettings,
    EnvSettings,
    EventBusSettings,
    IntakeConfigSettings,
    RuntimeSettings,
    WebhookSettings,
)
from shared.runtime import catalog

_MIXINS: dict[type[catalog.Resource], type[EnvSettings]] = {
    catalog.Database: DatabaseSettings,
    catalog.EventBus: EventBusSettings,
    catalog.Email: EmailSettings,
    catalog.DeadLetterQueues: DeadLetterSettings,
    catalog.IntakeConfig: IntakeConfigSettings,
    catalog.WebhookConfig: WebhookSettings,
}


def _named_fields(resources: tuple[catalog.Resource, ...]) -> dict[str, Any]:
    """A required string field per variable of the named resources (queues, buckets, secrets)."""
    fields: dict[str, Any] = {}
    for resource in resources:
        if type(resource) in _MIXINS:
            continue
        for name in resource.env_names():
            fields[name.lower()] = (str, Field(min_length=1))
    return fields


@cache
def settings_model(spec: catalog.FunctionSpec) -> type[RuntimeSettings]:
    resources = spec.settings.resources
    mixins: tuple[type[EnvSettings], ...] = tuple(
        dict.fromkeys(_MIXINS[type(r)] for r in resources if type(r) in _MIXINS)
    )
    bases: tuple[type[EnvSettings], ...] = (RuntimeSettings, *mixins)
    model: type[RuntimeSettings] = create_model(
        f"{''.join(p.capitalize() for p in spec.function.split('_'))}Settings",
        __base__=bases,  # type: ignore[arg-type]
        **_named_fields(resources),
    )
    return model


def load(spec: catalog.FunctionSpec) -> RuntimeSettings:
    """The function's settings from the environment (SettingsError names what is wrong)."""
    return settings_model(spec).from_env()


def queue_urls(settings: RuntimeSettings, spec: catalog.FunctionSpec) -> dict[str, str]:
    """The URL of every worker queue (and dead-letter queue) the function declares it sends to."""
    urls = {
        r.worker: str(getattr(settings, catalog.queue_env(r.worker).lower()))
        for r in spec.settings.declared(catalog.Queue)
        if isinstance(r, catalog.Queue)
    }
    for r in spec.settings.declared(catalog.DeadLetterQueue):
        assert isinstance(r, catalog.DeadLetterQueue)
        urls[dead_letter_destination(r.worker)] = str(
            getattr(settings, catalog.dead_letter_env(r.worker).lower())
        )
    return urls


def dead_letter_destination(worker: str) -> str:
    """The outbox queue name of a worker's DLQ (``outbox.queue(...)`` of it sends there)."""
    return f"{worker}_dlq"
