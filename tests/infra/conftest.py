"""One synthesis of the real app per test session (per xdist worker), shared by the infra tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from infra.app import build_app

STACK_ID = "Ticketing-dev"


@dataclass(frozen=True)
class Synth:
    outdir: Path
    template: Template
    raw: dict[str, Any]
    messages: list[tuple[str, str, str]]  # (level, construct path, text) from the assembly
    validation_report: dict[str, Any] | None


def synthesize(outdir: Path, context: dict[str, Any] | None = None, **kwargs: Any) -> Synth:
    # Asset metadata (as the CDK CLI asks for it) lets tests find each function's staged asset.
    context = {"aws:cdk:enable-asset-metadata": True, **(context or {})}
    app, stack = build_app(outdir=str(outdir), context=context, **kwargs)
    assembly = app.synth()
    artifact = assembly.get_stack_artifact(stack.artifact_id)
    messages = [(m.level.value.lower(), m.id, str(m.entry.data)) for m in artifact.messages]
    raw = json.loads((outdir / artifact.template_file).read_text(encoding="utf-8"))
    for nested in [c for c in stack.node.find_all() if isinstance(c, cdk.NestedStack)]:
        _inline(raw, nested, outdir, stack)
    report_path = outdir / "validation-report.json"
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else None
    return Synth(outdir, Template.from_json(raw), raw, messages, report)


def _substitute(value: Any, replace: Callable[[Any], Any | None]) -> Any:
    """``value`` with every sub-value for which ``replace`` answers something replaced by it."""
    found = replace(value)
    if found is not None:
        return found
    if isinstance(value, dict):
        return {k: _substitute(v, replace) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, replace) for v in value]
    return value


def _inline(raw: dict[str, Any], nested: cdk.NestedStack, outdir: Path, stack: cdk.Stack) -> None:
    """Read a nested stack's resources as if they were the parent's (the route functions live in
    nested stacks, infra/api.py): its parameters become the parent's values, and the parent's reads
    of its outputs become what they output. The tests then follow references as in one template."""
    child = json.loads((outdir / nested.template_file).read_text(encoding="utf-8"))
    resource = nested.nested_stack_resource
    assert resource is not None
    resource_id = stack.resolve(resource.logical_id)
    parameters = raw["Resources"].pop(resource_id)["Properties"].get("Parameters", {})

    def parameter(value: Any) -> Any | None:
        if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in parameters:
            return parameters[value["Ref"]]
        return None

    resources = _substitute(child["Resources"], parameter)
    outputs = _substitute(child.get("Outputs", {}), parameter)
    assert not set(resources) & set(raw["Resources"]), "a logical id in both templates"
    raw["Resources"].update(resources)

    def output(value: Any) -> Any | None:
        if isinstance(value, dict) and set(value) == {"Fn::GetAtt"}:
            target, attribute = value["Fn::GetAtt"]
            if target == resource_id and str(attribute).startswith("Outputs."):
                return outputs[attribute.removeprefix("Outputs.")]["Value"]
        return None

    for key in ("Resources", "Outputs"):
        raw[key] = _substitute(raw.get(key, {}), output)


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    outdir = tmp_path_factory.mktemp("cdk.out")
    try:
        return synthesize(outdir)
    except RuntimeError as exc:  # jsii surfaces cdk-nag / validation failures as RuntimeError
        report = outdir / "validation-report.json"
        detail = report.read_text(encoding="utf-8") if report.exists() else ""
        pytest.fail(f"synthesis failed: {exc}\n{detail}")


@pytest.fixture(scope="session")
def template(synth: Synth) -> Template:
    return synth.template


@pytest.fixture(scope="session")
def resources(synth: Synth) -> dict[str, dict[str, Any]]:
    resources: dict[str, dict[str, Any]] = synth.raw["Resources"]
    return resources


def of_type(resources: dict[str, dict[str, Any]], type_: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in resources.items() if v["Type"] == type_}


# ---- reading the template ---------------------------------------------------------------------------


def function_named(resources: dict[str, dict[str, Any]], function_name: str) -> tuple[str, dict[str, Any]]:
    """The (logical id, properties) of the Lambda deployed as ``function_name``."""
    (found,) = [
        (logical_id, r["Properties"])
        for logical_id, r in of_type(resources, "AWS::Lambda::Function").items()
        if r["Properties"].get("FunctionName") == function_name
    ]
    return found


def role_statements(resources: dict[str, dict[str, Any]], role_id: str) -> list[dict[str, Any]]:
    """Every identity-policy statement attached to the role (inline and AWS::IAM::Policy)."""
    statements: list[dict[str, Any]] = []
    for policy in resources[role_id]["Properties"].get("Policies", []):
        statements += policy["PolicyDocument"]["Statement"]
    for policy in of_type(resources, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def rendered(value: Any) -> str:
    """A string-valued property with its intrinsics written out: ``Ref`` as ``ref:<id>``,
    ``Fn::GetAtt`` as ``<attribute>:<id>``, ``Fn::Join`` joined (e.g. to read JSON the stack builds)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return f"ref:{value['Ref']}"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        return f"{attribute.lower()}:{logical_id}"
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(rendered(p) for p in parts)
    raise AssertionError(f"cannot render {value!r}")


def grants(statements: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Action → the resources (rendered) that Allow statements grant it on."""
    found: dict[str, set[str]] = {}
    for statement in statements:
        assert statement["Effect"] == "Allow", statement
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        targets = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        for action in actions:
            found.setdefault(action, set()).update(rendered(t) for t in targets)
    return found
