"""Standard Webhooks v1 signatures (https://www.standardwebhooks.com), so receivers can use any
library that implements the spec instead of code of ours.

The signed content is ``f"{msg_id}.{timestamp}.{body}"``, the MAC is HMAC-SHA256 with the raw key
bytes, and the header carries ``v1,<base64>``. A secret is ``whsec_`` followed by the base64 of its
key (24 to 64 bytes, as the spec recommends). While a secret is being rotated the message carries
one signature per live secret, space-separated, so receivers holding either one accept it.
``verify`` exists for our own tests and the local stack's receiver; it compares in constant time
and refuses timestamps outside the tolerance, which is what stops replays.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _secrets
from collections.abc import Sequence

from shared.kernel.ids import uuid7

PREFIX = "whsec_"
VERSION = "v1"
MIN_KEY_BYTES = 24
MAX_KEY_BYTES = 64
DEFAULT_TOLERANCE_S = 300


def new_secret(nbytes: int = 32) -> str:
    """A fresh ``whsec_`` secret of ``nbytes`` random key bytes (24 to 64)."""
    if not MIN_KEY_BYTES <= nbytes <= MAX_KEY_BYTES:
        raise ValueError(f"a webhook secret has {MIN_KEY_BYTES} to {MAX_KEY_BYTES} key bytes, not {nbytes}")
    return PREFIX + base64.b64encode(_secrets.token_bytes(nbytes)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The raw key bytes of a ``whsec_`` secret (missing base64 padding is tolerated)."""
    if not secret.startswith(PREFIX):
        raise ValueError(f"a webhook secret starts with {PREFIX!r}")
    encoded = secret[len(PREFIX) :]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"a webhook secret is {PREFIX!r} followed by standard base64") from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise ValueError(f"a webhook secret has {MIN_KEY_BYTES} to {MAX_KEY_BYTES} key bytes, not {len(key)}")
    return key


def _mac(key: bytes, msg_id: str, timestamp: int, body: str | bytes) -> bytes:
    payload = body.encode("utf-8") if isinstance(body, str) else body
    return hmac.new(key, f"{msg_id}.{timestamp}.".encode() + payload, hashlib.sha256).digest()


def sign(secret: str, msg_id: str, timestamp: int, body: str | bytes) -> str:
    """The ``v1,<base64>`` signature of one message with one secret."""
    mac = _mac(secret_key(secret), msg_id, timestamp, body)
    return f"{VERSION},{base64.b64encode(mac).decode('ascii')}"


def headers(secrets: Sequence[str], msg_id: str, timestamp: int, body: str | bytes) -> dict[str, str]:
    """The three Standard Webhooks headers, one signature per secret in the order given."""
    if isinstance(secrets, str):
        raise TypeError("secrets is a sequence of secrets, not one secret")
    if not secrets:
        raise ValueError("a webhook message needs at least one secret to sign it")
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(secret, msg_id, timestamp, body) for secret in secrets),
    }


def _signatures(signature_header: str) -> list[bytes]:
    """The decoded ``v1`` signatures of a header; other versions and malformed entries are skipped."""
    found = []
    for entry in signature_header.split():
        version, _, encoded = entry.partition(",")
        if version != VERSION:
            continue
        try:
            found.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    return found


def verify(
    secret: str,
    msg_id: str,
    timestamp: int,
    body: str | bytes,
    signature_header: str,
    *,
    now: int,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> bool:
    """Whether one of the header's signatures is this secret's, with the timestamp near ``now``."""
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = _mac(secret_key(secret), msg_id, timestamp, body)
    # Every candidate is compared (no early exit) so timing says nothing about which one matched.
    matched = False
    for candidate in _signatures(signature_header):
        matched |= hmac.compare_digest(expected, candidate)
    return matched


def new_message_id() -> str:
    """A message id, ``msg_`` and a UUIDv7: stable across retries of the message, time-ordered."""
    return f"msg_{uuid7().hex}"
