"""The loop every worker runs: do a step, sleep `WORKER_INTERVAL_SECONDS`, repeat; exit
cleanly on SIGTERM/SIGINT (finishing the step in hand); `--once` runs a single step."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

log = logging.getLogger("transaction.worker")


def run(name: str, step: Callable[[], int], *, interval: float, once: bool) -> int:
    stop = threading.Event()

    def _stop(signum, _frame):
        log.info("worker stopping", extra={"worker": name, "signal": signum})
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    log.info("worker started", extra={"worker": name, "interval": interval, "once": once})
    try:
        while not stop.is_set():
            try:
                handled = step()
                if handled:
                    log.info("worker step", extra={"worker": name, "handled": handled})
            except Exception:
                # A step failing (database restarting, a bug on one row) must not kill the
                # loop; the next step tries again.
                log.exception("worker step failed", extra={"worker": name})
                if once:
                    return 1
            if once:
                break
            stop.wait(interval)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("worker stopped", extra={"worker": name})
    return 0
