"""Everything a showcase request needs, built once per app from Config (the marketplace's
`transaction_service/context.py` is the same idea)."""

from __future__ import annotations

from dataclasses import dataclass

from servicekit.db import Database

from .config import Config
from .identity import TokenIssuer


@dataclass
class Context:
    config: Config
    database: Database
    tokens: TokenIssuer


def build_context(config: Config, database: Database) -> Context:
    return Context(
        config=config,
        database=database,
        tokens=TokenIssuer(config.jwt_private_key_file, config.jwt_kid, config.jwt_ttl_seconds),
    )
