"""Machine-event intake: platform and AWS events, and PagerDuty Events API v2 calls, become
deduplicated incidents.

- ``model``: the one normalized shape every path produces (``IntakeEvent``) and the message the
  ``POST /v2/enqueue`` route puts on the intake queue (``EnqueuedEvent``).
- ``pagerduty``: PagerDuty's Events API v2 event, validated with PagerDuty's error sentences, and
  the bodies PagerDuty answers with.
- ``integrations``: the integrations whose routing keys ``POST /v2/enqueue`` takes (created,
  listed, revoked, re-keyed; keys stored as hashes), and queueing an event through one.
"""
