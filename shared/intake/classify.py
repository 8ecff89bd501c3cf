"""Classification: from (source, detail-type) to kind, category and default priority.

A table in code (issue 10 §1). An event of a detail-type nobody classified still opens an
incident, in its source's default category, tagged ``unclassified``: an event is never dropped
because the table does not know it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Class:
    category: str
    priority: str = "medium"
    kind: str = "incident"


UNCLASSIFIED_TAG = "unclassified"

# (source, detail-type) → class.
TABLE: dict[tuple[str, str], Class] = {
    ("platform.health", "Readiness Check Failed"): Class("health", "high"),
    ("platform.health", "Data Late"): Class("data_freshness", "medium"),
    ("platform.drr", "Dataset Late"): Class("data_freshness", "medium"),
    ("platform.drr", "Schema Drift Detected"): Class("schema_drift", "medium"),
    ("platform.runtime", "Job Failed"): Class("pipeline_failure", "high"),
    ("platform.runtime", "Job Stuck"): Class("pipeline_failure", "medium"),
    ("platform.runtime", "Queue Backlog"): Class("pipeline_failure", "medium"),
    ("platform.subscriptions", "Credits Exhausted"): Class("cost_anomaly", "high"),
    ("platform.subscriptions", "Cost Anomaly Detected"): Class("cost_anomaly", "medium"),
    ("platform.security", "Security Finding"): Class("security_finding", "high"),
    ("aws.cloudwatch", "CloudWatch Alarm State Change"): Class("health", "high"),
    ("aws.securityhub", "Security Hub Findings - Imported"): Class("security_finding", "high"),
    ("aws.guardduty", "GuardDuty Finding"): Class("security_finding", "high"),
    ("aws.health", "AWS Health Event"): Class("health", "medium"),
}

# A source's default category, for its detail-types the table does not name.
SOURCE_DEFAULTS: dict[str, Class] = {
    "platform.health": Class("health"),
    "platform.drr": Class("data_freshness"),
    "platform.runtime": Class("pipeline_failure"),
    "platform.subscriptions": Class("cost_anomaly"),
    "platform.security": Class("security_finding"),
    "aws.cloudwatch": Class("health"),
    "aws.securityhub": Class("security_finding"),
    "aws.guardduty": Class("security_finding"),
    "aws.health": Class("health"),
}
# A source nobody named at all (a platform source added to cdk.json before this table).
FALLBACK = Class("health")


def classify(source: str, detail_type: str) -> tuple[Class, bool]:
    """The class of an event, and whether the table named its detail-type."""
    known = TABLE.get((source, detail_type))
    if known is not None:
        return known, True
    return SOURCE_DEFAULTS.get(source, FALLBACK), False
