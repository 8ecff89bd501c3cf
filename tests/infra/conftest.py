"""One synthesis of the real app per test session (per xdist worker), shared by the infra tests."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    report_path = outdir / "validation-report.json"
    report = json.loads(report_path.read_text(encoding="utf-8")) if report_path.exists() else None
    return Synth(outdir, Template.from_json(raw), raw, messages, report)


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
