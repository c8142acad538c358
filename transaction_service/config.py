"""Marketplace configuration: environment variables with safe local defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

from servicekit.config import env_bool, env_float, env_int, env_str


@dataclass(frozen=True)
class Config:
    database_url: str = field(
        default_factory=lambda: env_str(
            "DATABASE_URL", "postgresql://transaction@127.0.0.1:55432/etalase_transaction"
        )
    )
    db_pool_min: int = field(default_factory=lambda: env_int("DB_POOL_MIN", 4))
    db_pool_max: int = field(default_factory=lambda: env_int("DB_POOL_MAX", 10))
    log_level: str = field(default_factory=lambda: env_str("LOG_LEVEL", "INFO"))
    max_content_length: int = field(default_factory=lambda: env_int("MAX_CONTENT_LENGTH", 1048576))
    jwks_file: str = field(default_factory=lambda: env_str("JWKS_FILE", ".data/keys/jwks.json"))
    storefront_url: str = field(
        default_factory=lambda: env_str("STOREFRONT_URL", "http://127.0.0.1:8001")
    )
    storefront_internal_token: str = field(
        default_factory=lambda: env_str("STOREFRONT_INTERNAL_TOKEN", "")
    )
    storefront_timeout_seconds: float = field(
        default_factory=lambda: env_float("STOREFRONT_TIMEOUT_SECONDS", 3.0)
    )
    # How long the marketplace trusts the showcase's answer that an account exists and is
    # active (a disabled account's tokens stop working here within this); 0: no check.
    account_status_cache_seconds: float = field(
        default_factory=lambda: env_float("ACCOUNT_STATUS_CACHE_SECONDS", 30.0)
    )
    payment_provider: str = field(default_factory=lambda: env_str("PAYMENT_PROVIDER", "sandbox"))
    payment_base_url: str = field(
        default_factory=lambda: env_str("PAYMENT_BASE_URL", "http://127.0.0.1:8003")
    )
    payment_server_key: str = field(
        default_factory=lambda: env_str("PAYMENT_SERVER_KEY", "sandbox-server-key")
    )
    payment_timeout_seconds: float = field(
        default_factory=lambda: env_float("PAYMENT_TIMEOUT_SECONDS", 5.0)
    )
    platform_fee_bps: int = field(default_factory=lambda: env_int("PLATFORM_FEE_BPS", 500))
    # An unpaid order whose notification has not come is asked of the provider
    # (`GET /v2/{order_id}/status`) this often: Midtrans retries a notification only a few
    # times (a 500 once, a 503 four times), so a missed one is found by asking.
    payment_reconcile_seconds: int = field(
        default_factory=lambda: env_int("PAYMENT_RECONCILE_SECONDS", 60)
    )
    payment_expiry_seconds: int = field(
        default_factory=lambda: env_int("PAYMENT_EXPIRY_SECONDS", 3600)
    )
    auto_complete_seconds: int = field(
        default_factory=lambda: env_int("AUTO_COMPLETE_SECONDS", 604800)
    )
    # DELIVERED (DESIGN.md §5 step 6) and returns (§12).
    auto_deliver_seconds: int = field(
        default_factory=lambda: env_int("AUTO_DELIVER_SECONDS", 3 * 86400)
    )
    return_window_seconds: int = field(
        default_factory=lambda: env_int("RETURN_WINDOW_SECONDS", 7 * 86400)
    )
    return_response_seconds: int = field(
        default_factory=lambda: env_int("RETURN_RESPONSE_SECONDS", 48 * 3600)
    )
    worker_interval_seconds: float = field(
        default_factory=lambda: env_float("WORKER_INTERVAL_SECONDS", 1.0)
    )
    # An order whose checkout saga has not finished after this long is considered abandoned
    # (the process died mid-saga) and is cleaned up by the payment-expiry worker.
    abandoned_checkout_seconds: int = field(
        default_factory=lambda: env_int("ABANDONED_CHECKOUT_SECONDS", 300)
    )
    idempotency_retention_seconds: int = field(
        default_factory=lambda: env_int("IDEMPOTENCY_RETENTION_SECONDS", 86400)
    )
    # An in-progress idempotency key older than this is assumed to belong to a crashed
    # request and may be taken over.
    idempotency_lock_timeout_seconds: int = field(
        default_factory=lambda: env_int("IDEMPOTENCY_LOCK_TIMEOUT_SECONDS", 60)
    )
    outbox_max_backoff_seconds: float = field(
        default_factory=lambda: env_float("OUTBOX_MAX_BACKOFF_SECONDS", 300.0)
    )
    # The transparency log (DESIGN.md §9). The signing key is needed only by the audit-log
    # worker (and `audit-checkpoint`); the web service serves the public verifier keys.
    audit_log_origin: str = field(
        default_factory=lambda: env_str("AUDIT_LOG_ORIGIN", "etalase.test/marketplace/audit")
    )
    audit_log_key_file: str = field(default_factory=lambda: env_str("AUDIT_LOG_KEY_FILE", ""))
    # The log's verifier keys (C2SP vkey lines: the current one and any retired ones).
    audit_log_vkeys_file: str = field(
        default_factory=lambda: env_str("AUDIT_LOG_VKEYS_FILE", "")
    )
    # The witness's cosigner verifier key(s) (vkey lines).
    audit_witness_vkeys_file: str = field(
        default_factory=lambda: env_str("AUDIT_WITNESS_VKEYS_FILE", "")
    )
    audit_checkpoint_interval_seconds: float = field(
        default_factory=lambda: env_float("AUDIT_CHECKPOINT_INTERVAL_SECONDS", 3.0)
    )
    # Webhooks (DESIGN.md §13). Keys that encrypt endpoint secrets at rest (comma-separated,
    # the first encrypts); without one, endpoints cannot be registered.
    webhook_encryption_keys: str = field(
        default_factory=lambda: env_str("WEBHOOK_ENCRYPTION_KEYS", "")
    )
    # Local development and tests only: allow http:// and loopback/private targets.
    webhook_allow_private_targets: bool = field(
        default_factory=lambda: env_bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", False)
    )
    webhook_timeout_seconds: float = field(
        default_factory=lambda: env_float("WEBHOOK_TIMEOUT_SECONDS", 10.0)
    )
    # Seconds between attempts (default 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
    webhook_retry_schedule: str = field(
        default_factory=lambda: env_str("WEBHOOK_RETRY_SCHEDULE",
                                        "5,300,1800,7200,18000,36000,36000")
    )
    webhook_disable_after_seconds: int = field(
        default_factory=lambda: env_int("WEBHOOK_DISABLE_AFTER_SECONDS", 5 * 86400)
    )
    # Rate limits: registrations per owner per hour, test sends per endpoint per minute.
    webhook_registrations_per_hour: int = field(
        default_factory=lambda: env_int("WEBHOOK_REGISTRATIONS_PER_HOUR", 20)
    )
    webhook_tests_per_minute: int = field(
        default_factory=lambda: env_int("WEBHOOK_TESTS_PER_MINUTE", 5)
    )
    webhook_max_endpoints: int = field(default_factory=lambda: env_int("WEBHOOK_MAX_ENDPOINTS", 20))
    # Deliveries a dispatcher process sends at once (one slow receiver does not stall the rest).
    webhook_dispatch_concurrency: int = field(
        default_factory=lambda: env_int("WEBHOOK_DISPATCH_CONCURRENCY", 8)
    )
