"""The VPC: AWS APIs through VPC endpoints; the internet only for the functions that must reach it.

Two isolated subnet groups: ``app`` (Lambdas and the interface endpoints) and ``data`` (the
database and RDS Proxy); only the AWS services the functions call get an endpoint. The functions
that declare ``Internet()`` (the webhook dispatcher: receivers anywhere; the notify worker: SES's
API) run in the ``egress`` group, whose route to the internet is one NAT gateway in the ``public``
group, under a security group of their own.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_s3 as s3
from constructs import Construct

APP_SUBNETS = "app"
DATA_SUBNETS = "data"
EGRESS_SUBNETS = "egress"
PUBLIC_SUBNETS = "public"


class Network(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, flow_logs_bucket: s3.IBucket) -> None:
        super().__init__(scope, construct_id)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr("10.40.0.0/16"),
            max_azs=2,
            nat_gateways=1,
            # Nothing uses the default security group; restricting it needs a custom-resource Lambda.
            restrict_default_security_group=False,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name=APP_SUBNETS, subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=22
                ),
                ec2.SubnetConfiguration(
                    name=DATA_SUBNETS, subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                ),
                ec2.SubnetConfiguration(
                    name=EGRESS_SUBNETS, subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=24
                ),
                ec2.SubnetConfiguration(name=PUBLIC_SUBNETS, subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=26),
            ],
        )
        self.vpc.add_flow_log(
            "FlowLogs",
            destination=ec2.FlowLogDestination.to_s3(flow_logs_bucket, "vpc-flow-logs/"),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )
        self.app_subnets = ec2.SubnetSelection(subnet_group_name=APP_SUBNETS)
        self.data_subnets = ec2.SubnetSelection(subnet_group_name=DATA_SUBNETS)
        self.egress_subnets = ec2.SubnetSelection(subnet_group_name=EGRESS_SUBNETS)

        # Functions that use the database run in this group; so do the migrate function and the
        # secret rotation functions (each with its own group, declared by the database construct).
        self.lambda_sg = ec2.SecurityGroup(
            self,
            "LambdaSg",
            vpc=self.vpc,
            description="Ticketing Lambdas: reach RDS Proxy and the VPC endpoints only",
            allow_all_outbound=False,
        )
        self.endpoint_sg = ec2.SecurityGroup(
            self,
            "EndpointSg",
            vpc=self.vpc,
            description="Interface VPC endpoints: HTTPS from the Ticketing functions",
            allow_all_outbound=False,
        )
        # Free, and S3 (attachments) is the next API the functions need; a function that uses it
        # also needs an egress rule to the S3 prefix list on its security group.
        self.s3_endpoint = self.vpc.add_gateway_endpoint(
            "S3", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[self.app_subnets]
        )
        self.interface_endpoints: list[ec2.InterfaceVpcEndpoint] = []
        for endpoint_id, service in (
            ("SecretsManager", ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER),
            ("Events", ec2.InterfaceVpcEndpointAwsService.EVENTBRIDGE),
            ("Sqs", ec2.InterfaceVpcEndpointAwsService.SQS),
        ):
            self.interface_endpoints.append(
                self.vpc.add_interface_endpoint(
                    endpoint_id,
                    service=service,
                    subnets=self.app_subnets,
                    security_groups=[self.endpoint_sg],
                    open=False,
                    private_dns_enabled=True,
                )
            )
        self.allow_endpoints_from(self.lambda_sg)
        # Webhook receivers listen on any port of any public address (each vetted by the
        # dispatcher before it connects): outbound is open; inbound, as every group here, closed.
        self.egress_sg = ec2.SecurityGroup(
            self,
            "EgressSg",
            vpc=self.vpc,
            description="Ticketing functions that reach the internet (webhooks, SES)",
            allow_all_outbound=True,
        )
        self.endpoint_sg.add_ingress_rule(self.egress_sg, ec2.Port.tcp(443), "HTTPS from Ticketing functions")

    def allow_endpoints_from(self, sg: ec2.SecurityGroup) -> None:
        """Let a security group call the interface endpoints (HTTPS)."""
        sg.add_egress_rule(self.endpoint_sg, ec2.Port.tcp(443), "AWS APIs through the VPC endpoints")
        self.endpoint_sg.add_ingress_rule(sg, ec2.Port.tcp(443), "HTTPS from Ticketing functions")
