"""The notifier: delivers queued notifications to the merchant and expires unpaid charges.

`python -m payment_sandbox workers` (the sandbox's loop table, servicekit.workers), or
`worker notifier [--once]`. Several notifiers may run at once: a delivery is claimed
with one atomic UPDATE (under SQLite's write lock) that stamps the claimant and a lease, so
two processes never send the same delivery concurrently; a claim whose lease ran out (the
notifier died mid-send) becomes claimable again. The outcome is recorded only by the
notifier still holding the claim.

Deliveries run concurrently on up to SANDBOX_NOTIFIER_CONCURRENCY threads (one slow
merchant answer must not hold back every other order's notification), never two at once for
the same order (the oldest due delivery goes first).

Delivery: POST the JSON body with an explicit timeout and an `X-Request-ID` per delivery.
2xx = delivered. Otherwise Midtrans' retry rules decide (domain.transactions.retries_allowed):
500 is retried once, 503 four times, 400/404 twice, 301/302/303 never, 307/308 are followed
(same POST, up to 5 redirects), no answer and every other status five times; each retry
after the next delay of `SANDBOX_RETRY_SCHEDULE` (a shorter schedule caps the retries).
When the retries are used up the delivery is `failed` (a person can
`POST /v2/{order_id}/notifications/resend`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urljoin

import requests

from servicekit.workers import Loop

from ..config import Config
from ..domain.transactions import (
    MAX_REDIRECTS,
    is_delivered,
    is_followed_redirect,
    next_retry_delay,
)
from ..provider import Provider
from ..store import Store
from ..store import repository as repo

log = logging.getLogger("payment_sandbox.notifier")

USER_AGENT = "etalase-payment-sandbox/1.0"
LEASE_MARGIN_SECONDS = 5.0  # a send never outlives its timeouts; same-host clocks
SWEEP_INTERVAL_SECONDS = 1.0  # expiry sweeps, however short the delivery poll


class Notifier:
    def __init__(self, config: Config, store: Store | None = None):
        self.config = config
        self.store = store or Store(config.db_path)
        self.provider = Provider(self.store, config)
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self.stop_event = threading.Event()
        self._local = threading.local()  # one HTTP session per sending thread
        self.timeout = (config.notify_connect_timeout, config.notify_read_timeout)
        self.lease = config.notify_connect_timeout + config.notify_read_timeout \
            + LEASE_MARGIN_SECONDS

    @property
    def session(self) -> requests.Session:
        """This thread's session: keep-alive to the merchant without sharing a Session (and
        its connection pool) between the sending threads."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()  # no retries: the schedule
            # The merchant URL is configured explicitly; no proxy/.netrc lookups per send.
            session.trust_env = False
        return session

    def stop(self, *_args) -> None:
        self.stop_event.set()

    # One pass ---------------------------------------------------------------------------

    def run_once(self) -> int:
        """Expire overdue charges, then deliver everything due now. Returns deliveries
        attempted."""
        self._expire()
        return self._deliver_due(until_idle=True)

    def run_forever(self, stop: threading.Event | None = None) -> None:
        """Deliver until `stop` (or `self.stop()`) is set."""
        if stop is not None:
            self.stop_event = stop
        log.info(
            "notifier started",
            extra={"notifier": self.name, "url": self.config.notification_url,
                   "retry_schedule": list(self.config.retry_schedule),
                   "concurrency": self.config.notifier_concurrency},
        )
        self._deliver_due(until_idle=False)
        log.info("notifier stopped", extra={"notifier": self.name})

    # Steps ------------------------------------------------------------------------------

    def _expire(self) -> None:
        try:
            expired = self.provider.expire_due()
            if expired:
                log.info("expired pending transactions", extra={"count": expired})
        except Exception:  # a locked or missing database must not kill the loop
            log.exception("expiry sweep failed")

    def _deliver_due(self, *, until_idle: bool) -> int:
        """Claim due deliveries while a sending slot is free and hand each to a thread.

        `until_idle`: return once nothing is due and every send has finished (run_once);
        otherwise poll every SANDBOX_NOTIFIER_INTERVAL (and sweep expiries) until stopped.
        """
        concurrency = self.config.notifier_concurrency
        slots = threading.BoundedSemaphore(concurrency)
        done = threading.Semaphore(0)  # released by each finished send
        finished = 0  # sends seen finishing (run_once only)
        attempted = 0
        sweep_every = max(SWEEP_INTERVAL_SECONDS, self.config.notifier_interval)
        next_sweep = time.monotonic() + sweep_every

        def send(delivery) -> None:
            try:
                self._deliver(delivery)
            except Exception:
                log.exception("delivery failed unexpectedly", extra={"id": delivery["id"]})
            finally:
                done.release()
                slots.release()

        with ThreadPoolExecutor(concurrency, thread_name_prefix="deliver") as pool:
            while not self.stop_event.is_set():
                if not until_idle and time.monotonic() >= next_sweep:
                    self._expire()
                    next_sweep = time.monotonic() + sweep_every
                if not slots.acquire(timeout=self.config.notifier_interval):
                    continue  # every slot busy sending
                delivery = self._claim()
                if delivery is None:
                    slots.release()
                    if until_idle and finished == attempted:
                        break  # nothing due and nothing in flight
                    if until_idle:
                        # A send in flight may unblock its order's next delivery.
                        done.acquire()
                        finished += 1
                    else:
                        self.stop_event.wait(self.config.notifier_interval)
                    continue
                attempted += 1
                pool.submit(send, delivery)
        # Leaving the with-block waits for the sends in flight (each has a timeout).
        return attempted

    def _claim(self):
        now = time.time()
        try:
            with self.store.write() as conn:
                return repo.claim_next_delivery(
                    conn, notifier=self.name, now=now, lease_until=now + self.lease
                )
        except Exception:
            log.exception("could not claim a delivery")
            return None

    def _deliver(self, delivery) -> None:
        request_id = delivery["request_id"]
        attempt = delivery["attempts"]
        started = time.time()
        status: int | None = None
        error: str | None = None
        try:
            url = self.config.notification_url
            for _hop in range(MAX_REDIRECTS + 1):
                response = self.session.post(
                    url,
                    data=delivery["payload"].encode(),  # stored as the JSON text to send
                    headers={
                        "Content-Type": "application/json",
                        "Accept": "application/json",
                        "User-Agent": USER_AGENT,
                        "X-Request-ID": request_id,
                    },
                    timeout=self.timeout,
                    allow_redirects=False,
                )
                location = response.headers.get("Location")
                if not (is_followed_redirect(response.status_code) and location):
                    break
                url = urljoin(url, location)  # 307/308: the same POST, elsewhere
            status = response.status_code
            if not is_delivered(status):
                error = f"HTTP {status}: {response.text[:200]}"
        except requests.RequestException as exc:
            error = f"{exc.__class__.__name__}: {str(exc)[:200]}"
        finished = time.time()
        duration_ms = round((finished - started) * 1000, 2)

        if is_delivered(status):
            state, next_at = "delivered", None
        else:
            delay = next_retry_delay(self.config.retry_schedule, attempt, status)
            state, next_at = ("failed", None) if delay is None else ("queued", finished + delay)

        with self.store.write() as conn:
            repo.record_attempt(
                conn, delivery_id=delivery["id"], attempt=attempt, notifier=self.name,
                started_at=started, duration_ms=duration_ms, response_status=status,
                error=error,
            )
            still_ours = repo.finish_delivery(
                conn, delivery_id=delivery["id"], notifier=self.name, state=state,
                next_attempt_at=next_at, response_status=status, error=error, now=finished,
            )
        log_fields = {
            "request_id": request_id,
            "delivery_id": delivery["id"],
            "order_id": delivery["order_id"],
            "transaction_status": delivery["transaction_status"],
            "attempt": attempt,
            "response_status": status,
            "duration_ms": duration_ms,
            "outcome": state if still_ours else "lease-lost",
        }
        if state == "delivered":
            log.info("notification delivered", extra=log_fields)
        elif state == "failed":
            log.error("notification failed permanently", extra={**log_fields, "error": error})
        else:
            log.warning("notification attempt failed",
                        extra={**log_fields, "error": error, "retry_in_s": next_at - finished})


def loops(config: Config) -> list[Loop]:
    """The sandbox's loop table (`python -m payment_sandbox workers`): the notifier, whose
    single pass (`--once`) expires overdue charges and delivers everything due."""
    notifier = Notifier(config)
    notifier.store.initialize()
    return [Loop("notifier", notifier.run_once, interval=config.notifier_interval,
                 run=notifier.run_forever)]
