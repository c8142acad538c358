"""Webhook rules: signatures (checked with the independent `standardwebhooks` package),
the retry schedule, disabling, subscriptions, target URLs and addresses, secrets at rest."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import InvalidToken
from standardwebhooks import Webhook, WebhookVerificationError

from transaction_service.domain import webhooks as rules


def _headers(signature: str, msg_id: str, timestamp: int) -> dict:
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": signature}


def test_signature_verifies_with_the_standard_webhooks_library():
    secret = rules.new_secret()
    now = int(datetime.now(UTC).timestamp())
    body = rules.event_body("order.paid", datetime.now(UTC), {"id": "o-1", "total": 1500})
    signature = rules.sign(secret, "msg_1", now, body)
    assert signature.startswith("v1,")
    assert Webhook(secret).verify(body, _headers(signature, "msg_1", now))["type"] == "order.paid"


def test_a_changed_body_id_or_timestamp_fails_verification():
    secret = rules.new_secret()
    now = int(datetime.now(UTC).timestamp())
    signature = rules.sign(secret, "msg_1", now, '{"a":1}')
    for body, msg_id, ts in (('{"a":2}', "msg_1", now), ('{"a":1}', "msg_2", now),
                             ('{"a":1}', "msg_1", now - 1)):
        with pytest.raises(WebhookVerificationError):
            Webhook(secret).verify(body, _headers(signature, msg_id, ts))


def test_specification_example_signature():
    # The worked example of the Standard Webhooks specification.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = '{"test": 2432232314}'
    assert (rules.sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
            == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")


def test_during_a_rotation_both_secrets_sign_and_either_verifies():
    old, new = rules.new_secret(), rules.new_secret()
    now = datetime.now(UTC)
    active = rules.active_secrets(new, old, now + timedelta(hours=24), now)
    assert active == [new, old]
    ts = int(now.timestamp())
    header = rules.signature_header(active, "msg_9", ts, "{}")
    assert header.count("v1,") == 2
    for secret in (old, new):
        Webhook(secret).verify("{}", _headers(header, "msg_9", ts))
    # After the overlap only the new one signs.
    assert rules.active_secrets(new, old, now - timedelta(seconds=1), now) == [new]
    assert rules.active_secrets(new, None, None, now) == [new]


def test_secret_format():
    secret = rules.new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[6:])) == 32
    assert rules.new_secret() != secret


def test_event_body_shape():
    moment = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)
    body = json.loads(rules.event_body("order.shipped", moment, {"id": "x"}))
    assert body == {"type": "order.shipped", "timestamp": "2026-12-02T13:00:00Z",
                    "data": {"id": "x"}}


def test_retry_schedule_is_the_documented_one_then_gives_up():
    delays = [rules.retry_delay(n) for n in range(1, 9)]
    assert delays == [5, 300, 1800, 7200, 18000, 36000, 36000, None]
    assert rules.parse_schedule("5,300,1800,7200,18000,36000,36000") == rules.RETRY_SCHEDULE
    assert rules.retry_delay(2, (1, 2)) == 2 and rules.retry_delay(3, (1, 2)) is None
    with pytest.raises(ValueError):
        rules.parse_schedule("5,-1")
    assert rules.TIMEOUT_SECONDS == 10 and rules.RESPONSE_KEEP_BYTES == 1024


def test_disable_after_five_days_of_failures():
    now = datetime.now(UTC)
    assert not rules.should_disable(None, now)
    assert not rules.should_disable(now - timedelta(days=4, hours=23), now)
    assert rules.should_disable(now - timedelta(days=5), now)
    assert "failed since" in rules.disabled_reason(now)


def test_success_is_2xx_only():
    assert [rules.is_success(c) for c in (200, 204, 299, 301, 400, 500, None)] == [
        True, True, True, False, False, False, False]


def test_events_are_normalised_and_checked():
    assert rules.normalise_events(["order.shipped", "order.paid", "order.paid"]) == [
        "order.paid", "order.shipped"]
    assert rules.normalise_events(["order.paid", "*"]) == ["*"]
    with pytest.raises(ValueError):
        rules.normalise_events(["order.teleported"])


@pytest.mark.parametrize("url", [
    "http://example.com/hook",            # not https
    "ftp://example.com/hook",
    "https://user:pw@example.com/hook",   # credentials
    "https:///nohost",
    "https://127.0.0.1/hook",             # loopback
    "https://[::1]/hook",
    "https://10.1.2.3/hook",              # private
    "https://192.168.0.10/hook",
    "https://172.16.5.4/hook",
    "https://169.254.169.254/latest/meta-data",  # link-local metadata
    "https://100.100.100.200/",           # Alibaba metadata
    "https://0.0.0.0/",
    "https://[::ffff:127.0.0.1]/",        # IPv4-mapped loopback
    "https://localhost/hook",
    "https://example.com:99999/",
    "https://example.com/#frag",
])
def test_refused_targets_in_production(url):
    with pytest.raises(rules.TargetRefused):
        rules.check_url(url, allow_private=False)


def test_allowed_targets():
    assert rules.check_url("https://example.com/hook?x=1", allow_private=False) == (
        "https", "example.com", 443)
    assert rules.check_url("https://93.184.216.34:8443/", allow_private=False)[2] == 8443
    # The local switch allows http and loopback (development and tests).
    assert rules.check_url("http://127.0.0.1:9000/h", allow_private=True) == (
        "http", "127.0.0.1", 9000)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "169.254.169.254", "::1",
                                     "fe80::1", "fd00:ec2::254", "100.64.1.1", "224.0.0.1",
                                     "::ffff:10.0.0.1"])
def test_private_addresses_are_refused_at_delivery(address):
    with pytest.raises(rules.TargetRefused):
        rules.check_address(address, allow_private=False)
    rules.check_address(address, allow_private=True)


def test_public_addresses_pass():
    for address in ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"):
        rules.check_address(address, allow_private=False)


def test_secret_box_encrypts_and_rotates_keys():
    old_key = base64.urlsafe_b64encode(b"o" * 32).decode().rstrip("=")
    new_key = base64.urlsafe_b64encode(b"n" * 32).decode()
    old_box = rules.SecretBox(old_key)
    token = old_box.encrypt("whsec_abc")
    assert "whsec_abc" not in token
    rotated = rules.SecretBox(f"{new_key},{old_key}")
    assert rotated.decrypt(token) == "whsec_abc"
    with pytest.raises(InvalidToken):
        rules.SecretBox(new_key).decrypt(token)
    assert not rules.SecretBox("").configured
    with pytest.raises(ValueError):
        rules.SecretBox("dG9vLXNob3J0")
