"""Everything an HTTP request or a worker needs, built once per process from Config."""

from __future__ import annotations

from dataclasses import dataclass

from servicekit.db import Database

from .clients.payments import PaymentProvider, make_provider
from .clients.storefront import StorefrontClient
from .config import Config


@dataclass
class Context:
    config: Config
    database: Database
    storefront: StorefrontClient
    payments: PaymentProvider


def build_context(config: Config, database: Database) -> Context:
    return Context(
        config=config,
        database=database,
        storefront=StorefrontClient(
            config.storefront_url,
            config.storefront_internal_token,
            timeout_seconds=config.storefront_timeout_seconds,
        ),
        payments=make_provider(
            config.payment_provider,
            server_key=config.payment_server_key,
            base_url=config.payment_base_url,
            timeout_seconds=config.payment_timeout_seconds,
        ),
    )
