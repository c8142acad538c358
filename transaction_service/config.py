"""Marketplace configuration: environment variables with safe local defaults."""

from __future__ import annotations

from dataclasses import dataclass

from servicekit.config import env_field


@dataclass(frozen=True)
class Config:
    database_url: str = env_field(
        "DATABASE_URL", str, "postgresql://transaction@127.0.0.1:55432/etalase_transaction")
    db_pool_min: int = env_field("DB_POOL_MIN", int, 4)
    db_pool_max: int = env_field("DB_POOL_MAX", int, 10)
    log_level: str = env_field("LOG_LEVEL", str, "INFO")
    max_content_length: int = env_field("MAX_CONTENT_LENGTH", int, 1048576)
    jwks_file: str = env_field("JWKS_FILE", str, ".data/keys/jwks.json")
    storefront_url: str = env_field("STOREFRONT_URL", str, "http://127.0.0.1:8001")
    storefront_internal_token: str = env_field("STOREFRONT_INTERNAL_TOKEN", str, "")
    storefront_timeout_seconds: float = env_field("STOREFRONT_TIMEOUT_SECONDS", float, 3.0)
    # How long the marketplace trusts the showcase's answer that an account exists and is
    # active (a disabled account's tokens stop working here within this); 0: no check.
    account_status_cache_seconds: float = env_field("ACCOUNT_STATUS_CACHE_SECONDS", float, 30.0)
    # How long a process refuses, without asking the showcase, checkouts for more of a
    # product than the showcase said was left when it refused one as sold out (a flash
    # sale's losers cost no write); a restock is seen at most this late. 0: off.
    sold_out_hint_seconds: float = env_field("SOLD_OUT_HINT_SECONDS", float, 1.0)
    payment_provider: str = env_field("PAYMENT_PROVIDER", str, "sandbox")
    payment_base_url: str = env_field("PAYMENT_BASE_URL", str, "http://127.0.0.1:8003")
    payment_server_key: str = env_field("PAYMENT_SERVER_KEY", str, "sandbox-server-key")
    payment_timeout_seconds: float = env_field("PAYMENT_TIMEOUT_SECONDS", float, 5.0)
    platform_fee_bps: int = env_field("PLATFORM_FEE_BPS", int, 500)
    # An unpaid order whose notification has not come is asked of the provider
    # (`GET /v2/{order_id}/status`) this often: Midtrans retries a notification only a few
    # times (a 500 once, a 503 four times), so a missed one is found by asking.
    payment_reconcile_seconds: int = env_field("PAYMENT_RECONCILE_SECONDS", int, 60)
    payment_expiry_seconds: int = env_field("PAYMENT_EXPIRY_SECONDS", int, 3600)
    auto_complete_seconds: int = env_field("AUTO_COMPLETE_SECONDS", int, 604800)
    # DELIVERED (DESIGN.md §5 step 6) and returns (§12).
    auto_deliver_seconds: int = env_field("AUTO_DELIVER_SECONDS", int, 3 * 86400)
    return_window_seconds: int = env_field("RETURN_WINDOW_SECONDS", int, 7 * 86400)
    return_response_seconds: int = env_field("RETURN_RESPONSE_SECONDS", int, 48 * 3600)
    worker_interval_seconds: float = env_field("WORKER_INTERVAL_SECONDS", float, 1.0)
    # An order whose checkout saga has not finished after this long is considered abandoned
    # (the process died mid-saga) and is cleaned up by the payment-expiry worker.
    abandoned_checkout_seconds: int = env_field("ABANDONED_CHECKOUT_SECONDS", int, 300)
    idempotency_retention_seconds: int = env_field("IDEMPOTENCY_RETENTION_SECONDS", int, 86400)
    # An in-progress idempotency key older than this is assumed to belong to a crashed
    # request and may be taken over.
    idempotency_lock_timeout_seconds: int = env_field("IDEMPOTENCY_LOCK_TIMEOUT_SECONDS", int, 60)
    outbox_max_backoff_seconds: float = env_field("OUTBOX_MAX_BACKOFF_SECONDS", float, 300.0)
    # The transparency log (DESIGN.md §9). The signing key is needed only by the audit-log
    # worker (and `audit-checkpoint`); the web service serves the public verifier keys.
    audit_log_origin: str = env_field("AUDIT_LOG_ORIGIN", str, "etalase.test/marketplace/audit")
    audit_log_key_file: str = env_field("AUDIT_LOG_KEY_FILE", str, "")
    # The log's verifier keys (C2SP vkey lines: the current one and any retired ones).
    audit_log_vkeys_file: str = env_field("AUDIT_LOG_VKEYS_FILE", str, "")
    # The witness's cosigner verifier key(s) (vkey lines).
    audit_witness_vkeys_file: str = env_field("AUDIT_WITNESS_VKEYS_FILE", str, "")
    audit_checkpoint_interval_seconds: float = env_field(
        "AUDIT_CHECKPOINT_INTERVAL_SECONDS", float, 3.0)
    # Webhooks (DESIGN.md §13). Keys that encrypt endpoint secrets at rest (comma-separated,
    # the first encrypts); without one, endpoints cannot be registered.
    webhook_encryption_keys: str = env_field("WEBHOOK_ENCRYPTION_KEYS", str, "")
    # Local development and tests only: allow http:// and loopback/private targets.
    webhook_allow_private_targets: bool = env_field("WEBHOOK_ALLOW_PRIVATE_TARGETS", bool, False)
    webhook_timeout_seconds: float = env_field("WEBHOOK_TIMEOUT_SECONDS", float, 10.0)
    # Seconds between attempts (default 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
    webhook_retry_schedule: str = env_field(
        "WEBHOOK_RETRY_SCHEDULE", str, "5,300,1800,7200,18000,36000,36000")
    webhook_disable_after_seconds: int = env_field("WEBHOOK_DISABLE_AFTER_SECONDS", int, 5 * 86400)
    # Rate limits: registrations per owner per hour, test sends per endpoint per minute.
    webhook_registrations_per_hour: int = env_field("WEBHOOK_REGISTRATIONS_PER_HOUR", int, 20)
    webhook_tests_per_minute: int = env_field("WEBHOOK_TESTS_PER_MINUTE", int, 5)
    webhook_max_endpoints: int = env_field("WEBHOOK_MAX_ENDPOINTS", int, 20)
    # Deliveries a dispatcher process sends at once (one slow receiver does not stall the rest).
    webhook_dispatch_concurrency: int = env_field("WEBHOOK_DISPATCH_CONCURRENCY", int, 8)
