"""Storefront configuration: environment variables with safe local defaults."""

from __future__ import annotations

from dataclasses import dataclass, field

from servicekit.config import env_int, env_str


@dataclass(frozen=True)
class Config:
    database_url: str = field(
        default_factory=lambda: env_str(
            "DATABASE_URL", "postgresql://storefront@127.0.0.1:55432/etalase_storefront"
        )
    )
    db_pool_min: int = field(default_factory=lambda: env_int("DB_POOL_MIN", 4))
    db_pool_max: int = field(default_factory=lambda: env_int("DB_POOL_MAX", 10))
    log_level: str = field(default_factory=lambda: env_str("LOG_LEVEL", "INFO"))
    max_content_length: int = field(default_factory=lambda: env_int("MAX_CONTENT_LENGTH", 1048576))
    # How long shared caches may keep anonymous catalogue reads (0: not at all).
    public_cache_seconds: int = field(default_factory=lambda: env_int("PUBLIC_CACHE_SECONDS", 1))
    jwks_file: str = field(default_factory=lambda: env_str("JWKS_FILE", ".data/keys/jwks.json"))
    jwt_private_key_file: str = field(
        default_factory=lambda: env_str("JWT_PRIVATE_KEY_FILE", ".data/keys/jwt-signing.pem")
    )
    jwt_kid: str = field(default_factory=lambda: env_str("JWT_KID", "local-1"))
    jwt_ttl_seconds: int = field(default_factory=lambda: env_int("JWT_TTL_SECONDS", 3600))
    internal_token: str = field(default_factory=lambda: env_str("INTERNAL_TOKEN", ""))
    reservation_ttl_seconds: int = field(
        default_factory=lambda: env_int("RESERVATION_TTL_SECONDS", 900)
    )
    sweeper_interval_seconds: int = field(
        default_factory=lambda: env_int("SWEEPER_INTERVAL_SECONDS", 5)
    )
    # The marketplace releases unpaid reservations itself; the sweeper is the safety net
    # and waits this long past expires_at so it never races a payment that is settling.
    sweeper_grace_seconds: int = field(
        default_factory=lambda: env_int("SWEEPER_GRACE_SECONDS", 600)
    )
    # A cart item's content attribution counts at checkout for this long (DESIGN.md §11).
    attribution_window_seconds: int = field(
        default_factory=lambda: env_int("ATTRIBUTION_WINDOW_SECONDS", 7 * 24 * 3600)
    )
    sweeper_batch_size: int = field(default_factory=lambda: env_int("SWEEPER_BATCH_SIZE", 100))
    # The witness of the marketplace's transparency log (DESIGN.md §9): its own cosigning
    # key, and the log's verifier keys (C2SP vkey lines, current and retired) and origin.
    witness_name: str = field(
        default_factory=lambda: env_str("WITNESS_NAME", "etalase.test/showcase/witness")
    )
    witness_key_file: str = field(default_factory=lambda: env_str("WITNESS_KEY_FILE", ""))
    witness_log_vkeys_file: str = field(
        default_factory=lambda: env_str("WITNESS_LOG_VKEYS_FILE", "")
    )
    witness_log_origin: str = field(
        default_factory=lambda: env_str("WITNESS_LOG_ORIGIN", "etalase.test/marketplace/audit")
    )
