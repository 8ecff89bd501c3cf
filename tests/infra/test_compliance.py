"""cdk-nag (AwsSolutions), cfn-lint and least-privilege IAM on the session's synthesis."""

from __future__ import annotations

from typing import Any

from infra.functions import ENI_ACTIONS
from tests.infra.conftest import Synth, of_type

Resources = dict[str, dict[str, Any]]
XRAY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
# The only statements AWS forces onto Resource "*" (acknowledged, with reasons, in infra/functions.py).
STAR_RESOURCE_ALLOWED = XRAY_ACTIONS | set(ENI_ACTIONS)
IGNORED_LINT_RULES = {"W3005"}  # redundant DependsOn: CDK adds them on purpose


def test_cdk_nag_reports_nothing_unacknowledged(synth: Synth) -> None:
    # cdk-nag 3 runs as a CDK policy-validation plugin: errors fail app.synth() (the session
    # fixture then fails) and every finding lands in validation-report.json.
    assert synth.validation_report is not None, "cdk-nag did not run"
    violations = [
        (
            report["pluginName"],
            violation["ruleName"],
            [c["constructPath"] for c in violation["violatingConstructs"]],
        )
        for report in synth.validation_report["pluginReports"]
        for violation in report.get("violations", [])
    ]
    assert violations == []


def test_synthesis_has_no_warnings_or_errors(synth: Synth) -> None:
    serious = [m for m in synth.messages if m[0] in {"warning", "error"}]
    assert serious == []


def test_cfn_lint_is_clean(synth: Synth) -> None:
    from cfnlint.api import lint_file

    templates = sorted(synth.outdir.glob("*.template.json"))
    assert templates
    problems = [
        f"{match.rule.id} {match.message} ({match.filename}:{match.linenumber})"
        for path in templates
        for match in lint_file(path)
        if match.rule.id not in IGNORED_LINT_RULES
    ]
    assert problems == []


def identity_statements(resources: Resources) -> list[tuple[str, dict[str, Any]]]:
    statements = []
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Policy":
            statements += [(logical_id, s) for s in props["PolicyDocument"]["Statement"]]
        elif resource["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                statements += [(logical_id, s) for s in policy["PolicyDocument"]["Statement"]]
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_wildcard_actions(resources: Resources) -> None:
    for logical_id, statement in identity_statements(resources):
        for action in as_list(statement["Action"]):
            assert action != "*" and not action.endswith(":*"), (logical_id, action)


def test_resource_star_only_where_aws_requires_it(resources: Resources) -> None:
    for logical_id, statement in identity_statements(resources):
        if "*" in as_list(statement.get("Resource", [])):
            assert set(as_list(statement["Action"])) <= STAR_RESOURCE_ALLOWED, (logical_id, statement)


def test_no_managed_policies_on_function_roles(resources: Resources) -> None:
    function_roles = {
        r["Properties"]["Role"]["Fn::GetAtt"][0] for r in of_type(resources, "AWS::Lambda::Function").values()
    }
    for role_id in function_roles:
        assert not resources[role_id]["Properties"].get("ManagedPolicyArns"), role_id


def test_queues_are_encrypted_and_tls_only(resources: Resources) -> None:
    queues = of_type(resources, "AWS::SQS::Queue")
    assert queues
    tls_only: set[str] = set()
    for policy in of_type(resources, "AWS::SQS::QueuePolicy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if (
                statement["Effect"] == "Deny"
                and statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
            ):
                tls_only.update(q["Ref"] for q in policy["Properties"]["Queues"])
    for logical_id, queue in queues.items():
        props = queue["Properties"]
        assert props.get("SqsManagedSseEnabled") or props.get("KmsMasterKeyId"), logical_id
        assert logical_id in tls_only, logical_id
