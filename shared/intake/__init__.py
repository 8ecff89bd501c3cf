"""Machine-event intake: platform and AWS events, and PagerDuty Events API v2 calls, become
deduplicated incidents.

- ``model``: the one normalized shape every path produces (``IntakeEvent``) and the message the
  ``POST /v2/enqueue`` route puts on the intake queue (``EnqueuedEvent``).
"""
