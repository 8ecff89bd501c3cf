"""The deploy-time migration: a custom resource that runs ``shared.migrate.apply`` on every deploy
whose migrations changed (the ``MigrationsHash`` property), through the Provider framework.

The migrate function connects to the instance (not the proxy) with the master secret and passes
the app secret's password, so ``ticketing_app`` can log in with exactly what the functions read.
A failing migration raises; the provider reports FAILED with its message and the deploy rolls back.
"""

from __future__ import annotations

from aws_cdk import CustomResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from infra.database import DB_NAME, DB_PORT, Database
from infra.functions import FunctionContext, TicketingFunction
from infra.nag import acknowledge
from shared.runtime.catalog import MIGRATE_FUNCTION, FunctionSettings

# Its own construct wires it (admin security group, both secrets): it declares no shared resources.
MIGRATE_SETTINGS = FunctionSettings(memory_mb=512, timeout_s=300)
ASSET_MIGRATIONS_DIR = "/var/task/migrations"


class Migrations(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, context: FunctionContext, database: Database
    ) -> None:
        super().__init__(scope, construct_id)
        self.handler = TicketingFunction(
            self,
            "Handler",
            name=MIGRATE_FUNCTION,
            settings=MIGRATE_SETTINGS,
            context=context,
            description="Applies migrations/*.sql (custom resource; safe to invoke by hand)",
            code=context.assets.function_code(MIGRATE_FUNCTION, with_migrations=True),
            security_group=database.admin_sg,
            environment={
                "MASTER_SECRET_ARN": database.master_secret.secret_arn,
                "APP_SECRET_ARN": database.app_secret.secret_arn,
                "MIGRATE_DB_HOST": database.instance.db_instance_endpoint_address,
                "MIGRATE_DB_PORT": str(DB_PORT),
                "MIGRATE_DB_NAME": DB_NAME,
                "MIGRATIONS_DIR": ASSET_MIGRATIONS_DIR,
            },
        )
        database.master_secret.grant_read(self.handler.role)
        database.app_secret.grant_read(self.handler.role)

        framework_logs = logs.LogGroup(
            self, "ProviderLogs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
        )
        framework_role = iam.Role(
            self,
            "ProviderRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Custom resource provider framework for the migrations",
            inline_policies={
                "logs": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                            resources=[framework_logs.log_group_arn],
                        )
                    ]
                )
            },
        )
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.handler.function,
            log_group=framework_logs,
            framework_on_event_role=framework_role,
        )
        self.resource = CustomResource(
            self,
            "Run",
            service_token=self.provider.service_token,
            resource_type="Custom::TicketingMigrations",
            properties={"MigrationsHash": context.assets.migrations_hash()},
        )
        # The function reads secrets through the endpoint: it must exist before the first run.
        for endpoint in context.network.interface_endpoints:
            self.resource.node.add_dependency(endpoint)
        # Rotating a secret while the migration reads it would race; ticketing_app can only log in
        # (and so be rotated) once the migration has given it LOGIN.
        for rotation in database.rotations:
            rotation.node.add_dependency(self.resource)

        stack = Stack.of(self)
        function_logical_id = stack.resolve(stack.get_logical_id(self.handler.cfn_function))
        acknowledge(
            framework_role,
            f"IAM5[Resource::<{function_logical_id}.Arn>:*]",
            "The provider framework invokes the migrate function and any of its versions (qualified "
            "ARN); the wildcard is only the version qualifier of that one function.",
        )
        acknowledge(
            self.provider,
            "L1",
            "The provider framework's own Node.js function; its runtime is chosen by aws-cdk-lib and "
            "updated with it.",
        )
        self.timeout = Duration.seconds(MIGRATE_SETTINGS.timeout_s)
