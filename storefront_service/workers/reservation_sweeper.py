"""Safety net for stock held by reservations the marketplace never released.

The marketplace releases an unpaid order's reservation when it expires; if that call is
lost (marketplace down, outbox stuck), this loop returns the stock once a reservation is
past `expires_at + SWEEPER_GRACE_SECONDS`. Batches use FOR UPDATE SKIP LOCKED, so several
sweepers and concurrent commit/release calls never block each other.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace

from servicekit.db import Database
from servicekit.workers import Loop, repeat

from ..config import Config
from ..store import reservations

log = logging.getLogger(__name__)


def sweep_once(db: Database, config: Config) -> int:
    """Release everything overdue now, batch by batch; returns how many were released."""
    total = 0
    while True:
        released = reservations.sweep_expired(
            db, grace_seconds=config.sweeper_grace_seconds, batch_size=config.sweeper_batch_size
        )
        total += released
        if released < config.sweeper_batch_size:
            return total


def loops(config: Config, database: Database) -> list[Loop]:
    """The showcase's loop table (`python -m storefront_service workers`)."""
    loop = Loop("reservation-sweeper", lambda: sweep_once(database, config),
                interval=config.sweeper_interval_seconds)

    def run(stop: threading.Event) -> None:
        log.info(
            "reservation sweeper started",
            extra={"interval_s": config.sweeper_interval_seconds,
                   "grace_s": config.sweeper_grace_seconds},
        )
        repeat(loop, stop)
        log.info("reservation sweeper stopped")

    return [replace(loop, run=run)]
