"""The marketplace: orders with their price snapshot, payments and provider notifications,
refunds, the settlement ledger, payouts and the audit log. Only this service moves money."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from flask import Flask

from servicekit.app import build_app
from servicekit.db import Database

from .config import Config

MIGRATIONS_DIR = Path(__file__).parent / "store" / "migrations"


def make_database(config: Config) -> Database:
    return Database(
        config.database_url,
        min_connections=config.db_pool_min,
        max_connections=config.db_pool_max,
        service="transaction",
    )


def create_app(config: Config | dict | None = None) -> Flask:
    if config is None:
        config = Config()
    elif isinstance(config, dict):
        config = replace(Config(), **config)
    database = make_database(config)
    app, api = build_app(
        import_name=__name__,
        service="transaction",
        title="Etalase marketplace API",
        version="1.0.0",
        settings={"ETALASE": config},
        database=database,
        migrations_dir=MIGRATIONS_DIR,
        log_level=config.log_level,
        max_content_length=config.max_content_length,
        description="Checkout, orders, payments, seller balances, payouts and audit.",
        jwks_file=config.jwks_file,
    )
    from .api import register_blueprints
    from .api.context import EXTENSION
    from .context import build_context

    app.extensions[EXTENSION] = build_context(config, database)
    register_blueprints(app, api)
    return app
