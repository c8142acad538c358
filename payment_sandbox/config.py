"""Sandbox configuration: environment variables with safe local defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

from servicekit.config import env_float, env_float_list, env_int, env_str

DEFAULT_RETRY_SCHEDULE = (1.0, 5.0, 30.0, 120.0, 600.0)


def _retry_schedule() -> tuple[float, ...]:
    schedule = tuple(env_float_list("SANDBOX_RETRY_SCHEDULE", list(DEFAULT_RETRY_SCHEDULE)))
    if any(delay < 0 for delay in schedule):
        raise ValueError("SANDBOX_RETRY_SCHEDULE must hold non-negative seconds")
    return schedule


@dataclass(frozen=True)
class Config:
    server_key: str = field(
        default_factory=lambda: env_str("SANDBOX_SERVER_KEY", "sandbox-server-key")
    )
    db_path: str = field(
        default_factory=lambda: env_str("SANDBOX_DB_PATH", ".data/sandbox.sqlite3")
    )
    notification_url: str = field(
        default_factory=lambda: env_str(
            "SANDBOX_NOTIFICATION_URL",
            "http://127.0.0.1:8080/api/v1/payments/notifications/sandbox",
        )
    )
    # Delays before the 2nd, 3rd, ... attempt; a delivery gets 1 + len(schedule) attempts.
    retry_schedule: tuple[float, ...] = field(default_factory=_retry_schedule)
    notifier_interval: float = field(
        default_factory=lambda: env_float("SANDBOX_NOTIFIER_INTERVAL", 0.1)
    )
    # Deliveries sent at once (never two for the same order).
    notifier_concurrency: int = field(
        default_factory=lambda: max(1, env_int("SANDBOX_NOTIFIER_CONCURRENCY", 16))
    )
    notify_connect_timeout: float = field(
        default_factory=lambda: env_float("SANDBOX_NOTIFY_CONNECT_TIMEOUT", 2.0)
    )
    notify_read_timeout: float = field(
        default_factory=lambda: env_float("SANDBOX_NOTIFY_READ_TIMEOUT", 5.0)
    )
    va_expiry_seconds: int = field(
        default_factory=lambda: env_int("SANDBOX_VA_EXPIRY_SECONDS", 86400)
    )
    ewallet_expiry_seconds: int = field(
        default_factory=lambda: env_int("SANDBOX_EWALLET_EXPIRY_SECONDS", 900)
    )
    # Where a shopper's browser reaches the sandbox (the gateway exposes it under /sandbox).
    public_url: str = field(
        default_factory=lambda: env_str("SANDBOX_PUBLIC_URL", "http://127.0.0.1:8080/sandbox")
    )
    log_level: str = field(default_factory=lambda: env_str("LOG_LEVEL", "INFO"))
    max_content_length: int = field(
        default_factory=lambda: env_int("MAX_CONTENT_LENGTH", 1048576)
    )
