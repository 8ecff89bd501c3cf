"""The Ticketing stack: composes one construct per concern and wires them together.

Routes, scheduled functions, workers and operator functions default to
``shared.runtime.catalog``; tests pass their own (e.g. an extra queue worker) to check what the
stack makes of an entry. Nothing here knows a function by name: what a function may touch comes
from its declared resources (bound by ``infra/resources.py`` once every resource exists), its
alarms and stack output from its catalog entry.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.api import Api
from infra.assets import AssetBuilder
from infra.config import StackSettings
from infra.database import Database
from infra.email import Email
from infra.events import Schedules, TicketBus
from infra.functions import ARCHITECTURE, RUNTIME, SERVICE_NAME, FunctionContext, TicketingFunction
from infra.migrations import Migrations
from infra.monitoring import Monitoring, Watched
from infra.network import Network
from infra.operators import Operators
from infra.queues import QueueWorkers
from infra.resources import DeadLetterSource, EmailSending, ResourceContext, bind
from infra.storage import Storage
from shared.runtime.catalog import (
    EMAIL_FEEDBACK,
    OPERATORS,
    ROUTES,
    SCHEDULED,
    WORKERS,
    FunctionSpec,
    OperatorFunction,
    QueueWorker,
    Route,
    ScheduledFunction,
)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class TicketingStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        assets: AssetBuilder | None = None,
        routes: tuple[Route, ...] = ROUTES,
        scheduled: tuple[ScheduledFunction, ...] = SCHEDULED,
        workers: tuple[QueueWorker, ...] = WORKERS,
        operators: tuple[OperatorFunction, ...] = OPERATORS,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        assets = assets or AssetBuilder()
        self.settings = settings

        self.storage = Storage(self, "Storage")
        self.network = Network(self, "Network", flow_logs_bucket=self.storage.logs_bucket)
        self.database = Database(
            self,
            "Database",
            network=self.network,
            instance_class=settings.db_instance_class,
            multi_az=settings.multi_az,
            deletion_protection=settings.deletion_protection,
        )
        self.events = TicketBus(self, "Events")
        layers = (
            lambda_.LayerVersion(
                self,
                "DependenciesLayer",
                code=assets.deps_layer_code(),
                description="requirements.txt for arm64 / Python 3.12",
                compatible_runtimes=[RUNTIME],
                compatible_architectures=[ARCHITECTURE],
            ),
            lambda_.LayerVersion(
                self,
                "SharedLayer",
                code=assets.shared_layer_code(),
                description="The project's shared/ package",
                compatible_runtimes=[RUNTIME],
                compatible_architectures=[ARCHITECTURE],
            ),
        )
        context = FunctionContext(assets=assets, layers=layers, network=self.network)
        self.migrations = Migrations(self, "Migrations", context=context, database=self.database)
        self.api = Api(
            self,
            "Api",
            routes=routes,
            context=context,
            jwt_issuer=settings.jwt_issuer,
            jwks_url=settings.jwks_url,
            jwt_audience=settings.jwt_audience,
        )
        self.schedules = Schedules(self, "Schedules", scheduled=scheduled, context=context)
        self.workers = QueueWorkers(self, "Workers", workers=workers, context=context, bus=self.events.bus)
        self.operators = Operators(
            self, "Operators", operators=operators, context=context, name_prefix=settings.function_name_prefix
        )

        # Every function's declared resources, bound now that every resource exists.
        dead_letters = [
            DeadLetterSource(name=name, dlq=fn.function.dead_letter_queue, function=fn)
            for name, fn in self.schedules.functions.items()
            if fn.function.dead_letter_queue is not None
        ]
        dead_letters += [
            DeadLetterSource(name=w.worker.function, dlq=w.dlq, queue=w.queue) for w in self.workers.workers
        ]
        feedback = next((w for w in self.workers.workers if w.worker.function == EMAIL_FEEDBACK), None)
        self.email = Email(
            self,
            "Email",
            domain=settings.email_domain,
            from_address=settings.email_from_address,
            feedback_queue=feedback.queue if feedback is not None else None,
        )
        resources = ResourceContext(
            database=self.database,
            bus=self.events.bus,
            event_source=SERVICE_NAME,
            queues={w.worker.function: w.queue for w in self.workers.workers},
            buckets={"attachments": self.storage.attachments},
            dead_letters=dead_letters,
            account_tenants=settings.account_tenants,
            intake_reopen_window_minutes=settings.intake_reopen_window_minutes,
            email=EmailSending(
                from_address=settings.email_from_address,
                identity_arn=self.email.identity_arn,
                configuration_set=self.email.configuration_set.configuration_set_name,
                configuration_set_arn=self.email.configuration_set_arn,
                reply_domain=settings.email_reply_domain,
            ),
        )
        specs: list[tuple[FunctionSpec, TicketingFunction]] = [
            *((r, self.api.functions[r.function]) for r in routes),
            *((s, self.schedules.functions[s.function]) for s in scheduled),
            *((w.worker, w.handler) for w in self.workers.workers),
            *((o, self.operators.functions[o.function]) for o in operators),
        ]
        bound: set[str] = set()
        for spec, fn in specs:
            if spec.function not in bound:
                bind(fn, resources)
                bound.add(spec.function)

        write_functions = {r.function for r in routes if r.method in WRITE_METHODS}
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            watched=Watched(
                api=self.api.api,
                write_functions=tuple(
                    fn for name, fn in self.api.functions.items() if name in write_functions
                ),
                authorizer=self.api.authorizer_function,
                specs=tuple((spec, fn) for spec, fn in specs if spec.alarms or spec.errors_alarm),
                database=self.database.instance,
                proxy_name=self.database.proxy.db_proxy_name,
                dlqs=tuple((source.name, source.dlq) for source in dead_letters),
                lagging=tuple(
                    (w.worker.lag_alarm, w.queue)
                    for w in self.workers.workers
                    if w.worker.lag_alarm is not None
                ),
                db_connections_threshold=settings.db_connections_alarm_threshold,
            ),
            alarm_email=settings.alarm_email,
            alarm_topic_arn=settings.alarm_topic_arn,
        )

        outputs: dict[str, tuple[str, str]] = {
            "ApiUrl": (self.api.url, "Base URL of the REST API (stage included)"),
            "EventBusName": (self.events.bus.event_bus_name, "EventBridge bus for ticket events"),
            "AttachmentsBucketName": (self.storage.attachments.bucket_name, "S3 bucket for attachments"),
            "MigrateFunctionName": (
                self.migrations.handler.function.function_name,
                'Invoke with {"RequestType": "Update"} to apply pending migrations',
            ),
            "DatabaseProxyEndpoint": (self.database.proxy.endpoint, "RDS Proxy endpoint (TLS required)"),
            "AlarmTopicArn": (self.monitoring.topic.topic_arn, "SNS topic every alarm notifies"),
            "DashboardName": (self.monitoring.dashboard.dashboard_name, "CloudWatch dashboard"),
        }
        for w in self.workers.workers:
            outputs[f"{_pascal(w.worker.function)}QueueUrl"] = (
                w.queue.queue_url,
                f"The {w.worker.function} worker's queue",
            )
        for spec, fn in specs:
            if spec.output:
                outputs[spec.output] = (fn.function.function_name, spec.summary)
        for key, (value, description) in outputs.items():
            output = cdk.CfnOutput(self, key, value=value, description=description)
            output.override_logical_id(key)


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))
