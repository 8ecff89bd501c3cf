"""Time-ordered identifiers (UUIDv7, RFC 9562) and ticket keys."""

from __future__ import annotations

import os
import re
import time
import uuid
from urllib.parse import unquote

_KEY = re.compile(r"^TCK-([1-9][0-9]{0,17})$", re.IGNORECASE)


def uuid7(now_ms: int | None = None) -> uuid.UUID:
    """A UUIDv7: 48-bit Unix milliseconds, then random bits; sorts by creation time."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a: 12 bits
    value |= 0b10 << 62  # variant
    value |= rand & ((1 << 62) - 1)  # rand_b: 62 bits
    return uuid.UUID(int=value)


def parse_ref(ref: str) -> uuid.UUID | int | None:
    """A ticket reference: its UUID, or its key number for ``TCK-42``; None if neither.

    Percent-escapes are decoded first (``TCK%2D42``): a route's path parameter may arrive as
    the client encoded it.
    """
    ref = unquote(ref)
    match = _KEY.match(ref.strip())
    if match:
        return int(match.group(1))
    try:
        return uuid.UUID(ref)
    except ValueError:
        return None
