"""Sandbox configuration: environment variables with safe local defaults."""

from __future__ import annotations

from dataclasses import dataclass

from servicekit.config import env_field, env_float_list, env_int

DEFAULT_RETRY_SCHEDULE = (1.0, 5.0, 30.0, 120.0, 600.0)


def _retry_schedule(name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    schedule = tuple(env_float_list(name, list(default)))
    if any(delay < 0 for delay in schedule):
        raise ValueError(f"{name} must hold non-negative seconds")
    return schedule


def _at_least_one(name: str, default: int) -> int:
    return max(1, env_int(name, default))


@dataclass(frozen=True)
class Config:
    server_key: str = env_field("SANDBOX_SERVER_KEY", str, "sandbox-server-key")
    db_path: str = env_field("SANDBOX_DB_PATH", str, ".data/sandbox.sqlite3")
    notification_url: str = env_field(
        "SANDBOX_NOTIFICATION_URL", str,
        "http://127.0.0.1:8080/api/v1/payments/notifications/sandbox")
    # Delays before the 2nd, 3rd, ... attempt; a delivery gets 1 + len(schedule) attempts.
    retry_schedule: tuple[float, ...] = env_field(
        "SANDBOX_RETRY_SCHEDULE", _retry_schedule, DEFAULT_RETRY_SCHEDULE)
    notifier_interval: float = env_field("SANDBOX_NOTIFIER_INTERVAL", float, 0.1)
    # Deliveries sent at once (never two for the same order).
    notifier_concurrency: int = env_field("SANDBOX_NOTIFIER_CONCURRENCY", _at_least_one, 16)
    notify_connect_timeout: float = env_field("SANDBOX_NOTIFY_CONNECT_TIMEOUT", float, 2.0)
    notify_read_timeout: float = env_field("SANDBOX_NOTIFY_READ_TIMEOUT", float, 5.0)
    va_expiry_seconds: int = env_field("SANDBOX_VA_EXPIRY_SECONDS", int, 86400)
    ewallet_expiry_seconds: int = env_field("SANDBOX_EWALLET_EXPIRY_SECONDS", int, 900)
    # Where a shopper's browser reaches the sandbox (the gateway exposes it under /sandbox).
    public_url: str = env_field("SANDBOX_PUBLIC_URL", str, "http://127.0.0.1:8080/sandbox")
    log_level: str = env_field("LOG_LEVEL", str, "INFO")
    max_content_length: int = env_field("MAX_CONTENT_LENGTH", int, 1048576)
