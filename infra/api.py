"""The REST API, built from ``shared.routes.ROUTES``: one Lambda per route, one JWT authorizer.

Every route with ``auth=True`` goes through the TOKEN authorizer (``Authorization`` header,
results cached for five minutes); only the health checks and ``POST /v2/enqueue``, whose routing
key authenticates each event (``auth=False``), have none. Errors that API Gateway produces itself
are RFC 9457 ``application/problem+json`` like the handlers' own.
"""

from __future__ import annotations

import json

from aws_cdk import Duration, NestedStack, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.functions import FunctionContext, TicketingFunction
from infra.nag import acknowledge
from infra.queues import _construct_id
from shared.runtime.catalog import AUTHORIZER_FUNCTION, FunctionSettings, Route

STAGE_NAME = "v1"
THROTTLE_RATE = 200  # requests per second, steady state, for the whole stage
THROTTLE_BURST = 400
AUTH_CACHE = Duration.minutes(5)
AUTHORIZER_SETTINGS = FunctionSettings(memory_mb=256, timeout_s=5)
PROBLEM_JSON = "application/problem+json"

# (response type, status, title). Specific types first so that DEFAULT_4XX/5XX, which would
# otherwise turn every unlisted error into 400/500, only catch what is left.
GATEWAY_RESPONSES: tuple[tuple[apigw.ResponseType, int, str], ...] = (
    (apigw.ResponseType.UNAUTHORIZED, 401, "Unauthorized"),
    (apigw.ResponseType.ACCESS_DENIED, 403, "Forbidden"),
    (apigw.ResponseType.EXPIRED_TOKEN, 401, "Unauthorized"),
    (apigw.ResponseType.INVALID_SIGNATURE, 403, "Forbidden"),
    (apigw.ResponseType.INVALID_API_KEY, 403, "Forbidden"),
    (apigw.ResponseType.WAF_FILTERED, 403, "Forbidden"),
    (apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN, 404, "Not Found"),
    (apigw.ResponseType.RESOURCE_NOT_FOUND, 404, "Not Found"),
    (apigw.ResponseType.BAD_REQUEST_PARAMETERS, 400, "Bad Request"),
    (apigw.ResponseType.BAD_REQUEST_BODY, 400, "Bad Request"),
    (apigw.ResponseType.REQUEST_TOO_LARGE, 413, "Content Too Large"),
    (apigw.ResponseType.UNSUPPORTED_MEDIA_TYPE, 415, "Unsupported Media Type"),
    (apigw.ResponseType.THROTTLED, 429, "Too Many Requests"),
    (apigw.ResponseType.QUOTA_EXCEEDED, 429, "Too Many Requests"),
    (apigw.ResponseType.DEFAULT_4_XX, 400, "Bad Request"),
    (apigw.ResponseType.AUTHORIZER_FAILURE, 500, "Internal Server Error"),
    (apigw.ResponseType.AUTHORIZER_CONFIGURATION_ERROR, 500, "Internal Server Error"),
    (apigw.ResponseType.API_CONFIGURATION_ERROR, 500, "Internal Server Error"),
    (apigw.ResponseType.INTEGRATION_FAILURE, 502, "Bad Gateway"),
    (apigw.ResponseType.INTEGRATION_TIMEOUT, 504, "Gateway Timeout"),
    (apigw.ResponseType.DEFAULT_5_XX, 500, "Internal Server Error"),
)


def problem_template(status: int, title: str) -> str:
    """An RFC 9457 body; ``$context.error.messageString`` is already a quoted JSON string."""
    body = json.dumps({"type": "about:blank", "title": title, "status": status})
    return body[:-1] + ', "detail": $context.error.messageString, "requestId": "$context.requestId"}'


# The route functions live in nested stacks by concern, the API itself (resources, methods, the
# authorizer) in the parent: CloudFormation allows 500 resources per stack, and a route function
# costs four (function, role, log group, invoke permission). docs/decisions.md.
ROUTE_GROUPS: dict[str, str] = {
    "tickets": "Tickets",
    "me": "Tickets",
    "intake": "Intake",
    "v2": "Intake",
    "integrations": "Intake",
    "routing-rules": "Configuration",
    "sla-policies": "Configuration",
    "calendars": "Configuration",
    "webhooks": "Webhooks",
}


def route_group(route: Route) -> str:
    """The nested stack of a route's function, by the path's first segment (Service otherwise)."""
    first = route.path.strip("/").split("/", 1)[0]
    return ROUTE_GROUPS.get(first, "Service")


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        routes: tuple[Route, ...],
        context: FunctionContext,
        jwt_issuer: str,
        jwks_url: str,
        jwt_audience: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.api = apigw.RestApi(
            self,
            "RestApi",
            description="Ticketing: tickets, comments, lifecycle and audit trail",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=True,
            cloud_watch_role_removal_policy=RemovalPolicy.DESTROY,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,
                throttling_rate_limit=THROTTLE_RATE,
                throttling_burst_limit=THROTTLE_BURST,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=True,
                ),
            ),
        )
        # The stack publishes the URL under the stable name ApiUrl instead of this hashed output.
        self.api.node.try_remove_child("Endpoint")
        self.usage_plan = self.api.add_usage_plan(
            "UsagePlan",
            description="Default plan for Ticketing API callers",
            throttle=apigw.ThrottleSettings(rate_limit=THROTTLE_RATE, burst_limit=THROTTLE_BURST),
            api_stages=[apigw.UsagePlanPerApiStage(api=self.api, stage=self.api.deployment_stage)],
        )
        self.validator = self.api.add_request_validator(
            "Validator", validate_request_parameters=True, validate_request_body=True
        )
        for response_type, status, title in GATEWAY_RESPONSES:
            self.api.add_gateway_response(
                f"Problem{response_type.response_type}",
                type=response_type,
                status_code=str(status),
                response_headers={"Content-Type": f"'{PROBLEM_JSON}'"},
                templates={"application/json": problem_template(status, title)},
            )

        env = {"JWKS_URL": jwks_url, "JWT_ISSUER": jwt_issuer}
        if jwt_audience:
            env["JWT_AUDIENCE"] = jwt_audience
        self.authorizer_function = TicketingFunction(
            self,
            "AuthorizerFunction",
            name=AUTHORIZER_FUNCTION,
            settings=AUTHORIZER_SETTINGS,
            context=context,
            description="Verifies the platform's OIDC JWT; returns the principal's scope",
            environment=env,
        )
        self.authorizer = apigw.TokenAuthorizer(
            self,
            "JwtAuthorizer",
            handler=self.authorizer_function.function,
            identity_source=apigw.IdentitySource.header("Authorization"),
            results_cache_ttl=AUTH_CACHE,
        )

        self.functions: dict[str, TicketingFunction] = {}
        self.route_stacks: dict[str, NestedStack] = {}
        for route in routes:
            function = self.functions.get(route.function)
            if function is None:
                group = route_group(route)
                home = self.route_stacks.get(group)
                if home is None:
                    home = self.route_stacks[group] = NestedStack(self, f"{group}Routes")
                function = TicketingFunction(
                    home,
                    _construct_id(route.function),
                    name=route.function,
                    settings=route.settings,
                    context=context,
                    description=f"{route.method} {route.path}: {route.summary}",
                )
                self.functions[route.function] = function
            resource = self.api.root.resource_for_path(route.path)
            method = resource.add_method(
                route.method,
                apigw.LambdaIntegration(function.function, allow_test_invoke=False),
                authorizer=self.authorizer if route.auth else None,
                authorization_type=apigw.AuthorizationType.CUSTOM
                if route.auth
                else apigw.AuthorizationType.NONE,
                request_validator=self.validator,
            )
            if not route.auth:
                reason = f"{route.method} {route.path} takes no JWT: {route.no_auth_reason}."
                acknowledge(method, "APIG4", reason)
                acknowledge(method, "COG4", reason)

        acknowledge(
            self.api,
            "COG4",
            "Callers authenticate with the data platform's OIDC JWT, verified by the Lambda TOKEN "
            "authorizer; the platform does not use Cognito user pools.",
        )
        acknowledge(
            self.api,
            "APIG3",
            "No WAF web ACL yet: the API is regional, authenticated and throttled per stage and usage plan. "
            "A WAF association is tracked as follow-up work.",
        )
        acknowledge(
            self.api,
            "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account-level CloudWatch role for execution logs; AWS's managed policy is the "
            "documented one for this service role.",
        )

    @property
    def url(self) -> str:
        return self.api.url
