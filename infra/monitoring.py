"""Alarms, one per failure class, all to one SNS topic; and a dashboard.

Failure classes: API 5xx and write-route function errors, API p99 latency, database connections,
authorizer errors, outbox lag (the relay's ``Ticketing/OutboxLagSeconds`` metric), parked outbox
rows (``Ticketing/OutboxParked``) and relay errors, a broken audit chain
(``Ticketing/AuditChainsBroken``) and the verification's errors, and any message in any
dead-letter queue.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.functions import METRICS_NAMESPACE, SERVICE_NAME, TicketingFunction
from shared.runtime.catalog import FunctionSpec, QueueAgeAlarm

FIVE_MINUTES = Duration.minutes(5)
LATENCY_P99_MS = 3000


@dataclass(frozen=True, kw_only=True)
class Watched:
    """Everything the alarms look at."""

    api: apigw.RestApi
    write_functions: tuple[TicketingFunction, ...]
    authorizer: TicketingFunction
    # Functions whose catalog entry declares alarms (on their own metrics, or on their errors).
    specs: tuple[tuple[FunctionSpec, TicketingFunction], ...]
    database: rds.DatabaseInstance
    proxy_name: str
    dlqs: tuple[tuple[str, sqs.IQueue], ...]
    # Worker queues whose lag (age of the oldest message) is alarmed on.
    lagging: tuple[tuple[QueueAgeAlarm, sqs.IQueue], ...] = ()
    db_connections_threshold: int


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        watched: Watched,
        alarm_email: str | None,
        alarm_topic_arn: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        if alarm_topic_arn:
            self.topic: sns.ITopic = sns.Topic.from_topic_arn(self, "AlarmTopic", alarm_topic_arn)
        else:
            key = kms.Key(
                self,
                "AlarmTopicKey",
                description="Ticketing alarm topic encryption",
                enable_key_rotation=True,
            )
            # CloudWatch publishes alarm notifications to the encrypted topic.
            key.add_to_resource_policy(
                iam.PolicyStatement(
                    actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                    principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                    resources=["*"],
                )
            )
            self.topic = sns.Topic(
                self, "AlarmTopic", display_name="Ticketing alarms", master_key=key, enforce_ssl=True
            )
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self.alarms: dict[str, cw.Alarm] = {}
        action = cw_actions.SnsAction(self.topic)

        def alarm(
            alarm_id: str,
            metric: cw.IMetric,
            *,
            threshold: float,
            description: str,
            periods: int = 1,
            comparison: cw.ComparisonOperator = cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        ) -> cw.Alarm:
            created = cw.Alarm(
                self,
                alarm_id,
                # "<stack>-<id>": the runbook has one section per id, and the e-mail subject shows it.
                alarm_name=f"{Stack.of(self).stack_name}-{alarm_id}",
                metric=metric,
                threshold=threshold,
                evaluation_periods=periods,
                datapoints_to_alarm=periods,
                comparison_operator=comparison,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
            created.add_alarm_action(action)
            created.add_ok_action(action)
            self.alarms[alarm_id] = created
            return created

        api = watched.api
        alarm(
            "Api5xx",
            api.metric_server_error(period=FIVE_MINUTES, statistic="Sum"),
            threshold=1,
            description="API Gateway returned 5xx (runbook: API 5xx).",
        )
        for fn in watched.write_functions:
            alarm(
                f"WriteErrors{_camel(fn.name)}",
                fn.function.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
                threshold=1,
                description=f"{fn.name} raised errors: ticket writes are failing (runbook: write errors).",
            )
        alarm(
            "ApiLatencyP99",
            api.metric_latency(period=FIVE_MINUTES, statistic="p99"),
            threshold=LATENCY_P99_MS,
            periods=3,
            comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            description=f"API p99 latency above {LATENCY_P99_MS} ms for 15 minutes (runbook: latency).",
        )
        alarm(
            "DbConnections",
            watched.database.metric_database_connections(period=FIVE_MINUTES, statistic="Maximum"),
            threshold=watched.db_connections_threshold,
            periods=2,
            description="PostgreSQL connections near the limit (runbook: database connections).",
        )
        alarm(
            "ProxyConnectionErrors",
            cw.Metric(
                namespace="AWS/RDS",
                metric_name="ClientConnectionsSetupFailedAuth",
                dimensions_map={"ProxyName": watched.proxy_name},
                period=FIVE_MINUTES,
                statistic="Sum",
            ),
            threshold=1,
            description="RDS Proxy refused client logins: app secret and role out of sync "
            "(runbook: database connections).",
        )
        alarm(
            "AuthorizerErrors",
            watched.authorizer.function.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
            threshold=1,
            description="The JWT authorizer raised errors: authenticated calls fail (runbook: authorizer).",
        )
        comparisons = {
            "gte": cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            "gt": cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        }
        for spec, fn in watched.specs:
            for declared in spec.alarms:
                alarm(
                    declared.id,
                    service_metric(
                        declared.metric,
                        period=Duration.minutes(declared.period_minutes),
                        statistic=declared.statistic,
                    ),
                    threshold=declared.threshold,
                    periods=declared.periods,
                    comparison=comparisons[declared.comparison],
                    description=declared.description,
                )
            if spec.errors_alarm is not None:
                alarm(
                    spec.errors_alarm.id,
                    fn.function.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
                    threshold=1,
                    description=spec.errors_alarm.description,
                )
        for declared_lag, queue in watched.lagging:
            alarm(
                declared_lag.id,
                queue.metric_approximate_age_of_oldest_message(
                    period=Duration.minutes(5), statistic="Maximum"
                ),
                threshold=declared_lag.seconds,
                periods=declared_lag.periods,
                comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                description=declared_lag.description,
            )
        for name, dlq in watched.dlqs:
            alarm(
                f"DlqDepth{_camel(name)}",
                dlq.metric_approximate_number_of_messages_visible(
                    period=Duration.minutes(1), statistic="Maximum"
                ),
                threshold=0,
                comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                description=f"Messages in the {name} dead-letter queue (runbook: dead letters).",
            )

        self.dashboard = cw.Dashboard(self, "Dashboard", default_interval=Duration.hours(6))
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="API requests and errors",
                left=[api.metric_count(period=FIVE_MINUTES)],
                right=[
                    api.metric_client_error(period=FIVE_MINUTES),
                    api.metric_server_error(period=FIVE_MINUTES),
                ],
            ),
            cw.GraphWidget(
                title="API latency",
                left=[api.metric_latency(period=FIVE_MINUTES, statistic=s) for s in ("p50", "p90", "p99")],
            ),
            cw.GraphWidget(
                title="Database connections",
                left=[watched.database.metric_database_connections(period=FIVE_MINUTES)],
                right=[watched.database.metric_cpu_utilization(period=FIVE_MINUTES)],
            ),
        )
        self.dashboard.add_widgets(
            cw.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms.values()), width=24),
        )


def service_metric(name: str, *, period: Duration, statistic: str = "Maximum") -> cw.Metric:
    """A metric the functions publish with powertools Metrics (namespace ``Ticketing``, ``service``)."""
    return cw.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": SERVICE_NAME},
        period=period,
        statistic=statistic,
    )


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("-", "_").split("_"))
