"""cdk-nag (AwsSolutions pack) acknowledgements, each with the reason it is acceptable.

Every acknowledgement goes through :func:`acknowledge`, which also records it, so the list of
suppressions can be printed (``python -m infra.nag``-style reports, docs/infra-notes.md).
"""

from __future__ import annotations

import aws_cdk as cdk
from constructs import IConstruct

RECORDED: dict[tuple[str, str], str] = {}


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one AwsSolutions finding (``"IAM5[Resource::*]"`` or ``"L1"``) on a construct."""
    rule_id = rule if rule.startswith("AwsSolutions-") else f"AwsSolutions-{rule}"
    cdk.Validations.of(construct).acknowledge(cdk.Acknowledgment(id=rule_id, reason=reason))
    RECORDED[(construct.node.path, rule_id)] = reason
