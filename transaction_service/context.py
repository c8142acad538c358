"""Everything an HTTP request or a worker needs, built once per process from Config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from servicekit.db import Database

from .clients.payments import PaymentProvider, make_provider
from .clients.storefront import (
    AccountStatusCache,
    ProductShopCache,
    SoldOutHints,
    StorefrontClient,
)
from .config import Config

if TYPE_CHECKING:
    from .operations.checkout_records import CheckoutRecords


@dataclass
class Context:
    config: Config
    database: Database
    storefront: StorefrontClient
    payments: PaymentProvider
    # The checkout saga's own transactions (a fake in the saga's unit tests).
    checkouts: CheckoutRecords
    accounts: AccountStatusCache | None = None
    # Which shop sells each product (a checkout splits its cart by shop); built from
    # `storefront` when not given.
    product_shops: ProductShopCache | None = None
    # What the showcase said was left of products it refused as sold out, for a moment:
    # checkouts asking for more are refused before anything is written (a flash sale's
    # losers). Built from `config.sold_out_hint_seconds` when not given; off without it.
    sold_out: SoldOutHints | None = None

    def __post_init__(self) -> None:
        if self.product_shops is None:
            self.product_shops = ProductShopCache(self.storefront)
        if self.sold_out is None:
            self.sold_out = SoldOutHints(getattr(self.config, "sold_out_hint_seconds", 0.0))


def build_context(config: Config, database: Database) -> Context:
    from .operations.checkout_records import CheckoutRecords  # operations import this module

    storefront = StorefrontClient(
        config.storefront_url,
        config.storefront_internal_token,
        timeout_seconds=config.storefront_timeout_seconds,
    )
    # Without the showcase's credential (a marketplace alone, as some tests build it)
    # there is nobody to ask: only the token's signature is checked.
    checks_accounts = config.account_status_cache_seconds > 0 and config.storefront_internal_token
    return Context(
        config=config,
        database=database,
        storefront=storefront,
        checkouts=CheckoutRecords(database),
        accounts=(AccountStatusCache(storefront, config.account_status_cache_seconds)
                  if checks_accounts else None),
        payments=make_provider(
            config.payment_provider,
            server_key=config.payment_server_key,
            base_url=config.payment_base_url,
            timeout_seconds=config.payment_timeout_seconds,
        ),
    )
