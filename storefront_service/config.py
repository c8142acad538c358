"""Storefront configuration: environment variables with safe local defaults."""

from __future__ import annotations

from dataclasses import dataclass

from servicekit.config import env_field


@dataclass(frozen=True)
class Config:
    database_url: str = env_field(
        "DATABASE_URL", str, "postgresql://storefront@127.0.0.1:55432/etalase_storefront")
    db_pool_min: int = env_field("DB_POOL_MIN", int, 4)
    db_pool_max: int = env_field("DB_POOL_MAX", int, 10)
    log_level: str = env_field("LOG_LEVEL", str, "INFO")
    max_content_length: int = env_field("MAX_CONTENT_LENGTH", int, 1048576)
    # How long shared caches may keep anonymous catalogue reads (0: not at all).
    public_cache_seconds: int = env_field("PUBLIC_CACHE_SECONDS", int, 1)
    jwks_file: str = env_field("JWKS_FILE", str, ".data/keys/jwks.json")
    jwt_private_key_file: str = env_field("JWT_PRIVATE_KEY_FILE", str, ".data/keys/jwt-signing.pem")
    jwt_kid: str = env_field("JWT_KID", str, "local-1")
    jwt_ttl_seconds: int = env_field("JWT_TTL_SECONDS", int, 3600)
    internal_token: str = env_field("INTERNAL_TOKEN", str, "")
    reservation_ttl_seconds: int = env_field("RESERVATION_TTL_SECONDS", int, 900)
    sweeper_interval_seconds: int = env_field("SWEEPER_INTERVAL_SECONDS", int, 5)
    # The marketplace releases unpaid reservations itself; the sweeper is the safety net
    # and waits this long past expires_at so it never races a payment that is settling.
    sweeper_grace_seconds: int = env_field("SWEEPER_GRACE_SECONDS", int, 600)
    # A cart item's content attribution counts at checkout for this long (DESIGN.md §11).
    attribution_window_seconds: int = env_field("ATTRIBUTION_WINDOW_SECONDS", int, 7 * 24 * 3600)
    sweeper_batch_size: int = env_field("SWEEPER_BATCH_SIZE", int, 100)
    # The witness of the marketplace's transparency log (DESIGN.md §9): its own cosigning
    # key, and the log's verifier keys (C2SP vkey lines, current and retired) and origin.
    witness_name: str = env_field("WITNESS_NAME", str, "etalase.test/showcase/witness")
    witness_key_file: str = env_field("WITNESS_KEY_FILE", str, "")
    witness_log_vkeys_file: str = env_field("WITNESS_LOG_VKEYS_FILE", str, "")
    witness_log_origin: str = env_field("WITNESS_LOG_ORIGIN", str, "etalase.test/marketplace/audit")
