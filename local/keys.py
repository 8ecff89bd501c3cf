"""The local stack's token issuer: one signing key in ``.local/jwt/``, its JWKS, and token minting.

Development only: nothing under ``shared/`` or ``functions/`` imports this module, so no signing
key or signing code ever ships with the Lambdas. ``make token`` and ``make run`` both call
:func:`ensure_signing_key`, which creates the key on first use under a file lock, so tokens
minted before or after the stack started verify against the same key.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCAL_ISSUER = "ticketing-local"
LOCAL_AUDIENCE = "ticketing"
KEY_FILE = "signing-key.pem"
JWKS_FILE = "jwks.json"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def key_dir() -> Path:
    """``TICKETING_JWT_DIR`` or ``.local/jwt`` in the repository."""
    configured = os.environ.get("TICKETING_JWT_DIR")
    return Path(configured).resolve() if configured else REPO_ROOT / ".local" / "jwt"


@dataclass(frozen=True)
class SigningKey:
    private_key: PrivateKey
    alg: str
    kid: str

    def public_jwk(self) -> dict[str, Any]:
        return public_jwk(self.private_key, kid=self.kid, alg=self.alg)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk()]}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _raw_public_jwk(private_key: PrivateKey) -> dict[str, Any]:
    public = private_key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        return RSAAlgorithm.to_jwk(public, as_dict=True)
    return ECAlgorithm.to_jwk(public, as_dict=True)


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (base64url SHA-256 of the required members)."""
    members = ("e", "kty", "n") if jwk["kty"] == "RSA" else ("crv", "kty", "x", "y")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return _b64(hashlib.sha256(canonical.encode()).digest())


def public_jwk(private_key: PrivateKey, *, kid: str | None = None, alg: str | None = None) -> dict[str, Any]:
    jwk = _raw_public_jwk(private_key)
    alg = alg or ("RS256" if jwk["kty"] == "RSA" else "ES256")
    return {**jwk, "kid": kid or thumbprint(jwk), "alg": alg, "use": "sig"}


def generate_private_key(alg: str = "RS256") -> PrivateKey:
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unsupported signing algorithm {alg!r} (RS256 or ES256)")


def signing_key_from(private_key: PrivateKey) -> SigningKey:
    alg = "RS256" if isinstance(private_key, rsa.RSAPrivateKey) else "ES256"
    return SigningKey(private_key=private_key, alg=alg, kid=thumbprint(_raw_public_jwk(private_key)))


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    with (directory / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def ensure_signing_key(directory: Path | None = None, *, alg: str | None = None) -> SigningKey:
    """Load the local signing key, creating it (and its JWKS file) on first use.

    ``alg`` (or ``TICKETING_JWT_ALG``) only matters when the key is created: RS256 by default.
    """
    directory = directory or key_dir()
    directory.mkdir(parents=True, exist_ok=True)
    key_path, jwks_path = directory / KEY_FILE, directory / JWKS_FILE
    with _locked(directory):
        if key_path.exists():
            loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not isinstance(loaded, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
                raise ValueError(f"{key_path} holds neither an RSA nor an EC private key")
            private_key: PrivateKey = loaded
        else:
            private_key = generate_private_key(alg or os.environ.get("TICKETING_JWT_ALG") or "RS256")
            pem = private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            _write_atomic(key_path, pem, 0o600)
        key = signing_key_from(private_key)
        document = json.dumps(key.jwks(), indent=2).encode()
        if not jwks_path.exists() or jwks_path.read_bytes() != document:
            _write_atomic(jwks_path, document, 0o644)
    return key


def jwks_path(directory: Path | None = None) -> Path:
    return (directory or key_dir()) / JWKS_FILE


def sign(claims: dict[str, Any], key: SigningKey, *, headers: dict[str, Any] | None = None) -> str:
    return jwt.encode(claims, key.private_key, algorithm=key.alg, headers={"kid": key.kid, **(headers or {})})


def build_claims(
    *,
    sub: str,
    tenant: str | None,
    roles: Sequence[str],
    ttl_s: int,
    issuer: str = LOCAL_ISSUER,
    audience: str | None = LOCAL_AUDIENCE,
    now: float | None = None,
) -> dict[str, Any]:
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"iss": issuer, "sub": sub}
    if audience:
        claims["aud"] = audience
    if tenant:
        claims["tenant"] = tenant
    claims.update(roles=list(roles), iat=issued, nbf=issued, exp=issued + ttl_s)
    return claims


def mint(
    *,
    sub: str,
    tenant: str | None,
    roles: Sequence[str],
    ttl_s: int = 3600,
    directory: Path | None = None,
) -> str:
    """A token the local stack accepts."""
    key = ensure_signing_key(directory)
    return sign(build_claims(sub=sub, tenant=tenant, roles=roles, ttl_s=ttl_s), key)


def local_verifier_env(directory: Path | None = None) -> dict[str, str]:
    """The environment that makes shared.tokens verify the local issuer's tokens."""
    return {
        "JWKS_URL": jwks_path(directory).resolve().as_uri(),
        "JWT_ISSUER": LOCAL_ISSUER,
        "JWT_AUDIENCE": LOCAL_AUDIENCE,
    }
