"""Safety net for stock held by reservations the marketplace never released.

The marketplace releases an unpaid order's reservation when it expires; if that call is
lost (marketplace down, outbox stuck), this loop returns the stock once a reservation is
past `expires_at + SWEEPER_GRACE_SECONDS`. Batches use FOR UPDATE SKIP LOCKED, so several
sweepers and concurrent commit/release calls never block each other.
"""

from __future__ import annotations

import logging
import signal
import threading

from servicekit.db import Database

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


def run(db: Database, config: Config, *, once: bool = False,
        stop: threading.Event | None = None) -> int:
    stop = stop or threading.Event()
    if not once:
        def _stop(signum, _frame):
            log.info("stopping", extra={"signal": signal.Signals(signum).name})
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    log.info(
        "reservation sweeper started",
        extra={"interval_s": config.sweeper_interval_seconds,
               "grace_s": config.sweeper_grace_seconds},
    )
    while True:
        try:
            released = sweep_once(db, config)
            if released:
                log.info("released overdue reservations", extra={"count": released})
        except Exception:  # keep the loop alive across database hiccups
            log.exception("sweep failed")
            if once:
                return 1
        if once or stop.wait(config.sweeper_interval_seconds):
            log.info("reservation sweeper stopped")
            return 0
