"""Opaque keyset cursors: base64url JSON naming the last row seen and the query it belongs to."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any
from uuid import UUID

from shared.errors import BadRequest


def query_fingerprint(params: dict[str, Any]) -> str:
    canonical = json.dumps(params, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode(position: dict[str, Any], fingerprint: str) -> str:
    raw = json.dumps({"p": position, "q": fingerprint}, separators=(",", ":"), default=str)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str, fingerprint: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        position, fp = data["p"], data["q"]
        if not isinstance(position, dict):
            raise TypeError
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise BadRequest("The cursor is not one this API issued.") from exc
    if fp != fingerprint:
        raise BadRequest("The cursor belongs to a different query; start again without it.")
    return position


def decode_uuid(cursor: str, fingerprint: str, field: str = "id") -> UUID:
    position = decode(cursor, fingerprint)
    try:
        return UUID(str(position[field]))
    except (KeyError, ValueError) as exc:
        raise BadRequest("The cursor is not one this API issued.") from exc
