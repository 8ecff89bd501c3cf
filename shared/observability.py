"""Logger, Tracer and Metrics: one instance each, shared by every function.

Log with keys (``logger.info("ticket created", extra={"ticket_id": ...})``), never whole
events or bodies: they may carry personal data.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "ticketing"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace="Ticketing", service=SERVICE)
