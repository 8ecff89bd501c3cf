"""One helper for every Lambda: defaults, its own log group and its own least-privilege role.

Each function gets: arm64, Python 3.12, X-Ray tracing, the two layers (dependencies, ``shared``),
a log group with retention, and an ``iam.Role`` whose only inline permission is writing to that
log group. A function that declares the database runs in the VPC (ENI permissions). Every other
permission and setting follows from the function's declared resources, bound by the stack
through ``infra/resources.py`` once everything exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.assets import AssetBuilder
from infra.nag import acknowledge
from infra.network import Network
from shared.runtime import catalog
from shared.runtime.catalog import FunctionSettings

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
SERVICE_NAME = "ticketing"
METRICS_NAMESPACE = "Ticketing"
LOG_RETENTION = logs.RetentionDays.ONE_MONTH

# Lambda creates and removes its ENIs with the function's role; EC2 offers no resource scoping
# for these actions (https://docs.aws.amazon.com/lambda/latest/dg/configuration-vpc.html).
ENI_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)
ENI_REASON = (
    "Lambda VPC networking: ec2:CreateNetworkInterface/Describe*/Delete*/Assign*/Unassign* do not "
    "support resource-level permissions, so AWS requires Resource '*' (the same statement as the "
    "AWSLambdaVPCAccessExecutionRole managed policy, written inline)."
)
XRAY_REASON = (
    "X-Ray tracing: xray:PutTraceSegments and xray:PutTelemetryRecords do not support resource-level "
    "permissions, so AWS requires Resource '*'."
)
RUNTIME_REASON = (
    "Python 3.12 is the project's chosen Lambda runtime (arm64 wheels are built for it); it is "
    "supported by Lambda. Moving to a newer runtime is a deliberate, tested change."
)


@dataclass(frozen=True, kw_only=True)
class FunctionContext:
    """What every function is built with."""

    assets: AssetBuilder
    layers: tuple[lambda_.ILayerVersion, ...]
    network: Network
    log_level: str = "INFO"


def _unique_name(stack: Stack, name: str, construct_id: str) -> str:
    """``<stack name>-<folder>``; a folder deployed twice in one stack (a test's worker reusing a
    route's folder) gets its construct's id after it the second time."""
    while stack.nested_stack_parent is not None:  # named after the deployed (top-level) stack
        stack = stack.nested_stack_parent
    taken: set[str] = stack.__dict__.setdefault("_ticketing_function_names", set())
    candidate = f"{stack.stack_name}-{name}"
    if candidate in taken:
        candidate = f"{candidate}-{construct_id}"[:64]
    taken.add(candidate)
    return candidate


class InlinePolicyRole(iam.Role):
    """A role whose grants all go into its own inline policy.

    An ``iam.Role`` puts what is granted to it after it is made into a separate
    ``AWS::IAM::Policy`` resource: one more resource per function, in a stack that CloudFormation
    caps at 500 resources (the webhook routes took it past). An inline policy has the same size
    limit (a role's inline policies together, 10,240 characters) and the same effect; the
    function and anything else that must wait for the grants depend on the role itself.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, document: iam.PolicyDocument, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, inline_policies={"function": document}, **kwargs)
        self._document = document

    def add_to_principal_policy(self, statement: iam.PolicyStatement) -> iam.AddToPrincipalPolicyResult:
        self._document.add_statements(statement)
        return iam.AddToPrincipalPolicyResult(statement_added=True, policy_dependable=self)


class TicketingFunction(Construct):
    """A Lambda built from ``functions/<name>/`` with the project's defaults."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        name: str,
        settings: FunctionSettings,
        context: FunctionContext,
        description: str,
        environment: Mapping[str, str] | None = None,
        code: lambda_.Code | None = None,
        security_group: ec2.ISecurityGroup | None = None,
        async_dlq: sqs.IQueue | None = None,
        function_name: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.name = name
        self.settings = settings
        # Named as Lambda would name them, so the runbook's `aws logs tail /aws/lambda/<function
        # name>` works: the function's name is fixed too (the stack's name and the folder's, unique
        # per stage), as a generated one cannot name its log group without a cycle.
        self.function_name = function_name or _unique_name(Stack.of(self), name, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/lambda/{self.function_name}",
            retention=LOG_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.role = InlinePolicyRole(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Ticketing {name}: least privilege for this function only",
            document=iam.PolicyDocument(
                statements=[
                    iam.PolicyStatement(
                        actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                        resources=[self.log_group.log_group_arn],
                    )
                ]
            ),
        )
        env: dict[str, str] = {
            "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "LOG_LEVEL": context.log_level,
        }
        vpc_props: dict[str, object] = {}
        if settings.uses_database or security_group is not None:
            self.role.add_to_principal_policy(
                iam.PolicyStatement(sid="VpcNetworkInterfaces", actions=list(ENI_ACTIONS), resources=["*"])
            )
            acknowledge(self.role, "IAM5[Resource::*]", f"{ENI_REASON} {XRAY_REASON}")
            online = bool(settings.declared(catalog.Internet))
            vpc_props = {
                "vpc": context.network.vpc,
                "vpc_subnets": context.network.egress_subnets if online else context.network.app_subnets,
                "security_groups": [
                    security_group or (context.network.egress_sg if online else context.network.lambda_sg)
                ],
            }
        else:
            acknowledge(self.role, "IAM5[Resource::*]", XRAY_REASON)
        if settings.after_response:
            env["AFTER_RESPONSE"] = (
                "extension"  # publish after the response: shared/runtime/after_response.py
            )
        env.update(environment or {})

        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=f"functions.{name}.handler.handler",
            code=code or context.assets.function_code(name),
            layers=list(context.layers),
            memory_size=settings.memory_mb,
            timeout=Duration.seconds(settings.timeout_s),
            reserved_concurrent_executions=settings.reserved_concurrency,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            role=self.role,
            environment=env,
            dead_letter_queue=async_dlq,
            function_name=self.function_name,
            **vpc_props,  # type: ignore[arg-type]
        )
        acknowledge(self.function, "L1", RUNTIME_REASON)

    @property
    def cfn_function(self) -> lambda_.CfnFunction:
        child = self.function.node.default_child
        assert isinstance(child, lambda_.CfnFunction)
        return child
