"""PostgreSQL on RDS behind RDS Proxy, with two rotated secrets.

- the master secret (generated): used only by the migration custom resource;
- the app secret for ``ticketing_app`` (generated): the role the functions use through the proxy.
  The first migration creates that role without BYPASSRLS; the migration custom resource gives it
  LOGIN and this secret's password on every deploy.

Security groups: Lambda SG -> proxy SG -> DB SG on 5432. The migrate function and the two
rotation functions connect to the instance directly (admin SG -> DB SG): the proxy may not have
registered its target yet while the first deploy runs the migrations.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.nag import acknowledge
from infra.network import Network

DB_NAME = "ticketing"
DB_PORT = 5432
MASTER_USER = "ticketing_admin"
APP_USER = "ticketing_app"  # created by migrations/0001 (NOLOGIN, no BYPASSRLS)
ENGINE_VERSION = rds.PostgresEngineVersion.VER_16_13
ROTATION_DAYS = 30


class Database(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        network: Network,
        instance_class: str,
        multi_az: bool,
        deletion_protection: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        vpc = network.vpc
        self.db_sg = ec2.SecurityGroup(
            self, "DbSg", vpc=vpc, description="PostgreSQL: from RDS Proxy and admin functions only",
            allow_all_outbound=False,
        )  # fmt: skip
        self.proxy_sg = ec2.SecurityGroup(
            self, "ProxySg", vpc=vpc, description="RDS Proxy: from the Ticketing Lambdas only",
            allow_all_outbound=False,
        )  # fmt: skip
        # The migrate function and the secret rotation functions: direct to the instance.
        self.admin_sg = ec2.SecurityGroup(
            self, "AdminSg", vpc=vpc, description="Migrations and secret rotation: PostgreSQL and endpoints",
            allow_all_outbound=False,
        )  # fmt: skip
        port = ec2.Port.tcp(DB_PORT)
        self._allow(network.lambda_sg, self.proxy_sg, port, "Lambdas to RDS Proxy")
        self.proxy_sg.add_ingress_rule(network.egress_sg, port, "Internet-reaching Lambdas to RDS Proxy")
        # Proxy -> DB SG is added by the proxy construct itself (on the instance's port).
        self._allow(self.admin_sg, self.db_sg, port, "Migrations and rotation to PostgreSQL")
        network.allow_endpoints_from(self.admin_sg)

        engine = rds.DatabaseInstanceEngine.postgres(version=ENGINE_VERSION)
        parameters = rds.ParameterGroup(
            self,
            "Parameters",
            engine=engine,
            description="Ticketing PostgreSQL: TLS only, slow statements logged",
            parameters={"rds.force_ssl": "1", "log_min_duration_statement": "1000"},
        )
        self.instance = rds.DatabaseInstance(
            self,
            "Instance",
            engine=engine,
            instance_type=ec2.InstanceType(instance_class),
            vpc=vpc,
            vpc_subnets=network.data_subnets,
            security_groups=[self.db_sg],
            credentials=rds.Credentials.from_generated_secret(MASTER_USER),
            database_name=DB_NAME,
            port=DB_PORT,
            parameter_group=parameters,
            storage_encrypted=True,
            storage_type=rds.StorageType.GP3,
            allocated_storage=20,
            max_allocated_storage=200,
            multi_az=multi_az,
            publicly_accessible=False,
            backup_retention=Duration.days(7),
            delete_automated_backups=False,
            deletion_protection=deletion_protection,
            removal_policy=RemovalPolicy.SNAPSHOT,
            iam_authentication=True,
            auto_minor_version_upgrade=True,
            cloudwatch_logs_exports=["postgresql", "upgrade"],
            enable_performance_insights=True,
            monitoring_interval=Duration.seconds(0),
        )
        assert self.instance.secret is not None  # from_generated_secret always creates one
        self.master_secret = self.instance.secret
        app_secret = rds.DatabaseSecret(self, "AppSecret", username=APP_USER)
        # Attaching adds host/port/engine/dbname, which the rotation function needs.
        self.app_secret = app_secret.attach(self.instance)

        self.rotations: list[secretsmanager.RotationSchedule] = []
        for rotation_id, secret in (("MasterRotation", self.master_secret), ("AppRotation", self.app_secret)):
            self.rotations.append(
                secret.add_rotation_schedule(
                    rotation_id,
                    automatically_after=Duration.days(ROTATION_DAYS),
                    hosted_rotation=secretsmanager.HostedRotation.postgre_sql_single_user(
                        vpc=vpc, vpc_subnets=network.app_subnets, security_groups=[self.admin_sg]
                    ),
                )
            )

        self.proxy = self.instance.add_proxy(
            "Proxy",
            secrets=[self.master_secret, self.app_secret],
            vpc=vpc,
            vpc_subnets=network.data_subnets,
            security_groups=[self.proxy_sg],
            require_tls=True,
            iam_auth=False,
            idle_client_timeout=Duration.minutes(30),
            max_connections_percent=90,
        )

        for rule, reason in (
            (
                "RDS11",
                "PostgreSQL's default port: RDS Proxy only listens on 5432 for PostgreSQL, and access is "
                "limited by security groups (Lambda SG -> proxy SG -> DB SG), not by an obscure port.",
            ),
        ):
            acknowledge(self.instance, rule, reason)
        if not deletion_protection:
            acknowledge(
                self.instance,
                "RDS10",
                "Deletion protection is off for this stage by the deletionProtection context setting.",
            )
        if not multi_az:
            acknowledge(self.instance, "RDS3", "Single-AZ for this stage by the multiAz context setting.")

    @staticmethod
    def _allow(source: ec2.SecurityGroup, target: ec2.SecurityGroup, port: ec2.Port, why: str) -> None:
        source.add_egress_rule(target, port, why)
        target.add_ingress_rule(source, port, why)
