"""Builds the CDK app: reads cdk.json context, creates the stack, adds the cdk-nag checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.assets import REPO_ROOT, AssetBuilder
from infra.config import StackSettings
from infra.stack import TicketingStack
from shared.runtime.catalog import ROUTES, SCHEDULED, WORKERS, QueueWorker, Route, ScheduledFunction


def cdk_json_context(repo_root: Path = REPO_ROOT) -> dict[str, Any]:
    """The ``context`` block of cdk.json (the CDK CLI passes it itself; ``python app.py`` does not)."""
    data: dict[str, Any] = json.loads((repo_root / "cdk.json").read_text(encoding="utf-8"))
    context: dict[str, Any] = data.get("context", {})
    return context


def build_app(
    *,
    context: dict[str, Any] | None = None,
    outdir: str | None = None,
    assets: AssetBuilder | None = None,
    routes: tuple[Route, ...] = ROUTES,
    scheduled: tuple[ScheduledFunction, ...] = SCHEDULED,
    workers: tuple[QueueWorker, ...] = WORKERS,
    nag: bool = True,
) -> tuple[cdk.App, TicketingStack]:
    merged = {**cdk_json_context(), **(context or {})}
    app = cdk.App(context=merged, outdir=outdir)
    settings = StackSettings.from_context(app.node)
    stack = TicketingStack(
        app,
        f"Ticketing-{settings.stage}",
        settings=settings,
        assets=assets,
        routes=routes,
        scheduled=scheduled,
        workers=workers,
        description=f"Ticketing service ({settings.stage})",
    )
    # RDS Proxy target groups take no tags (CloudFormation rejects the property).
    untaggable = ["AWS::RDS::DBProxyTargetGroup"]
    cdk.Tags.of(app).add("service", "ticketing", exclude_resource_types=untaggable)
    cdk.Tags.of(app).add("stage", settings.stage, exclude_resource_types=untaggable)
    if nag:
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app, stack
