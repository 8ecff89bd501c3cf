"""shared.webhooks.signing: Standard Webhooks v1, checked against the spec's vector and the
reference ``standardwebhooks`` library, so any receiver's library accepts what we send."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import webhooks as reference
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from shared.webhooks import signing

# The example of the Standard Webhooks specification.
SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
SPEC_TIMESTAMP = 1614265330
SPEC_BODY = '{"test": 2432232314}'
SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

BODY = '{"type": "ticket.created", "data": {"id": "TCK-42", "title": "Caf\u00e9 \u2615"}}'


def test_spec_vector() -> None:
    assert signing.sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY) == SPEC_SIGNATURE
    assert signing.sign(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY.encode()) == SPEC_SIGNATURE
    assert signing.verify(SPEC_SECRET, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY, SPEC_SIGNATURE, now=SPEC_TIMESTAMP)


def test_spec_vector_matches_the_reference_library() -> None:
    at = datetime.fromtimestamp(SPEC_TIMESTAMP, tz=UTC)
    assert Webhook(SPEC_SECRET).sign(SPEC_ID, at, SPEC_BODY) == SPEC_SIGNATURE


def test_reference_library_verifies_spec_vector_at_its_time(monkeypatch: pytest.MonkeyPatch) -> None:
    class Frozen(datetime):
        @classmethod
        def now(cls, tz: object = None) -> Frozen:
            return cls.fromtimestamp(SPEC_TIMESTAMP, tz=UTC)

    monkeypatch.setattr(reference, "datetime", Frozen)
    headers = signing.headers([SPEC_SECRET], SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY)
    assert headers["webhook-signature"] == SPEC_SIGNATURE
    assert Webhook(SPEC_SECRET).verify(SPEC_BODY, headers) == {"test": 2432232314}


def test_round_trip() -> None:
    secret = signing.new_secret()
    msg_id = signing.new_message_id()
    now = 1_700_000_000
    headers = signing.headers([secret], msg_id, now, BODY)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == msg_id
    assert headers["webhook-timestamp"] == str(now)
    assert signing.verify(secret, msg_id, now, BODY, headers["webhook-signature"], now=now + 10)
    assert signing.verify(secret, msg_id, now, BODY.encode(), headers["webhook-signature"], now=now)


def test_reference_library_verifies_our_headers() -> None:
    secret = signing.new_secret()
    now = int(time.time())
    headers = signing.headers([secret], signing.new_message_id(), now, BODY)
    assert Webhook(secret).verify(BODY, headers) == {
        "type": "ticket.created",
        "data": {"id": "TCK-42", "title": "Caf\u00e9 \u2615"},
    }
    assert Webhook(secret).verify(BODY.encode(), headers, json_parse=False) is None


def test_rotation_signs_with_every_secret_in_order() -> None:
    new, old, stranger = signing.new_secret(), signing.new_secret(48), signing.new_secret()
    msg_id, now = signing.new_message_id(), int(time.time())
    headers = signing.headers([new, old], msg_id, now, BODY)
    signatures = headers["webhook-signature"].split(" ")
    assert signatures == [signing.sign(new, msg_id, now, BODY), signing.sign(old, msg_id, now, BODY)]
    for secret in (new, old):
        assert Webhook(secret).verify(BODY, headers)
        assert signing.verify(secret, msg_id, now, BODY, headers["webhook-signature"], now=now)
    with pytest.raises(WebhookVerificationError):
        Webhook(stranger).verify(BODY, headers)
    assert not signing.verify(stranger, msg_id, now, BODY, headers["webhook-signature"], now=now)


def test_tampering_fails() -> None:
    secret, msg_id, now = signing.new_secret(), signing.new_message_id(), 1_700_000_000
    header = signing.sign(secret, msg_id, now, BODY)
    assert not signing.verify(secret, msg_id, now, BODY + " ", header, now=now)
    assert not signing.verify(secret, msg_id, now + 1, BODY, header, now=now)
    assert not signing.verify(secret, "msg_other", now, BODY, header, now=now)
    assert not signing.verify(signing.new_secret(), msg_id, now, BODY, header, now=now)


def test_reference_library_rejects_tampered_body() -> None:
    secret = signing.new_secret()
    headers = signing.headers([secret], signing.new_message_id(), int(time.time()), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace("42", "43"), headers)


@pytest.mark.parametrize(("offset", "ok"), [(-300, True), (300, True), (-301, False), (301, False)])
def test_timestamp_tolerance(offset: int, ok: bool) -> None:
    secret, msg_id, sent = signing.new_secret(), "msg_1", 1_700_000_000
    header = signing.sign(secret, msg_id, sent, BODY)
    assert signing.verify(secret, msg_id, sent, BODY, header, now=sent - offset) is ok


def test_custom_tolerance() -> None:
    secret, sent = signing.new_secret(), 1_700_000_000
    header = signing.sign(secret, "msg_1", sent, BODY)
    assert not signing.verify(secret, "msg_1", sent, BODY, header, now=sent + 61, tolerance_s=60)
    assert signing.verify(secret, "msg_1", sent, BODY, header, now=sent + 60, tolerance_s=60)


@pytest.mark.parametrize(
    "header",
    ["", "v1", "v1,", "v1,not*base64", "v2,{sig}", "{sig}", "v1 {sig}"],
)
def test_malformed_or_foreign_signature_headers_fail_without_raising(header: str) -> None:
    secret, sent = signing.new_secret(), 1_700_000_000
    sig = signing.sign(secret, "msg_1", sent, BODY).partition(",")[2]
    assert not signing.verify(secret, "msg_1", sent, BODY, header.format(sig=sig), now=sent)


def test_unknown_versions_beside_v1_are_ignored() -> None:
    secret, sent = signing.new_secret(), 1_700_000_000
    header = "v1a,abc " + signing.sign(secret, "msg_1", sent, BODY)
    assert signing.verify(secret, "msg_1", sent, BODY, header, now=sent)


@pytest.mark.parametrize("nbytes", [24, 32, 64])
def test_new_secret(nbytes: int) -> None:
    secret = signing.new_secret(nbytes)
    assert secret.startswith("whsec_")
    assert len(signing.secret_key(secret)) == nbytes
    assert base64.b64decode(secret.removeprefix("whsec_")) == signing.secret_key(secret)
    assert Webhook(secret)._whsecret == signing.secret_key(secret)


def test_new_secrets_differ() -> None:
    assert len({signing.new_secret() for _ in range(20)}) == 20


@pytest.mark.parametrize("nbytes", [0, 16, 23, 65, 128])
def test_new_secret_bounds(nbytes: int) -> None:
    with pytest.raises(ValueError, match="24 to 64 key bytes"):
        signing.new_secret(nbytes)


def test_secret_key_tolerates_missing_padding() -> None:
    key = bytes(range(25))
    unpadded = "whsec_" + base64.b64encode(key).decode().rstrip("=")
    assert signing.secret_key(unpadded) == key


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("", "starts with 'whsec_'"),
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "starts with 'whsec_'"),
        ("WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "starts with 'whsec_'"),
        ("whsec_", "key bytes, not 0"),
        ("whsec_not base64 at all!!", "standard base64"),
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS", "key bytes, not 23"),  # 4n+3 chars decode...
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwA", "standard base64"),  # ...4n+1 never is
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa-w", "standard base64"),  # URL-safe alphabet
        ("whsec_" + base64.b64encode(bytes(16)).decode(), "key bytes, not 16"),
        ("whsec_" + base64.b64encode(bytes(65)).decode(), "key bytes, not 65"),
    ],
)
def test_malformed_secrets(secret: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        signing.secret_key(secret)
    with pytest.raises(ValueError, match=message):
        signing.sign(secret, "msg_1", 1, BODY)


def test_headers_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="at least one secret"):
        signing.headers([], "msg_1", 1, BODY)


def test_headers_refuses_a_bare_string() -> None:
    with pytest.raises(TypeError, match="not one secret"):
        signing.headers(SPEC_SECRET, "msg_1", 1, BODY)


def test_message_ids_are_unique_and_prefixed() -> None:
    ids = [signing.new_message_id() for _ in range(100)]
    assert len(set(ids)) == 100
    assert all(i.startswith("msg_") and len(i) == 36 for i in ids)
