"""Bearer token verification: a JWT from the platform's OIDC issuer, checked against its JWKS.

Only asymmetric signatures are accepted (RS256, ES256): ``alg: none`` and every HMAC algorithm
are refused before any key is looked up, so a public key can never be used as an HMAC secret.
A token must carry ``exp``; ``iss`` and ``aud`` are checked when configured.

Configuration (read on first use, never at import time):

- ``JWKS_URL``: where the keys are published. ``https://`` / ``http://`` (fetched with a
  timeout, cached, refreshed at most every ``JWKS_REFRESH_COOLDOWN_S`` when an unknown ``kid``
  appears) or ``file://`` (local development: re-read when an unknown ``kid`` appears).
- ``JWKS_JSON``: the JWKS document inline (local development and tests).
- ``JWT_ISSUER``: the expected ``iss``. Required when running in AWS Lambda.
- ``JWT_AUDIENCE``: the expected ``aud`` (comma-separated for several); unchecked when unset.
- ``JWT_LEEWAY_S``: clock skew allowed on ``exp`` / ``nbf`` / ``iat`` (default 30 s).

This module only verifies. Signing (the local stack's dev keys) lives in ``local/keys.py`` and
never ships with the Lambdas.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import jwt
from jwt import PyJWK, PyJWKClient, PyJWKSet
from jwt.exceptions import PyJWKClientConnectionError, PyJWKClientError, PyJWKSetError
from pydantic import BaseModel, ConfigDict

from shared.kernel.errors import ServiceUnavailable, Unauthorized

ALLOWED_ALGORITHMS: tuple[str, ...] = ("RS256", "ES256")
_KEY_TYPE_FOR_ALG = {"RS256": "RSA", "ES256": "EC"}


class TokenConfigError(Exception):
    """The verifier is misconfigured (a deployment bug, not the caller's fault)."""


class TokenSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    jwks_url: str | None = None
    jwks_json: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_s: int = 30
    jwks_timeout_s: float = 3.0
    jwks_cache_s: int = 300
    jwks_refresh_cooldown_s: float = 30.0

    @property
    def audiences(self) -> list[str]:
        return [a.strip() for a in (self.jwt_audience or "").split(",") if a.strip()]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TokenSettings:
        env = os.environ if env is None else env
        values = {name: env[name.upper()] for name in cls.model_fields if env.get(name.upper())}
        settings = cls.model_validate(values)
        if not (settings.jwks_url or settings.jwks_json):
            raise TokenConfigError("Set JWKS_URL (or JWKS_JSON locally) to verify bearer tokens.")
        if env.get("AWS_LAMBDA_FUNCTION_NAME") and not settings.jwt_issuer:
            raise TokenConfigError("JWT_ISSUER is required in AWS.")
        return settings


class _KeySource:
    """Where the verification keys come from."""

    def find(self, kid: str | None) -> PyJWK | None:  # pragma: no cover - interface
        raise NotImplementedError


def _pick(keys: list[PyJWK], kid: str | None) -> PyJWK | None:
    signing = [k for k in keys if k.public_key_use in ("sig", None)]
    if kid is None:
        # Without a kid, only an unambiguous single-key set can be used.
        return signing[0] if len(signing) == 1 else None
    return next((k for k in signing if k.key_id == kid), None)


def _parse_jwks(document: Any, origin: str) -> list[PyJWK]:
    if not isinstance(document, dict):
        raise TokenConfigError(f"The JWKS from {origin} is not a JSON object.")
    try:
        return list(PyJWKSet.from_dict(document).keys)
    except PyJWKSetError as exc:
        raise TokenConfigError(f"The JWKS from {origin} has no usable keys: {exc}") from exc


class _StaticSource(_KeySource):
    def __init__(self, document: str) -> None:
        try:
            parsed = json.loads(document)
        except json.JSONDecodeError as exc:
            raise TokenConfigError(f"JWKS_JSON is not valid JSON: {exc}") from exc
        self._keys = _parse_jwks(parsed, "JWKS_JSON")

    def find(self, kid: str | None) -> PyJWK | None:
        return _pick(self._keys, kid)


class _FileSource(_KeySource):
    """A JWKS file (local development): re-read when a token names a kid it does not hold."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._keys: list[PyJWK] | None = None
        self._lock = threading.Lock()

    def _load(self) -> list[PyJWK]:
        try:
            text = self._path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ServiceUnavailable(f"The JWKS file {self._path} cannot be read.") from exc
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TokenConfigError(f"The JWKS file {self._path} is not valid JSON.") from exc
        return _parse_jwks(parsed, str(self._path))

    def find(self, kid: str | None) -> PyJWK | None:
        with self._lock:
            if self._keys is None:
                self._keys = self._load()
            key = _pick(self._keys, kid)
            if key is None:
                self._keys = self._load()
                key = _pick(self._keys, kid)
            return key


class _UrlSource(_KeySource):
    """A JWKS endpoint: cached for ``jwks_cache_s``, refreshed on an unknown kid after a cooldown."""

    def __init__(self, url: str, settings: TokenSettings) -> None:
        self._client = PyJWKClient(
            url,
            cache_jwk_set=True,
            lifespan=settings.jwks_cache_s,
            timeout=settings.jwks_timeout_s,
            cooldown_duration=settings.jwks_refresh_cooldown_s,
            headers={"User-Agent": "ticketing-authorizer"},
        )
        self._cooldown = settings.jwks_refresh_cooldown_s
        self._last_refresh = float("-inf")
        self._lock = threading.Lock()

    def _keys(self, *, refresh: bool) -> list[PyJWK]:
        try:
            return list(self._client.get_jwk_set(refresh=refresh).keys)
        except PyJWKClientConnectionError as exc:
            raise ServiceUnavailable("The JWKS endpoint is unreachable.") from exc
        except (PyJWKClientError, PyJWKSetError) as exc:
            raise ServiceUnavailable(f"The JWKS endpoint returned no usable keys: {exc}") from exc

    def find(self, kid: str | None) -> PyJWK | None:
        key = _pick(self._keys(refresh=False), kid)
        if key is not None or kid is None:
            return key
        # An unknown kid may be a key rotated in since the last fetch; refresh, but not on every
        # request, so that tokens with made-up kids cannot hammer the issuer.
        with self._lock:
            now = time.monotonic()
            if now - self._last_refresh < self._cooldown:
                return None
            self._last_refresh = now
        return _pick(self._keys(refresh=True), kid)


def _source_for(settings: TokenSettings) -> _KeySource:
    if settings.jwks_json:
        return _StaticSource(settings.jwks_json)
    url = settings.jwks_url or ""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return _FileSource(Path(unquote(parsed.path)))
    if parsed.scheme in ("http", "https"):
        return _UrlSource(url, settings)
    raise TokenConfigError(f"JWKS_URL must be an https://, http:// or file:// URL, not {url!r}.")


class TokenVerifier:
    def __init__(self, settings: TokenSettings, source: _KeySource | None = None) -> None:
        self.settings = settings
        self._source = source or _source_for(settings)

    def verify(self, token: str) -> dict[str, Any]:
        """The verified claims of ``token``; raises Unauthorized with the reason otherwise."""
        token = token.strip()
        if not token:
            raise Unauthorized("No bearer token was given.")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise Unauthorized("The token is malformed.") from exc
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:
            raise Unauthorized(f"The token algorithm {alg!r} is not accepted (only RS256, ES256).")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise Unauthorized("The token key id is malformed.")
        key = self._source.find(kid)
        if key is None:
            raise Unauthorized("The token was signed with an unknown key.")
        if key.key_type != _KEY_TYPE_FOR_ALG[alg] or key.algorithm_name != alg:
            raise Unauthorized(f"The token algorithm {alg!r} does not match its key.")
        settings = self.settings
        audiences = settings.audiences
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                issuer=settings.jwt_issuer or None,
                audience=audiences or None,
                leeway=settings.jwt_leeway_s,
                options={
                    "require": ["exp", *(["iss"] if settings.jwt_issuer else [])],
                    "verify_aud": bool(audiences),
                },
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("The token has expired.") from exc
        except jwt.ImmatureSignatureError as exc:
            raise Unauthorized("The token is not valid yet.") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthorized(f"The token has no {exc.claim!r} claim.") from exc
        except jwt.InvalidIssuerError as exc:
            raise Unauthorized("The token was not issued by the expected issuer.") from exc
        except jwt.InvalidAudienceError as exc:
            raise Unauthorized("The token is not meant for this API (audience).") from exc
        except jwt.InvalidSignatureError as exc:
            raise Unauthorized("The token signature is invalid.") from exc
        except jwt.InvalidAlgorithmError as exc:
            raise Unauthorized("The token algorithm is not accepted.") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthorized("The token is invalid.") from exc
        return claims


@cache
def get_verifier() -> TokenVerifier:
    """The process-wide verifier, configured from the environment on first use."""
    return TokenVerifier(TokenSettings.from_env())


def verify_token(token: str) -> dict[str, Any]:
    """Verify a bearer token (without the ``Bearer`` prefix) and return its claims."""
    return get_verifier().verify(token)


def reset() -> None:
    """Forget the cached settings and keys (tests; the local stack after changing env)."""
    get_verifier.cache_clear()
