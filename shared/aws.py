"""Thin boto3 clients, created on first use (never at import time) and reused.

boto3 honours ``AWS_ENDPOINT_URL`` itself, which is how the local stack points every client
at its moto server.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=5)


@cache
def client(service: str) -> Any:
    return boto3.session.Session().client(service, config=_CONFIG)  # type: ignore[call-overload]


@cache
def get_secret_json(secret_arn: str) -> dict[str, Any]:
    value = client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]
    parsed: dict[str, Any] = json.loads(value)
    return parsed


def put_events(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """PutEvents in batches of 10; returns one result per entry, in order."""
    results: list[dict[str, Any]] = []
    events = client("events")
    for start in range(0, len(entries), 10):
        chunk = entries[start : start + 10]
        response = events.put_events(Entries=chunk)
        results.extend(response["Entries"])
    return results


def reset_clients() -> None:
    client.cache_clear()
    get_secret_json.cache_clear()
