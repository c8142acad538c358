"""Webhook rules without I/O (DESIGN.md §13, the Standard Webhooks specification):
secrets and signatures, the retry schedule, when an endpoint is disabled, which events an
endpoint receives and which target URLs and addresses are allowed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
from datetime import datetime, timedelta
from urllib.parse import urlsplit

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
SIGNATURE_VERSION = "v1"

# Events whose features exist; others are added here as they land.
EVENT_TYPES = (
    "order.created",
    "order.paid",
    "order.shipped",
    "order.delivered",
    "order.completed",
    "order.cancelled",
    "order.expired",
    "refund.succeeded",
    "return.requested",
    "return.updated",
    "payout.created",
    "commission.earned",
)
TEST_EVENT = "webhook.test"
ALL_EVENTS = "*"

# Seconds to wait after each failed attempt; after the last one the delivery has failed.
RETRY_SCHEDULE = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
DISABLE_AFTER = timedelta(days=5)
ROTATION_OVERLAP = timedelta(hours=24)
TIMEOUT_SECONDS = 10.0
RESPONSE_KEEP_BYTES = 1024


# --- secrets and signatures ---------------------------------------------------------------


def new_secret() -> str:
    """`whsec_` + base64 of 32 random bytes (the format every Standard Webhooks library
    accepts)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key: the base64-decoded part after the prefix."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("not a whsec_ secret")
    return base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """`v1,` + base64(HMAC-SHA256(key, "id.timestamp.body"))."""
    content = f"{msg_id}.{timestamp}.{body}".encode()
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def signature_header(signing_secrets: list[str], msg_id: str, timestamp: int, body: str) -> str:
    """Space-separated signatures, one per active secret (two during a rotation)."""
    return " ".join(sign(secret, msg_id, timestamp, body) for secret in signing_secrets)


def active_secrets(current: str, previous: str | None, previous_expires_at: datetime | None,
                   now: datetime) -> list[str]:
    """The current secret, plus the previous one while its overlap lasts."""
    if previous and previous_expires_at is not None and now < previous_expires_at:
        return [current, previous]
    return [current]


def event_body(event_type: str, timestamp: datetime, data: dict) -> str:
    """The exact bytes sent: `{type, timestamp, data}` as compact JSON."""
    return json.dumps(
        {"type": event_type, "timestamp": _iso(timestamp), "data": data},
        separators=(",", ":"), ensure_ascii=False, default=_json_default,
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _json_default(value):
    if isinstance(value, datetime):
        return _iso(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# --- schedule -----------------------------------------------------------------------------


def retry_delay(attempts_made: int, schedule: tuple[int, ...] = RETRY_SCHEDULE) -> float | None:
    """Seconds until the next attempt after `attempts_made` failed ones; None = give up."""
    if attempts_made < 1:
        raise ValueError("at least one attempt was made")
    if attempts_made > len(schedule):
        return None
    return float(schedule[attempts_made - 1])


def should_disable(failing_since: datetime | None, now: datetime,
                   after: timedelta = DISABLE_AFTER) -> bool:
    """An endpoint that has failed every attempt since `failing_since` for `after`."""
    return failing_since is not None and now - failing_since >= after


def disabled_reason(failing_since: datetime) -> str:
    return (f"Disabled automatically: every delivery attempt failed since "
            f"{_iso(failing_since)}.")


def is_success(status_code: int | None) -> bool:
    return status_code is not None and 200 <= status_code < 300


# --- subscriptions ------------------------------------------------------------------------


def normalise_events(events: list[str]) -> list[str]:
    """Distinct, known event types in a stable order; `*` alone means every event."""
    unknown = [e for e in events if e != ALL_EVENTS and e not in EVENT_TYPES]
    if unknown:
        raise ValueError(f"unknown event type(s): {', '.join(sorted(set(unknown)))}")
    if ALL_EVENTS in events:
        return [ALL_EVENTS]
    return [e for e in EVENT_TYPES if e in set(events)]


# --- targets ------------------------------------------------------------------------------

# Cloud metadata services outside the link-local range (Alibaba's, in the shared range).
_METADATA = (ipaddress.ip_network("100.100.100.200/32"), ipaddress.ip_network("fd00:ec2::254/128"))
_SHARED = ipaddress.ip_network("100.64.0.0/10")


class TargetRefused(ValueError):
    """The URL or the address it resolves to may not receive webhooks."""


def check_url(url: str, *, allow_private: bool) -> tuple[str, str, int]:
    """Validate a target URL; returns (scheme, host, port). `https` only, unless local
    targets are allowed (development and tests), which also allows `http`."""
    if len(url) > 2048:
        raise TargetRefused("The URL is longer than 2048 characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"Not a valid URL: {exc}.") from None
    allowed = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed:
        raise TargetRefused("The URL must start with https://.")
    if not parts.hostname:
        raise TargetRefused("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("The URL must not carry credentials.")
    if parts.fragment:
        raise TargetRefused("The URL must not have a #fragment.")
    if any(c.isspace() or ord(c) < 0x20 for c in url):
        raise TargetRefused("The URL must not contain whitespace or control characters.")
    host = parts.hostname
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    if not allow_private:
        literal = _literal_address(host)
        if literal is not None:
            check_address(literal, allow_private=False)
        elif host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
            raise TargetRefused(f"The host {host} is a local name.")
    return parts.scheme, host, port


def _literal_address(host: str):
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check_address(address, *, allow_private: bool) -> None:
    """Refuse loopback, private, link-local (metadata), multicast, reserved and
    unspecified addresses unless local targets are allowed."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if allow_private:
        return
    if (
        ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast
        or ip.is_reserved or ip.is_unspecified or not ip.is_global
        or any(ip in net for net in _METADATA if net.version == ip.version)
        or (ip.version == 4 and ip in _SHARED)
    ):
        raise TargetRefused(f"The target address {ip} is not a public address.")


# --- secrets at rest ----------------------------------------------------------------------


class SecretBox:
    """Encrypts endpoint secrets with keys from the environment (Fernet: AES-128-CBC +
    HMAC-SHA256). The first key encrypts; every key decrypts, so keys can rotate."""

    def __init__(self, keys: str):
        from cryptography.fernet import Fernet, MultiFernet

        parsed = [_fernet_key(k.strip()) for k in keys.split(",") if k.strip()]
        self._box = MultiFernet([Fernet(k) for k in parsed]) if parsed else None

    @property
    def configured(self) -> bool:
        return self._box is not None

    def encrypt(self, secret: str) -> str:
        if self._box is None:
            raise RuntimeError("WEBHOOK_ENCRYPTION_KEYS is not set")
        return self._box.encrypt(secret.encode()).decode()

    def decrypt(self, token: str) -> str:
        if self._box is None:
            raise RuntimeError("WEBHOOK_ENCRYPTION_KEYS is not set")
        return self._box.decrypt(token.encode()).decode()


def _fernet_key(key: str) -> bytes:
    """A Fernet key is 32 bytes, URL-safe base64; accept it with or without padding."""
    raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    if len(raw) != 32:
        raise ValueError("a webhook encryption key must be 32 bytes, URL-safe base64")
    return base64.urlsafe_b64encode(raw)


def parse_schedule(text: str) -> tuple[int, ...]:
    """`WEBHOOK_RETRY_SCHEDULE`: comma-separated seconds, e.g. "5,300,1800"."""
    values = tuple(int(part) for part in text.split(",") if part.strip())
    if not values or any(v < 0 for v in values):
        raise ValueError(f"not a retry schedule: {text!r}")
    return values
