"""shared.tokens: only well-signed RS256/ES256 tokens from the configured issuer get through."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from local.keys import SigningKey, ensure_signing_key, generate_private_key, sign, signing_key_from
from shared.auth.tokens import TokenConfigError, TokenSettings, TokenVerifier
from shared.kernel.errors import Unauthorized

ISSUER = "https://issuer.example"
AUDIENCE = "ticketing"


@pytest.fixture(scope="module")
def rsa_key() -> SigningKey:
    return signing_key_from(generate_private_key("RS256"))


@pytest.fixture(scope="module")
def ec_key() -> SigningKey:
    return signing_key_from(generate_private_key("ES256"))


@pytest.fixture(scope="module")
def verifier(rsa_key: SigningKey, ec_key: SigningKey) -> TokenVerifier:
    jwks = {"keys": [rsa_key.public_jwk(), ec_key.public_jwk()]}
    return TokenVerifier(TokenSettings(jwks_json=json.dumps(jwks), jwt_issuer=ISSUER, jwt_audience=AUDIENCE))


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "tenant": "acme",
        "roles": ["tenant_user"],
        "iat": now,
        "exp": now + 300,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join([b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()), b64(signature)])


def test_rs256_is_accepted(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    got = verifier.verify(sign(claims(), rsa_key))
    assert got["sub"] == "alice"
    assert got["tenant"] == "acme"
    assert got["roles"] == ["tenant_user"]


def test_es256_is_accepted(verifier: TokenVerifier, ec_key: SigningKey) -> None:
    assert verifier.verify(sign(claims(sub="bob"), ec_key))["sub"] == "bob"


def test_alg_none_is_refused(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    token = unsigned({"alg": "none", "typ": "JWT", "kid": rsa_key.kid}, claims())
    with pytest.raises(Unauthorized, match="algorithm 'none'"):
        verifier.verify(token)


def test_hs256_with_the_public_key_as_secret_is_refused(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    import hashlib
    import hmac

    public_pem = rsa_key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": rsa_key.kid}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims()).encode())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(Unauthorized, match="HS256"):
        verifier.verify(f"{signing_input}.{b64(mac)}")


def test_tampered_payload_is_refused(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    header, _, signature = sign(claims(), rsa_key).split(".")
    forged = b64(json.dumps(claims(roles=["platform_admin"])).encode())
    with pytest.raises(Unauthorized, match="signature"):
        verifier.verify(f"{header}.{forged}.{signature}")


def test_tampered_signature_is_refused(verifier: TokenVerifier, ec_key: SigningKey) -> None:
    header, payload, signature = sign(claims(), ec_key).split(".")
    # A character in the middle: changing the last one can leave non-zero padding bits, which
    # is refused as malformed before the signature is checked.
    middle = len(signature) // 2
    flipped = signature[:middle] + ("A" if signature[middle] != "A" else "B") + signature[middle + 1 :]
    with pytest.raises(Unauthorized, match="signature"):
        verifier.verify(f"{header}.{payload}.{flipped}")


def test_a_key_from_elsewhere_with_a_known_kid_is_refused(
    verifier: TokenVerifier, rsa_key: SigningKey
) -> None:
    stranger = signing_key_from(generate_private_key("RS256"))
    impostor = SigningKey(private_key=stranger.private_key, alg="RS256", kid=rsa_key.kid)
    with pytest.raises(Unauthorized, match="signature"):
        verifier.verify(sign(claims(), impostor))


def test_expired_is_refused(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    past = int(time.time()) - 3600
    with pytest.raises(Unauthorized, match="expired"):
        verifier.verify(sign(claims(iat=past - 60, exp=past), rsa_key))


def test_missing_exp_is_refused(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    token = jwt.encode(claims(exp=None), rsa_key.private_key, algorithm="RS256", headers={"kid": rsa_key.kid})
    with pytest.raises(Unauthorized, match="'exp'"):
        verifier.verify(token)


def test_not_yet_valid_is_refused(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    later = int(time.time()) + 3600
    with pytest.raises(Unauthorized, match="not valid yet"):
        verifier.verify(sign(claims(nbf=later, exp=later + 60), rsa_key))


def test_wrong_issuer_is_refused(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    with pytest.raises(Unauthorized, match="issuer"):
        verifier.verify(sign(claims(iss="https://evil.example"), rsa_key))


def test_missing_issuer_is_refused_when_one_is_configured(
    verifier: TokenVerifier, rsa_key: SigningKey
) -> None:
    with pytest.raises(Unauthorized, match="'iss'"):
        verifier.verify(sign(claims(iss=None), rsa_key))


def test_wrong_audience_is_refused(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    with pytest.raises(Unauthorized, match="audience"):
        verifier.verify(sign(claims(aud="another-api"), rsa_key))


def test_audience_is_not_checked_when_not_configured(rsa_key: SigningKey) -> None:
    lenient = TokenVerifier(TokenSettings(jwks_json=json.dumps(rsa_key.jwks()), jwt_issuer=ISSUER))
    assert lenient.verify(sign(claims(aud="another-api"), rsa_key))["sub"] == "alice"


def test_unknown_kid_is_refused(verifier: TokenVerifier) -> None:
    stranger = signing_key_from(generate_private_key("ES256"))
    with pytest.raises(Unauthorized, match="unknown key"):
        verifier.verify(sign(claims(), stranger))


def test_missing_kid_is_refused_when_the_set_has_several_keys(
    verifier: TokenVerifier, rsa_key: SigningKey
) -> None:
    token = jwt.encode(claims(), rsa_key.private_key, algorithm="RS256")
    with pytest.raises(Unauthorized, match="unknown key"):
        verifier.verify(token)


def test_es256_header_on_an_rsa_key_is_refused(verifier: TokenVerifier, rsa_key: SigningKey) -> None:
    ec = signing_key_from(generate_private_key("ES256"))
    token = jwt.encode(claims(), ec.private_key, algorithm="ES256", headers={"kid": rsa_key.kid})
    with pytest.raises(Unauthorized, match="does not match its key"):
        verifier.verify(token)


@pytest.mark.parametrize("token", ["", "   ", "not-a-jwt", "a.b.c"])
def test_garbage_is_refused(verifier: TokenVerifier, token: str) -> None:
    with pytest.raises(Unauthorized):
        verifier.verify(token)


def test_file_jwks_picks_up_a_rotated_key(tmp_path: Path) -> None:
    first = ensure_signing_key(tmp_path)
    file_verifier = TokenVerifier(
        TokenSettings(jwks_url=(tmp_path / "jwks.json").as_uri(), jwt_issuer=ISSUER)
    )
    assert file_verifier.verify(sign(claims(), first))["sub"] == "alice"
    (tmp_path / "signing-key.pem").unlink()
    second = ensure_signing_key(tmp_path, alg="ES256")
    assert second.kid != first.kid
    assert file_verifier.verify(sign(claims(sub="carol"), second))["sub"] == "carol"


def test_local_key_is_created_once_and_reused(tmp_path: Path) -> None:
    first = ensure_signing_key(tmp_path)
    again = ensure_signing_key(tmp_path)
    assert first.kid == again.kid
    assert json.loads((tmp_path / "jwks.json").read_text())["keys"][0]["kid"] == first.kid
    assert (tmp_path / "signing-key.pem").stat().st_mode & 0o077 == 0


def test_settings_need_a_key_source() -> None:
    with pytest.raises(TokenConfigError, match="JWKS_URL"):
        TokenSettings.from_env({})


def test_settings_need_an_issuer_in_aws() -> None:
    with pytest.raises(TokenConfigError, match="JWT_ISSUER"):
        TokenSettings.from_env(
            {"JWKS_URL": "https://issuer.example/jwks", "AWS_LAMBDA_FUNCTION_NAME": "authz"}
        )


def test_settings_refuse_other_url_schemes() -> None:
    with pytest.raises(TokenConfigError, match="JWKS_URL"):
        TokenVerifier(TokenSettings.from_env({"JWKS_URL": "ftp://issuer.example/jwks"}))
