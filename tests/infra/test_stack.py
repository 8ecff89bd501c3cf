"""Resource properties of the synthesised stack (never hashed logical ids, never bare counts)."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match, Template

from infra.assets import AssetBuilder
from shared.runtime.catalog import (
    AUTHORIZER_FUNCTION,
    MIGRATE_FUNCTION,
    OPERATORS,
    ROUTES,
    SCHEDULED,
    WORKERS,
    EventBus,
    FunctionSpec,
    Internet,
    Queue,
    WebhookConfig,
    all_function_names,
    all_specs,
)
from tests.infra.conftest import Synth, grants, of_type, rendered, role_statements

Resources = dict[str, dict[str, Any]]
# The routes without the authorizer: the health checks, and POST /v2/enqueue (its routing key
# authenticates each event).
UNAUTHENTICATED_PATHS = {"/healthz", "/readyz", "/v2/enqueue"}
OUTPUT_NAMES = (
    "ApiUrl",
    "EventBusName",
    "AttachmentsBucketName",
    "OutboxRelayFunctionName",
    "AuditVerifyFunctionName",
    "ReplayDlqFunctionName",
    "MigrateFunctionName",
    "DatabaseProxyEndpoint",
    "AlarmTopicArn",
)


def ref_id(value: Any) -> str:
    """The logical id a Ref / Fn::GetAtt points at."""
    if isinstance(value, dict) and "Ref" in value:
        return str(value["Ref"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(value["Fn::GetAtt"][0])
    raise AssertionError(f"not a reference: {value!r}")


def functions_by_name(resources: Resources) -> dict[str, dict[str, Any]]:
    """Our Lambdas by folder name, read from the handler path ``functions.<name>.handler.handler``."""
    found = {}
    for resource in of_type(resources, "AWS::Lambda::Function").values():
        handler = resource["Properties"].get("Handler", "")
        if handler.startswith("functions."):
            found[handler.split(".")[1]] = resource
    return found


def function_logical_ids(resources: Resources) -> dict[str, str]:
    return {
        r["Properties"]["Handler"].split(".")[1]: logical_id
        for logical_id, r in of_type(resources, "AWS::Lambda::Function").items()
        if r["Properties"].get("Handler", "").startswith("functions.")
    }


# ---- database ------------------------------------------------------------------------------------


def test_database_is_encrypted_private_backed_up_and_protected(template: Template) -> None:
    template.has_resource_properties(
        "AWS::RDS::DBInstance",
        {
            "Engine": "postgres",
            "EngineVersion": Match.string_like_regexp(r"^16\.\d+$"),
            "StorageEncrypted": True,
            "PubliclyAccessible": False,
            "DeletionProtection": True,  # cdk.json: deletionProtection true
            "BackupRetentionPeriod": Match.any_value(),
            "MultiAZ": True,
        },
    )


def test_database_backups_are_on(resources: Resources) -> None:
    (instance,) = of_type(resources, "AWS::RDS::DBInstance").values()
    assert instance["Properties"]["BackupRetentionPeriod"] >= 1


def test_proxy_requires_tls_and_serves_both_secrets(resources: Resources) -> None:
    (proxy,) = of_type(resources, "AWS::RDS::DBProxy").values()
    props = proxy["Properties"]
    assert props["RequireTLS"] is True
    assert props["EngineFamily"] == "POSTGRESQL"
    secrets = {ref_id(auth["SecretArn"]) for auth in props["Auth"]}
    assert secrets == set(of_type(resources, "AWS::SecretsManager::SecretTargetAttachment"))


def test_both_secrets_rotate(resources: Resources) -> None:
    rotated = {
        ref_id(r["Properties"]["SecretId"])
        for r in of_type(resources, "AWS::SecretsManager::RotationSchedule").values()
    }
    assert rotated == set(of_type(resources, "AWS::SecretsManager::SecretTargetAttachment"))
    for schedule in of_type(resources, "AWS::SecretsManager::RotationSchedule").values():
        assert schedule["Properties"]["RotationRules"]["ScheduleExpression"] == "rate(30 days)"


def test_security_groups_chain_lambda_to_proxy_to_database(resources: Resources) -> None:
    (instance,) = of_type(resources, "AWS::RDS::DBInstance").values()
    (proxy,) = of_type(resources, "AWS::RDS::DBProxy").values()
    (db_sg,) = {ref_id(sg) for sg in instance["Properties"]["VPCSecurityGroups"]}
    (proxy_sg,) = {ref_id(sg) for sg in proxy["Properties"]["VpcSecurityGroupIds"]}
    functions = functions_by_name(resources)
    app_sgs = {
        ref_id(sg)
        for name, fn in functions.items()
        if name != MIGRATE_FUNCTION and "VpcConfig" in fn["Properties"]
        for sg in fn["Properties"]["VpcConfig"]["SecurityGroupIds"]
    }
    (migrate_sg,) = {
        ref_id(sg) for sg in functions[MIGRATE_FUNCTION]["Properties"]["VpcConfig"]["SecurityGroupIds"]
    }
    assert instance["Properties"]["Port"] == "5432"

    def port(value: Any) -> int:
        # The proxy construct opens the instance's own port: Fn::GetAtt <instance>.Endpoint.Port.
        if isinstance(value, dict):
            assert value == {"Fn::GetAtt": [instance_id, "Endpoint.Port"]}
            return 5432
        return int(value)

    (instance_id,) = of_type(resources, "AWS::RDS::DBInstance")
    ingress: dict[str, set[tuple[str, int, int]]] = {}
    for rule in of_type(resources, "AWS::EC2::SecurityGroupIngress").values():
        props = rule["Properties"]
        assert "CidrIp" not in props, "ingress from CIDR ranges is not allowed"
        ingress.setdefault(ref_id(props["GroupId"]), set()).add(
            (ref_id(props["SourceSecurityGroupId"]), port(props["FromPort"]), port(props["ToPort"]))
        )
    assert ingress[proxy_sg] == {(sg, 5432, 5432) for sg in app_sgs}
    assert ingress[db_sg] == {(proxy_sg, 5432, 5432), (migrate_sg, 5432, 5432)}
    for sg in (db_sg, proxy_sg):
        assert not resources[sg]["Properties"].get("SecurityGroupIngress"), "inline ingress rules"


def test_database_lives_in_isolated_subnets_and_only_declared_functions_reach_the_internet(
    resources: Resources,
) -> None:
    """One NAT gateway, for the egress subnets: the database's subnets and every function's but
    those that declare Internet() (the webhook dispatcher, the notify worker) have no route out."""
    assert len(of_type(resources, "AWS::EC2::NatGateway")) == 1
    default_routes = {
        ref_id(r["Properties"]["RouteTableId"])
        for r in of_type(resources, "AWS::EC2::Route").values()
        if r["Properties"].get("DestinationCidrBlock") == "0.0.0.0/0"
    }
    table_of = {
        ref_id(a["Properties"]["SubnetId"]): ref_id(a["Properties"]["RouteTableId"])
        for a in of_type(resources, "AWS::EC2::SubnetRouteTableAssociation").values()
    }

    def online(subnets: list[Any]) -> bool:
        return any(table_of[ref_id(subnet)] in default_routes for subnet in subnets)

    (subnet_group,) = of_type(resources, "AWS::RDS::DBSubnetGroup").values()
    assert not online(subnet_group["Properties"]["SubnetIds"])
    reaching = {
        name
        for name, fn in functions_by_name(resources).items()
        if "VpcConfig" in fn["Properties"] and online(fn["Properties"]["VpcConfig"]["SubnetIds"])
    }
    assert reaching == {spec.function for spec in all_specs() if spec.settings.declared(Internet)}
    assert reaching == {"webhook_dispatch", "notify"}
    endpoints = {
        str(r["Properties"]["ServiceName"]) for r in of_type(resources, "AWS::EC2::VPCEndpoint").values()
    }
    for service in ("secretsmanager", "events", "sqs", "s3"):
        assert any(service in name for name in endpoints), service


# ---- functions -----------------------------------------------------------------------------------


def test_every_function_of_the_route_table_exists_on_arm64_python312(resources: Resources) -> None:
    functions = functions_by_name(resources)
    assert set(functions) == set(all_function_names())
    for name, fn in functions.items():
        props = fn["Properties"]
        assert props["Architectures"] == ["arm64"], name
        assert props["Runtime"] == "python3.12", name
        assert props["TracingConfig"] == {"Mode": "Active"}, name
        assert len(props["Layers"]) == 2, name


def test_every_function_has_its_own_role(resources: Resources) -> None:
    roles = [ref_id(fn["Properties"]["Role"]) for fn in functions_by_name(resources).values()]
    assert len(roles) == len(set(roles))


def test_route_table_settings_reach_the_functions(resources: Resources) -> None:
    functions = functions_by_name(resources)
    entries: tuple[FunctionSpec, ...] = (*ROUTES, *SCHEDULED, *OPERATORS)
    for entry in entries:
        props = functions[entry.function]["Properties"]
        settings = entry.settings
        assert props["MemorySize"] == settings.memory_mb, entry.function
        assert props["Timeout"] == settings.timeout_s, entry.function
        assert props.get("ReservedConcurrentExecutions") == settings.reserved_concurrency, entry.function
        env = props["Environment"]["Variables"]
        assert env["POWERTOOLS_SERVICE_NAME"] == "ticketing"
        assert "LOG_LEVEL" in env
        if settings.uses_database:
            assert "VpcConfig" in props, entry.function
            assert {"DB_HOST", "DB_SECRET_ARN", "DB_PORT", "DB_NAME", "DB_SSLMODE"} <= set(env), (
                entry.function
            )
        else:
            assert "VpcConfig" not in props, entry.function
            assert "DB_SECRET_ARN" not in env, entry.function


def test_each_function_logs_where_the_runbook_looks(resources: Resources) -> None:
    """`aws logs tail /aws/lambda/<function name>` (runbook.md): every function's log group is named
    after it, as Lambda itself would name it, and the names are valid and unique."""
    names = []
    for name, fn in functions_by_name(resources).items():
        props = fn["Properties"]
        function_name = props["FunctionName"]
        assert isinstance(function_name, str) and len(function_name) <= 64, name
        group = resources[ref_id(props["LoggingConfig"]["LogGroup"])]
        assert group["Properties"]["LogGroupName"] == f"/aws/lambda/{function_name}", name
        names.append(function_name)
    assert len(names) == len(set(names))


def test_webhook_urls_are_https_and_public_only_in_aws(resources: Resources) -> None:
    """The functions that set webhook URLs, and the dispatcher that vets them again at each
    delivery, are told to require https and allow no loopback host (the allow-list is the local
    stack's and the tests'); no other function is told anything."""
    functions = functions_by_name(resources)
    declaring = {spec.function for spec in all_specs() if spec.settings.declared(WebhookConfig)}
    assert declaring >= {"create_webhook", "update_webhook", "webhook_dispatch"}
    for name, fn in functions.items():
        env = fn["Properties"].get("Environment", {}).get("Variables", {})
        if name in declaring:
            assert env["WEBHOOK_REQUIRE_HTTPS"] == "true" and env["WEBHOOK_ALLOW_LOOPBACK"] == "", name
        else:
            assert "WEBHOOK_ALLOW_LOOPBACK" not in env, name


def test_functions_connect_through_the_proxy_with_the_app_secret(resources: Resources) -> None:
    (proxy_id,) = of_type(resources, "AWS::RDS::DBProxy")
    (instance_id,) = of_type(resources, "AWS::RDS::DBInstance")
    for name, fn in functions_by_name(resources).items():
        env = fn["Properties"]["Environment"]["Variables"]
        if "DB_HOST" in env:
            assert ref_id(env["DB_HOST"]) == proxy_id, name
            assert (
                resources[ref_id(env["DB_SECRET_ARN"])]["Type"]
                == "AWS::SecretsManager::SecretTargetAttachment"
            )
    migrate_env = functions_by_name(resources)[MIGRATE_FUNCTION]["Properties"]["Environment"]["Variables"]
    assert ref_id(migrate_env["MIGRATE_DB_HOST"]) == instance_id


def test_only_publishers_may_put_events(resources: Resources) -> None:
    logical = function_logical_ids(resources)
    entries: tuple[FunctionSpec, ...] = (*ROUTES, *SCHEDULED, *WORKERS, *OPERATORS)
    publishers = {e.function for e in entries if e.settings.declared(EventBus)}
    roles_with_put: set[str] = set()
    for role_id in of_type(resources, "AWS::IAM::Role"):
        for statement in role_statements(resources, role_id):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if "events:PutEvents" in actions:
                assert ref_id(statement["Resource"]) in of_type(resources, "AWS::Events::EventBus")
                roles_with_put.add(role_id)
    functions = functions_by_name(resources)
    expected = {ref_id(functions[name]["Properties"]["Role"]) for name in publishers}
    assert roles_with_put == expected
    assert publishers <= set(logical)


def test_write_routes_publish_after_the_response(resources: Resources) -> None:
    """The routes that publish events register the after-response extension; nothing else does."""
    functions = functions_by_name(resources)
    deferring = {route.function for route in ROUTES if route.settings.after_response}
    assert deferring >= {"create_ticket", "update_ticket", "transition_ticket", "add_comment"}
    for name, fn in functions.items():
        env = fn["Properties"].get("Environment", {}).get("Variables", {})
        assert (env.get("AFTER_RESPONSE") == "extension") == (name in deferring), name
    # ...and each of them publishes somewhere: the ticket bus, or a worker's queue.
    assert all(
        route.settings.declared(EventBus) or route.settings.declared(Queue)
        for route in ROUTES
        if route.settings.after_response
    )


def test_enqueue_sends_to_the_intake_queue_and_nowhere_else(resources: Resources) -> None:
    """POST /v2/enqueue is unauthenticated: its role may send to the intake queue and read the app
    secret, and nothing more (no PutEvents, no other queue)."""
    functions = functions_by_name(resources)
    props = functions["enqueue"]["Properties"]
    env = props["Environment"]["Variables"]
    intake_queue = ref_id(env["INTAKE_QUEUE_URL"])
    assert resources[intake_queue]["Type"] == "AWS::SQS::Queue"
    statements = role_statements(resources, ref_id(props["Role"]))
    actions = {
        a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }
    sqs = [s for s in statements if any(str(a).startswith("sqs:") for a in s["Action"])]
    assert grants(sqs)["sqs:SendMessage"] == {f"arn:{intake_queue}"}
    assert {
        rendered(r)
        for s in sqs
        for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
    } == {f"arn:{intake_queue}"}
    assert not any(action.startswith("events:") for action in actions)
    assert "EVENT_BUS_NAME" not in env
    assert props["ReservedConcurrentExecutions"] == 50


def test_migrate_function_ships_the_migrations(synth: Synth, resources: Resources) -> None:
    logical = function_logical_ids(resources)
    fn = resources[logical[MIGRATE_FUNCTION]]
    asset_dir = synth.outdir / fn["Metadata"]["aws:asset:path"]
    assert (asset_dir / "functions" / MIGRATE_FUNCTION / "handler.py").is_file()
    assert sorted(p.name for p in (asset_dir / "migrations").glob("*.sql"))
    assert fn["Properties"]["Environment"]["Variables"]["MIGRATIONS_DIR"] == "/var/task/migrations"


def test_function_assets_hold_only_their_own_folder(synth: Synth, resources: Resources) -> None:
    for name, logical_id in function_logical_ids(resources).items():
        asset_dir = synth.outdir / resources[logical_id]["Metadata"]["aws:asset:path"]
        assert sorted(p.name for p in (asset_dir / "functions").iterdir()) == ["__init__.py", name]
        assert not list(asset_dir.rglob("__pycache__")), name


def test_migrations_custom_resource_reruns_when_migrations_change(resources: Resources) -> None:
    (run,) = of_type(resources, "Custom::TicketingMigrations").values()
    assert run["Properties"]["MigrationsHash"] == AssetBuilder().migrations_hash()
    provider_fn = resources[ref_id(run["Properties"]["ServiceToken"])]
    on_event = provider_fn["Properties"]["Environment"]["Variables"]["USER_ON_EVENT_FUNCTION_ARN"]
    assert ref_id(on_event) == function_logical_ids(resources)[MIGRATE_FUNCTION]


# ---- API -----------------------------------------------------------------------------------------


def method_paths(resources: Resources) -> dict[str, tuple[str, str]]:
    """Method logical id -> (HTTP method, full resource path), rebuilt from PathPart / ParentId."""
    api_resources = of_type(resources, "AWS::ApiGateway::Resource")

    def path_of(logical_id: str) -> str:
        props = api_resources[logical_id]["Properties"]
        parent = props["ParentId"]
        prefix = "" if "Fn::GetAtt" in parent else path_of(ref_id(parent))
        return f"{prefix}/{props['PathPart']}"

    paths = {}
    for logical_id, method in of_type(resources, "AWS::ApiGateway::Method").items():
        resource_id = method["Properties"]["ResourceId"]
        path = "/" if "Fn::GetAtt" in resource_id else path_of(ref_id(resource_id))
        paths[logical_id] = (method["Properties"]["HttpMethod"], path)
    return paths


def test_every_route_is_a_method_and_only_health_checks_and_enqueue_skip_the_authorizer(
    resources: Resources,
) -> None:
    paths = method_paths(resources)
    assert set(paths.values()) == {(r.method, r.path) for r in ROUTES}
    assert {r.path for r in ROUTES if not r.auth} == UNAUTHENTICATED_PATHS
    (authorizer_id,) = of_type(resources, "AWS::ApiGateway::Authorizer")
    for logical_id, (verb, path) in paths.items():
        props = resources[logical_id]["Properties"]
        if path in UNAUTHENTICATED_PATHS:
            assert props["AuthorizationType"] == "NONE", (verb, path)
            assert "AuthorizerId" not in props
        else:
            assert props["AuthorizationType"] == "CUSTOM", (verb, path)
            assert ref_id(props["AuthorizerId"]) == authorizer_id, (verb, path)


def test_methods_invoke_their_own_function(resources: Resources) -> None:
    logical = function_logical_ids(resources)
    by_route = {(r.method, r.path): r.function for r in ROUTES}
    for logical_id, route in method_paths(resources).items():
        uri = str(resources[logical_id]["Properties"]["Integration"]["Uri"])
        assert logical[by_route[route]] in uri, route


def test_authorizer_is_a_cached_token_authorizer_on_the_authorization_header(resources: Resources) -> None:
    (authorizer,) = of_type(resources, "AWS::ApiGateway::Authorizer").values()
    props = authorizer["Properties"]
    assert props["Type"] == "TOKEN"
    assert props["IdentitySource"] == "method.request.header.Authorization"
    assert props["AuthorizerResultTtlInSeconds"] == 300
    assert function_logical_ids(resources)[AUTHORIZER_FUNCTION] in str(props["AuthorizerUri"])


def test_authorizer_knows_the_issuer(resources: Resources) -> None:
    env = functions_by_name(resources)[AUTHORIZER_FUNCTION]["Properties"]["Environment"]["Variables"]
    assert env["JWT_ISSUER"].startswith("https://")
    assert env["JWKS_URL"].startswith("https://")


def test_gateway_errors_are_problem_json(resources: Resources) -> None:
    responses = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in of_type(resources, "AWS::ApiGateway::GatewayResponse").values()
    }
    for kind in ("UNAUTHORIZED", "ACCESS_DENIED", "DEFAULT_4XX", "DEFAULT_5XX"):
        props = responses[kind]
        assert (
            props["ResponseParameters"]["gatewayresponse.header.Content-Type"] == "'application/problem+json'"
        )
        body = props["ResponseTemplates"]["application/json"]
        for member in ('"type"', '"title"', '"status"', '"detail"'):
            assert member in body, (kind, member)
        assert f'"status": {props["StatusCode"]}' in body, kind


def test_stage_traces_throttles_and_logs_json_with_request_id(resources: Resources) -> None:
    (stage,) = of_type(resources, "AWS::ApiGateway::Stage").values()
    props = stage["Properties"]
    assert props["TracingEnabled"] is True
    assert "$context.requestId" in props["AccessLogSetting"]["Format"]
    assert props["AccessLogSetting"]["Format"].startswith("{")
    assert resources[ref_id(props["AccessLogSetting"]["DestinationArn"])]["Type"] == "AWS::Logs::LogGroup"
    (all_methods,) = [
        m for m in props["MethodSettings"] if m["HttpMethod"] == "*" and m["ResourcePath"] == "/*"
    ]
    assert all_methods["ThrottlingRateLimit"] > 0
    assert all_methods["ThrottlingBurstLimit"] > 0
    (plan,) = of_type(resources, "AWS::ApiGateway::UsagePlan").values()
    assert plan["Properties"]["Throttle"]["RateLimit"] > 0


# ---- events, storage, monitoring, outputs ---------------------------------------------------------


def test_scheduled_functions_run_on_their_schedule_with_a_dlq(resources: Resources) -> None:
    logical = function_logical_ids(resources)
    rules = of_type(resources, "AWS::Events::Rule")
    for entry in SCHEDULED:
        matching = [
            r["Properties"]
            for r in rules.values()
            if r["Properties"].get("ScheduleExpression") == entry.schedule
            and any(ref_id(t["Arn"]) == logical[entry.function] for t in r["Properties"]["Targets"])
        ]
        assert len(matching) == 1, entry.function
        (target,) = matching[0]["Targets"]
        dlq = ref_id(target["DeadLetterConfig"]["Arn"])
        assert resources[dlq]["Type"] == "AWS::SQS::Queue"
        fn = resources[logical[entry.function]]["Properties"]
        assert ref_id(fn["DeadLetterConfig"]["TargetArn"]) == dlq


def test_ticket_bus_exists(template: Template) -> None:
    template.has_resource_properties("AWS::Events::EventBus", {"Name": Match.any_value()})


def test_buckets_are_encrypted_private_and_tls_only(resources: Resources) -> None:
    buckets = of_type(resources, "AWS::S3::Bucket")
    policies = {
        ref_id(p["Properties"]["Bucket"]): p for p in of_type(resources, "AWS::S3::BucketPolicy").values()
    }
    for logical_id, bucket in buckets.items():
        props = bucket["Properties"]
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"], logical_id
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        statements = policies[logical_id]["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            s["Effect"] == "Deny"
            and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
            for s in statements
        ), logical_id


def test_attachments_bucket_is_versioned_logged_and_has_lifecycle(template: Template) -> None:
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "VersioningConfiguration": {"Status": "Enabled"},
            "LoggingConfiguration": {
                "DestinationBucketName": Match.any_value(),
                "LogFilePrefix": "attachments/",
            },
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [
                        Match.object_like({"AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}),
                        Match.object_like({"NoncurrentVersionExpiration": {"NoncurrentDays": 90}}),
                    ]
                )
            },
        },
    )


def alarms(resources: Resources) -> list[dict[str, Any]]:
    return [a["Properties"] for a in of_type(resources, "AWS::CloudWatch::Alarm").values()]


def test_every_failure_class_has_an_alarm_to_the_topic(resources: Resources) -> None:
    logical = function_logical_ids(resources)
    (topic_id,) = (
        name
        for name, topic in of_type(resources, "AWS::SNS::Topic").items()
        if topic["Properties"].get("DisplayName") == "Ticketing alarms"
    )
    found = alarms(resources)
    for alarm in found:
        assert [ref_id(a) for a in alarm["AlarmActions"]] == [topic_id]
    names = {alarm["AlarmName"] for alarm in found}
    for section in (
        "Api5xx",
        "ApiLatencyP99",
        "DbConnections",
        "AuthorizerErrors",
        "OutboxLag",
        "OutboxParked",
        "AuditChainBroken",
        "AuditVerifyErrors",
        "ReplayDlqErrors",
    ):
        assert f"Ticketing-dev-{section}" in names, section  # the runbook's section names

    def has(namespace: str, metric: str, **dimension_refs: str) -> bool:
        for alarm in found:
            if alarm.get("Namespace") == namespace and alarm.get("MetricName") == metric:
                dims = {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}
                if all(name in dims and target in str(dims[name]) for name, target in dimension_refs.items()):
                    return True
        return False

    assert has("AWS/ApiGateway", "5XXError")
    assert any(a.get("MetricName") == "Latency" and a.get("ExtendedStatistic") == "p99" for a in found)
    assert has("AWS/RDS", "DatabaseConnections")
    assert has("AWS/Lambda", "Errors", FunctionName=logical[AUTHORIZER_FUNCTION])
    for writer in ("create_ticket", "update_ticket", "transition_ticket", "add_comment"):
        assert has("AWS/Lambda", "Errors", FunctionName=logical[writer]), writer
    assert has("Ticketing", "OutboxLagSeconds")
    assert has("Ticketing", "OutboxParked")
    assert has("Ticketing", "AuditChainsBroken")
    assert has("AWS/Lambda", "Errors", FunctionName=logical["audit_verify"])


def test_every_dead_letter_queue_has_a_depth_alarm(resources: Resources) -> None:
    dlqs = set()
    for resource in resources.values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in props:
            dlqs.add(ref_id(props["RedrivePolicy"]["deadLetterTargetArn"]))
        if resource["Type"] == "AWS::Lambda::Function" and "DeadLetterConfig" in props:
            dlqs.add(ref_id(props["DeadLetterConfig"]["TargetArn"]))
        if resource["Type"] == "AWS::Events::Rule":
            dlqs.update(
                ref_id(t["DeadLetterConfig"]["Arn"])
                for t in props.get("Targets", [])
                if "DeadLetterConfig" in t
            )
    assert dlqs
    alarmed = {
        ref_id(d["Value"])
        for a in alarms(resources)
        if a.get("MetricName") == "ApproximateNumberOfMessagesVisible"
        for d in a["Dimensions"]
        if d["Name"] == "QueueName"
    }
    assert dlqs <= alarmed
    for alarm in alarms(resources):
        if alarm.get("MetricName") == "ApproximateNumberOfMessagesVisible":
            assert alarm["Threshold"] == 0
            assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_alarm_topic_is_encrypted_and_dashboard_exists(template: Template) -> None:
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value()})
    template.has_resource("AWS::CloudWatch::Dashboard", {})


def test_outputs_have_stable_names(synth: Synth) -> None:
    outputs = synth.raw["Outputs"]
    for name in OUTPUT_NAMES:
        assert name in outputs, name
        assert "Export" not in outputs[name], name


def test_email_goes_out_of_one_identity_and_its_bounces_come_back_to_the_feedback_worker(
    resources: Resources,
) -> None:
    """SES sends from the cdk.json domain through a configuration set whose bounces and complaints
    go to an encrypted SNS topic, subscribed by the email_feedback worker's queue; the notify
    worker alone may send, raw messages only, from that identity and configuration set."""
    (identity,) = of_type(resources, "AWS::SES::EmailIdentity").values()
    assert identity["Properties"]["EmailIdentity"] == "mail.platform.example.com"
    (config_set_id,) = of_type(resources, "AWS::SES::ConfigurationSet")
    (destination,) = of_type(resources, "AWS::SES::ConfigurationSetEventDestination").values()
    props = destination["Properties"]
    assert ref_id(props["ConfigurationSetName"]) == config_set_id
    assert sorted(props["EventDestination"]["MatchingEventTypes"]) == ["bounce", "complaint"]
    topic_id = ref_id(props["EventDestination"]["SnsDestination"]["TopicARN"])
    topic = resources[topic_id]["Properties"]
    assert topic.get("KmsMasterKeyId"), "the feedback topic is encrypted"
    (subscription,) = [
        s["Properties"]
        for s in of_type(resources, "AWS::SNS::Subscription").values()
        if ref_id(s["Properties"]["TopicArn"]) == topic_id
    ]
    assert subscription["Protocol"] == "sqs"
    functions = functions_by_name(resources)
    feedback_source = [
        m["Properties"]
        for m in of_type(resources, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": function_logical_ids(resources)["email_feedback"]}
    ]
    assert feedback_source and feedback_source[0]["EventSourceArn"] == subscription["Endpoint"]
    senders = set()
    for name, fn in functions.items():
        statements = role_statements(resources, ref_id(fn["Properties"]["Role"]))
        ses_statements = [
            st for st in statements if any(str(a).startswith("ses:") for a in _listed(st["Action"]))
        ]
        if ses_statements:
            senders.add(name)
            (statement,) = ses_statements
            assert _listed(statement["Action"]) == ["ses:SendRawEmail"]
            assert len(_listed(statement["Resource"])) == 2  # the identity and the configuration set
            env = fn["Properties"]["Environment"]["Variables"]
            assert env["SES_FROM_ADDRESS"] == "ticketing@mail.platform.example.com"
            assert ref_id(env["SES_CONFIGURATION_SET"]) == config_set_id
    assert senders == {"notify"}


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
