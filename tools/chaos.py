"""Fault injection against a real stack under a steady checkout-and-pay load.

While buyers check out and pay (through the gateway, distinct idempotency keys), the run
SIGKILLs each service's gunicorn master, one worker of each, the sandbox, and the
marketplace's worker process (all its loops at once); kills each background loop alone
inside its worker process (outbox relay, payment expiry, auto-complete, reservation sweeper,
sandbox notifier, webhook dispatcher: servicekit.workers.crash_loop, its supervisor
restarts it), restarting what does not come back by itself; stops and restarts Postgres;
and makes the showcase
answer slower than the marketplace's timeout (SIGSTOP/SIGCONT of its gunicorn processes:
the requests are accepted but not answered for a while). nginx is never touched.

When the load stops and the workers have caught up (outbox drained, notifications
delivered, abandoned checkouts cleaned; bounded wait), it asserts:

- no oversold stock: stock + active/committed reservation quantities == initial stock;
- no paid order lost or stuck: every transaction the sandbox settled belongs to an order
  that is paid (AWAITING_SHIPMENT or later) or refunded, with its reservation committed,
  and no order is paid without a settlement;
- no reservation left open past its expiry, nor open/committed against the wrong order
  state;
- refunds: every third paid order is cancelled before shipping, alternating a bank
  transfer (a manual refund; the buyer gives a bank account) and an e-wallet (a provider
  refund); each ends with refunds of exactly its total, no provider refund left pending;
- the ledger invariants (transaction_service.store.invariants.check: Σ = 0, escrow =
  paid-unsettled net of refunds, manual_refunds_payable = open manual refunds) and the
  audit log (every entry in the tree, the tree's checkpoint cosigned by the witness,
  signatures checked);
- every failed client request was answered with an application/problem+json document
  (a connection error counts as a failure: nginx stays up throughout, and answers an
  upstream that dies before its headers with its own 502 problem). One exception: an
  answer cut off after its status line and headers (the body shorter than its
  Content-Length or missing its last chunk) while a fault was killing web processes, since
  nginx forwards an upstream's headers as soon as it has them and, when the process dies
  mid-answer, can only close the connection. A cut outside such a fault stays a defect, as
  do a refused or unanswered request and a complete error answer that is not a problem;
- a retried Idempotency-Key never yields a second order: a buyer whose checkout got no
  answer, a 5xx or a 409 retries with the same key (as a client that lost the answer
  does), every 201 for one key names the same order, and every placed order of the run is
  the one recorded on exactly one key.
- returns (tools/chaos_returns.py): each refund asked for ends REFUNDED, exactly once and
  exactly the line's value; each received unit is back in stock exactly once.
- every committed webhook event reached a healthy receiver exactly once by webhook-id,
  signed (tools/chaos_webhooks.py; the webhook dispatcher loop is killed too).

    python -m tools.chaos --duration 60 [--concurrency 8] [--faults a,b] [--json PATH]
Exit status: 0 when every assertion holds.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import psycopg2  # noqa: E402
import requests  # noqa: E402

from devstack.stack import LOOPS, WORKERS  # noqa: E402
from servicekit.workers import crash_loop, wait_restarted  # noqa: E402
from tools import chaos_returns, chaos_webhooks, procs, shopper  # noqa: E402

PAID_STATES = ("AWAITING_SHIPMENT", "IN_TRANSIT", "DELIVERED", "COMPLETED")
SETTLED_AT_PROVIDER = ("settlement", "capture", "refund", "partial_refund")
PAY_RETRY_SECONDS = 15.0  # a buyer keeps trying to pay for this long while things are down
KEY_RETRY_SECONDS = 20.0  # ... and retries a checkout with the same Idempotency-Key this long
# Every CANCEL_EVERY-th paid order is cancelled before shipping, alternating bank transfer
# (a manual refund: the buyer gives a bank account) and e-wallet (a provider refund).
CANCEL_EVERY = 3
REFUND_ACCOUNT = {"bank": "bca", "account_number": "4455667788", "account_name": "Chaos Buyer"}
# Stack settings that make the run meaningful in a minute: the marketplace gives up on the
# showcase quickly (so "slow" is beyond its timeout), abandoned checkouts are reaped soon,
# and the sandbox retries notifications for longer than any outage we cause.
CHAOS_ENV = {
    "transaction": {
        "STOREFRONT_TIMEOUT_SECONDS": "2",
        "PAYMENT_TIMEOUT_SECONDS": "2",
        "ABANDONED_CHECKOUT_SECONDS": "8",
        "OUTBOX_MAX_BACKOFF_SECONDS": "2",
        # Midtrans retries a notification only a few times (a 502 five, a 503 four); what
        # an outage outlasts is found by asking the provider's status.
        "PAYMENT_RECONCILE_SECONDS": "2",
        **chaos_webhooks.CHAOS_WEBHOOK_ENV,
    },
}
CHAOS_RETRY_SCHEDULE = "1,1,2,2,3,5,8,13"


# ----------------------------------------------------------------------------- load


@dataclass
class Outcome:
    step: str  # checkout | pay | cancel | refund-account
    at: float  # seconds since the load started
    status: int | None  # None: no complete HTTP answer
    latency_ms: float
    defect: str | None = None  # set when a failure was not a problem document
    cut: str | None = None  # the answer was cut off after its headers (see answer_cut)

    @property
    def label(self) -> str:
        if self.status is not None:
            return str(self.status)
        return "cut" if self.cut else "no-answer"


def answer_cut(response: requests.Response | None, error: BaseException | None) -> str | None:
    """Why an answer was cut off after its status line and headers, or None when it was
    complete or never started.

    Behind nginx this is how a web process that dies mid-answer shows: nginx sends the
    upstream's status line and headers as soon as it has them, so when the upstream's
    connection closes before the body is complete it can no longer answer 502 and closes
    the client's connection short of the Content-Length (or without the last chunk).
    requests raises ChunkedEncodingError for both (only while reading a body, after the
    headers came); a body shorter than its Content-Length that was handed over anyway is
    the same thing. Anything else, a refused connection, a connection closed or reset
    before any status line, a timeout, is not a cut: nginx itself did not answer."""
    if isinstance(error, requests.exceptions.ChunkedEncodingError):
        return f"{type(error).__name__}: {error}"[:300]
    if response is None or error is not None:
        return None
    length = response.headers.get("Content-Length", "")
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    method = getattr(response.request, "method", None)
    if (length.isdigit() and encoding == "identity" and method != "HEAD"
            and response.status_code not in (204, 304)
            and len(response.content) < int(length)):
        return f"body of {len(response.content)} bytes, Content-Length {length}"
    return None


def judge_cuts(outcomes: list[Outcome], kill_windows: list[tuple[float, float]],
               margin: float = 1.0) -> None:
    """Mark as defects the cut answers that no fault explains: a cut is allowed only when
    it came (the request ended) inside a window, seconds since the load started, during
    which a fault was killing web processes (from its injection until its recovery
    finished), give or take `margin`."""
    for outcome in outcomes:
        if outcome.cut is None or outcome.defect is not None:
            continue
        ended = outcome.at + outcome.latency_ms / 1000
        if not any(start - margin <= ended <= stop + margin for start, stop in kill_windows):
            outcome.defect = f"answer cut off outside any fault killing web processes: " \
                             f"{outcome.cut}"


class CheckoutPayLoad:
    """`concurrency` buyers in threads, each looping checkout -> pay until stopped."""

    def __init__(self, gateway: str, tokens: list[str], product_id: str, concurrency: int,
                 content_id: str | None = None, other_shop_product_id: str | None = None):
        self.gateway = gateway
        # Every third buyer checks out a cart of two shops (one payment, two orders).
        self.other_shop_product_id = other_shop_product_id
        # Every other buyer buys from a creator's live: commissions join the load.
        self.content_id = content_id
        self.tokens = tokens
        self.product_id = product_id
        self.concurrency = concurrency
        self.outcomes: list[Outcome] = []
        self.placed: set[str] = set()
        self.paid: set[str] = set()  # the sandbox answered 200 to "pay" (provider ids)
        # Idempotency-Key -> checkouts answered (a checkout's id names all its orders)
        self.orders_by_key: dict[str, set[str]] = {}
        self.multi_shop_checkouts: set[str] = set()
        self.cancelled: set[str] = set()  # paid, then cancelled by the buyer (a refund)
        self.key_attempts: Counter = Counter()  # Idempotency-Key -> checkouts sent with it
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._t0 = 0.0

    def start(self) -> None:
        self._t0 = time.monotonic()
        for n in range(self.concurrency):
            thread = threading.Thread(target=self._buyer, args=(n,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _record(self, step: str, started: float, response: requests.Response | None,
                error: Exception | None) -> bool:
        """Record one request's outcome; False when no complete answer came."""
        latency = (time.monotonic() - started) * 1000
        cut = answer_cut(response, error)
        if cut is not None:  # judged after the run, against the faults' windows
            outcome = Outcome(step, started - self._t0, None, latency, cut=cut)
        elif response is None:
            outcome = Outcome(step, started - self._t0, None, latency,
                              f"no answer: {type(error).__name__}: {error}"[:300])
        else:
            defect = None
            if response.status_code >= 400:
                defect = shopper.problem_defect(response)
            outcome = Outcome(step, started - self._t0, response.status_code, latency, defect)
        with self._lock:
            self.outcomes.append(outcome)
        return outcome.status is not None

    def _call(self, step: str, fn: Callable[[], requests.Response]) -> requests.Response | None:
        """The complete answer, or None (none came, or it was cut: the buyer lost it)."""
        started = time.monotonic()
        try:
            response = fn()
        except requests.RequestException as exc:
            self._record(step, started, None, exc)
            return None
        return response if self._record(step, started, response, None) else None

    def _buyer(self, n: int) -> None:
        session = requests.Session()
        token = self.tokens[n % len(self.tokens)]
        sandbox = f"{self.gateway}/sandbox"
        key, key_deadline = None, 0.0
        content_id = self.content_id if n % 2 else None
        also = (self.other_shop_product_id,) if self.other_shop_product_id and n % 3 == 2 \
            else ()
        rounds, cancel, method = 0, False, "bank_transfer"
        while not self._stop.is_set():
            if key is None or time.monotonic() > key_deadline:
                # A new checkout: a retry of the same key must repeat the same request.
                key, key_deadline = str(uuid.uuid4()), time.monotonic() + KEY_RETRY_SECONDS
                rounds += 1
                cancel = rounds % CANCEL_EVERY == 0
                method = "ewallet" if cancel and (rounds // CANCEL_EVERY) % 2 else "bank_transfer"
            with self._lock:
                self.key_attempts[key] += 1
            response = self._call("checkout", lambda k=key, m=method: shopper.checkout(
                session, self.gateway, token, self.product_id, key=k, method=m,
                content_id=content_id, also=also))
            if response is None or response.status_code != 201:
                if response is not None and response.status_code < 500 and (
                        response.status_code != 409 or "idempotency" not in response.text):
                    key = None  # a definite answer: the next checkout is a new one
                self._stop.wait(0.2)  # a failing system is not hammered in a tight loop
                continue
            placed = response.json()
            # The provider's order_id; a paid order of it is cancelled when due.
            checkout_id = placed["checkout"]["id"]
            order_id = placed["orders"][0]["id"]
            with self._lock:
                self.placed.update(o["id"] for o in placed["orders"])
                self.orders_by_key.setdefault(key, set()).add(checkout_id)
                if len(placed["orders"]) > 1:
                    self.multi_shop_checkouts.add(checkout_id)
            key = None
            deadline = time.monotonic() + PAY_RETRY_SECONDS
            while time.monotonic() < deadline:
                paid = self._call("pay", lambda cid=checkout_id: shopper.pay(session, sandbox,
                                                                             cid))
                if paid is not None and paid.status_code == 200:
                    with self._lock:
                        self.paid.add(checkout_id)
                    if cancel:
                        self._cancel_paid(session, token, order_id, method)
                    break
                if paid is not None and paid.status_code in (404, 409):
                    break  # expired or cancelled: nothing more to pay
                time.sleep(0.3)

    def _cancel_paid(self, session: requests.Session, token: str, order_id: str,
                     method: str) -> None:
        """Wait for the payment to reach the order, cancel it (one Idempotency-Key across
        retries), and give a refund account when the refund is manual."""
        headers = {"Authorization": f"Bearer {token}"}
        url = f"{self.gateway}/api/v1/orders/{order_id}"
        deadline = time.monotonic() + PAY_RETRY_SECONDS
        while time.monotonic() < deadline and not self._stop.is_set():
            try:
                status = session.get(url, headers=headers, timeout=10)
            except requests.RequestException:
                status = None
            if status is not None and status.status_code == 200 \
                    and status.json()["status"] == "AWAITING_SHIPMENT":
                break
            time.sleep(0.3)
        else:
            return
        key = str(uuid.uuid4())
        while time.monotonic() < deadline + PAY_RETRY_SECONDS:
            answer = self._call("cancel", lambda: session.post(
                f"{url}/cancel", headers={**headers, "Idempotency-Key": key}, timeout=30))
            if answer is not None and answer.status_code == 200:
                with self._lock:
                    self.cancelled.add(order_id)
                break
            if answer is not None and 400 <= answer.status_code < 500 \
                    and answer.status_code not in (409, 429):
                return
            time.sleep(0.3)
        if method == "bank_transfer" and order_id in self.cancelled:
            for _ in range(20):
                answer = self._call("refund-account", lambda: session.post(
                    f"{url}/refund-account", headers=headers, json=REFUND_ACCOUNT, timeout=30))
                if answer is not None and answer.status_code < 500:
                    break
                time.sleep(0.3)

    def summary(self) -> dict:
        by_step: dict[str, Counter] = {}
        for o in self.outcomes:
            by_step.setdefault(o.step, Counter())[o.label] += 1
        return {step: dict(sorted(c.items())) for step, c in by_step.items()}


# ----------------------------------------------------------------------------- faults


@dataclass
class Fault:
    name: str
    description: str
    inject: Callable[[], None]
    recover: Callable[[], None]
    hold_seconds: float = 2.0
    # It kills processes that answer HTTP through the gateway: an answer they were writing
    # may reach the client cut off (see answer_cut), which is allowed during it.
    kills_web: bool = False


def _kill(pid: int | None, sig: int = signal.SIGKILL) -> None:
    if pid is None:
        raise RuntimeError("no such process")
    os.kill(pid, sig)


def _master(stack, name: str) -> int:
    pid = stack.processes[name].pid
    if pid is None:
        raise RuntimeError(f"{name} is not running")
    return pid


def _wait_workers(stack, name: str, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(procs.children(_master(stack, name))) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name}: gunicorn did not replace its killed worker")
        time.sleep(0.2)


def build_faults(stack) -> dict[str, Fault]:
    faults: dict[str, Fault] = {}
    for service in ("storefront", "transaction", "sandbox"):
        faults[f"kill-master:{service}"] = Fault(
            f"kill-master:{service}",
            f"SIGKILL the {service} gunicorn master (workers orphaned), then restart it",
            inject=lambda s=service: _kill(_master(stack, s)),
            recover=lambda s=service: stack.restart_process(s),
            kills_web=True,  # its orphaned workers die mid-request in the restart, too
        )
    for service in ("storefront", "transaction"):
        workers = stack.web_concurrency
        faults[f"kill-worker:{service}"] = Fault(
            f"kill-worker:{service}",
            f"SIGKILL one {service} gunicorn worker; the master must replace it",
            inject=lambda s=service: _kill(procs.children(_master(stack, s))[0]),
            recover=lambda s=service, w=workers: _wait_workers(stack, s, w),
            hold_seconds=0.5,
            kills_web=True,
        )
    for worker in WORKERS:
        # The whole worker process dies: every loop of the service at once.
        faults[f"kill-process:{worker}"] = Fault(
            f"kill-process:{worker}",
            f"SIGKILL the {worker} process (all its loops), then start it again",
            inject=lambda w=worker: _kill(_master(stack, w)),
            recover=lambda w=worker: stack.restart_process(w),
        )
    for loop, worker in LOOPS.items():
        # One background loop dies mid-step (an outbox row half-sent, a delivery claimed)
        # while its process and the other loops run on; what it was doing must be picked
        # up again after its supervisor restarts it.
        restarts: dict[str, int] = {}
        faults[f"kill-loop:{loop}"] = Fault(
            f"kill-loop:{loop}",
            f"kill the {loop} loop of {worker} (servicekit.workers.crash_loop); its "
            "supervisor restarts it",
            inject=lambda lp=loop, w=worker, r=restarts: r.__setitem__(
                lp, crash_loop(stack.control_dir(w), lp)),
            recover=lambda lp=loop, w=worker, r=restarts: wait_restarted(
                stack.control_dir(w), lp, r[lp]),
        )
    faults["restart:postgres"] = Fault(
        "restart:postgres",
        "stop Postgres (fast shutdown: sessions cut), start it again",
        inject=lambda: stack.stop_process("postgres"),
        recover=lambda: stack.start_process("postgres"),
        hold_seconds=3.0,
    )

    stopped: list[int] = []

    def freeze_storefront() -> None:
        stopped[:] = procs.tree(_master(stack, "storefront"))
        for pid in stopped:
            _kill(pid, signal.SIGSTOP)

    def thaw_storefront() -> None:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    faults["slow:storefront"] = Fault(
        "slow:storefront",
        "the showcase accepts but does not answer for longer than the marketplace's "
        "timeout (SIGSTOP its gunicorn processes, then SIGCONT)",
        inject=freeze_storefront,
        recover=thaw_storefront,
        hold_seconds=5.0,
    )
    return faults


ALL_FAULTS = (
    "kill-worker:transaction",
    "kill-loop:outbox-relay",
    "kill-master:storefront",
    "kill-loop:notifier",
    "kill-master:sandbox",
    "kill-loop:payment-expiry",
    "slow:storefront",
    "kill-loop:reservation-sweeper",
    "kill-worker:storefront",
    "kill-loop:auto-complete",
    "kill-loop:webhook-dispatcher",
    "kill-process:transaction-workers",
    "kill-master:transaction",
    "restart:postgres",
)


# ----------------------------------------------------------------------------- checks


def _pg_rows(dsn: str, query: str, params=()) -> list[tuple]:
    conn = psycopg2.connect(dsn, connect_timeout=5)
    try:
        with conn.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall()
    finally:
        conn.close()


def _sandbox_rows(stack, query: str, params=()) -> list[tuple]:
    path = stack.data_dir / "sandbox" / "sandbox.db"
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(query, params).fetchall()
    finally:
        conn.close()


def backlog(stack, since: datetime | None = None) -> dict[str, int]:
    """Work the background workers still owe; all zero once they have caught up.
    `since`: when the load stopped; every unpaid order must have been checked at the
    provider after it (a settlement whose notification was given up on is found then)."""
    tx = stack.dsn("transaction")
    unchecked = 0
    if since is not None:
        unchecked = _pg_rows(tx, """
            SELECT count(*) FROM payments p JOIN orders o ON o.id = p.order_id
             WHERE p.status = 'pending' AND o.status = 'UNPAID' AND o.placed_at IS NOT NULL
               AND coalesce(p.provider_checked_at, o.placed_at) < %s""", (since,))[0][0]
    return {
        "payments_unreconciled": unchecked,
        "outbox_pending": _pg_rows(tx, "SELECT count(*) FROM outbox WHERE processed_at IS NULL"
                                   )[0][0],
        "checkouts_unfinished": _pg_rows(
            tx, "SELECT count(*) FROM orders WHERE status = 'UNPAID' AND placed_at IS NULL")[0][0],
        "notifications_pending": _sandbox_rows(
            stack, "SELECT count(*) FROM deliveries WHERE state IN ('queued', 'sending')")[0][0],
    }


def wait_caught_up(stack, timeout: float, since: datetime | None = None,
                   webhooks_pending: Callable[[], int] | None = None
                   ) -> tuple[bool, dict[str, int], float]:
    started = time.monotonic()
    while True:
        try:
            left = backlog(stack, since)
            if webhooks_pending is not None:
                left["webhook_deliveries_pending"] = webhooks_pending()
        except (psycopg2.Error, sqlite3.Error) as exc:
            left = {"unreadable": 1, "error": str(exc)[:200]}
        if not any(v for k, v in left.items() if k != "error"):
            return True, left, time.monotonic() - started
        if time.monotonic() - started > timeout:
            return False, left, time.monotonic() - started
        time.sleep(0.5)


def _log_vkeys(stack) -> list | None:
    from servicekit import tlog

    path = getattr(stack, "audit_keys", {}).get("log_vkeys")
    if not path:
        return None
    return [tlog.Verifier.parse(line) for line in path.read_text().splitlines() if line]


def _wait_audit_log(tx: str, timeout: float = 45) -> str | None:
    """None once every entry is in the tree and the tree's checkpoint is cosigned."""
    deadline = time.monotonic() + timeout
    while True:
        (pending, size, cosigned), = _pg_rows(tx, """
            SELECT (SELECT count(*) FROM audit_log WHERE leaf_index IS NULL),
                   (SELECT coalesce(max(leaf_index) + 1, 0) FROM audit_log),
                   (SELECT coalesce(max(tree_size), -1) FROM audit_checkpoints
                     WHERE cosigned_note IS NOT NULL)""")
        if pending == 0 and cosigned == size:
            return None
        if time.monotonic() > deadline:
            return (f"{pending} entries without a position, tree of {size} leaves, largest "
                    f"cosigned checkpoint {cosigned} after {timeout:.0f}s")
        time.sleep(1)


def processed_twice(stack) -> list[str]:
    """Work done more than once (copies of a worker or service racing each other, or a
    crash between doing and recording): an outbox row delivered twice, a notification
    delivered (2xx) twice or a provider event raised twice, an order event (payment,
    expiry, completion, refund), ledger entry or payout audited twice, an order refunded
    twice at the provider."""
    found: list[str] = []
    tx = stack.dsn("transaction")
    for entity, entity_id, action, count in _pg_rows(tx, """
            SELECT entity, entity_id, action, count(*) FROM audit_log
             WHERE action <> 'outbox.conflict'
             GROUP BY entity, entity_id, action HAVING count(*) > 1 LIMIT 10"""):
        found.append(f"audit {action} for {entity} {entity_id} recorded {count} times")
    delivered: Counter = Counter()
    for log_path in sorted(stack.logs_dir.glob("transaction-workers*.log")):
        for line in log_path.read_text(errors="replace").splitlines():
            if '"outbox row delivered"' in line:
                try:
                    delivered[json.loads(line)["outbox_id"]] += 1
                except (ValueError, KeyError):
                    continue
    found += [f"outbox row {row_id} delivered {n} times" for row_id, n in delivered.items()
              if n > 1][:10]
    found += [f"notification delivery {delivery} answered 2xx {n} times" for delivery, n in
              _sandbox_rows(stack, """
                  SELECT delivery_id, count(*) FROM delivery_attempts
                   WHERE response_status BETWEEN 200 AND 299
                   GROUP BY delivery_id HAVING count(*) > 1 LIMIT 10""")]
    found += [f"sandbox raised {status} for {order_id} {n} times" for order_id, status, n in
              _sandbox_rows(stack, """
                  SELECT order_id, transaction_status, count(*) FROM deliveries
                   WHERE kind = 'event' GROUP BY order_id, transaction_status
                  HAVING count(*) > 1 LIMIT 10""")]
    # An order may be refunded in parts (one refund_key each): twice means one key twice.
    found += [f"refund {key} of {order_id} made {n} times at the provider"
              for order_id, key, n in _sandbox_rows(stack, """
                  SELECT t.order_id, r.refund_key, count(*) FROM refunds r JOIN transactions t
                   USING (transaction_id) GROUP BY t.order_id, r.refund_key
                  HAVING count(*) > 1 LIMIT 10""")]
    found += [f"refund {key} of order {order_id} recorded {n} times" for order_id, key, n in
              _pg_rows(tx, """
                  SELECT order_id::text, refund_key, count(*) FROM refunds
                   GROUP BY order_id, refund_key HAVING count(*) > 1 LIMIT 10""")]
    return found


def _stock_violations(sf: str, product_id: str, initial_stock: int) -> tuple[list[str], tuple]:
    (stock,), = _pg_rows(sf, "SELECT stock FROM products WHERE id = %s", (product_id,))
    held = dict(_pg_rows(sf, """
        SELECT r.status, coalesce(sum(ri.quantity), 0)::int FROM reservation_items ri
        JOIN reservations r USING (order_id) WHERE ri.product_id = %s GROUP BY r.status
        """, (product_id,)))
    active, committed = held.get("active", 0), held.get("committed", 0)
    if stock + active + committed != initial_stock:
        return [f"product {product_id}: stock {stock} + active {active} + committed "
                f"{committed} != initial {initial_stock}"], (stock, active, committed)
    return [], (stock, active, committed)


def verify(stack, product_id: str, initial_stock: int, load: CheckoutPayLoad | None,
           other_product_id: str | None = None) -> tuple[list[str], dict]:
    """Every post-chaos assertion; returns (violations, facts)."""
    from transaction_service.store import audit, invariants

    violations: list[str] = []
    sf, tx = stack.dsn("storefront"), stack.dsn("transaction")

    # Stock: nothing sold twice, nothing lost (in each shop of the multi-shop carts).
    found, (stock, active, committed) = _stock_violations(sf, product_id, initial_stock)
    violations += found
    if other_product_id:
        violations += _stock_violations(sf, other_product_id, initial_stock)[0]

    # Paid orders: the provider's view against ours.
    settled = {row[0]: row[1] for row in _sandbox_rows(
        stack, "SELECT order_id, status FROM transactions WHERE status IN (?, ?, ?, ?) "
               "OR settled_at IS NOT NULL", SETTLED_AT_PROVIDER)}
    orders = {row[0]: row[1:] for row in _pg_rows(tx, """
        SELECT o.id::text, o.status, o.placed_at IS NOT NULL, p.status
        FROM orders o LEFT JOIN payments p ON p.order_id = o.id""")}
    # The sandbox knows a payment by its provider order_id: the order's checkout.
    provider_id = dict(_pg_rows(tx, "SELECT id::text, coalesce(checkout_id, id)::text "
                                    "FROM orders"))
    by_provider: dict[str, list[str]] = {}
    for order_id, pid in provider_id.items():
        by_provider.setdefault(pid, []).append(order_id)
    reservations = {row[0]: row[1:] for row in _pg_rows(
        sf, "SELECT order_id::text, status, expires_at < now() FROM reservations")}
    for order_id, provider_status in sorted(
            (oid, st) for pid, st in settled.items() for oid in by_provider.get(pid, [pid])):
        status, _placed, payment = orders.get(order_id, (None, None, None))
        refunded = payment in ("refunded", "refund_pending", "partially_refunded")
        if status not in PAID_STATES and not refunded:
            violations.append(f"order {order_id} settled at the sandbox ({provider_status}) "
                              f"but is {status or 'missing'} (payment {payment})")
        elif status in PAID_STATES and reservations.get(order_id, ("none",))[0] != "committed":
            violations.append(f"paid order {order_id} has reservation "
                              f"{reservations.get(order_id, ('none',))[0]}, not committed")
    for order_id, (status, _placed, _payment) in orders.items():
        if status in PAID_STATES and provider_id.get(order_id) not in settled:
            violations.append(f"order {order_id} is {status} without a sandbox settlement")
    if load is not None:
        lost = sorted(load.paid - set(settled))
        if lost:
            violations.append(f"{len(lost)} order(s) the sandbox accepted payment for are not "
                              f"settled there: {lost[:5]}")

    # Reservations: none open past expiry; each agrees with its order.
    for order_id, (status, expired) in sorted(reservations.items()):
        order_status, placed, _payment = orders.get(order_id, (None, False, None))
        if status == "active" and expired:
            violations.append(f"reservation {order_id} is still active past its expiry")
        if status == "active" and not (order_status == "UNPAID" and placed):
            violations.append(f"reservation {order_id} is active but its order is "
                              f"{order_status or 'missing'}")
        if status == "committed" and order_status not in PAID_STATES:
            violations.append(f"reservation {order_id} is committed but its order is "
                              f"{order_status or 'missing'}")
    # Refunds: every cancelled paid order has its refund of exactly its total; provider
    # refunds all confirmed once the relay caught up; manual ones wait for the admin.
    refunds = {row[0]: row[1:] for row in _pg_rows(tx, """
        SELECT o.id::text, o.total, coalesce(sum(r.amount), 0)::bigint,
               count(*) FILTER (WHERE r.method = 'provider' AND r.status = 'pending')
        FROM orders o LEFT JOIN refunds r ON r.order_id = o.id AND r.status <> 'failed'
        WHERE o.status = 'CANCELLED' AND o.paid_at IS NOT NULL GROUP BY o.id, o.total""")}
    for order_id in sorted(load.cancelled if load is not None else ()):
        total, refunded_total, pending = refunds.get(order_id, (None, 0, 0))
        if total is None or refunded_total != total:
            violations.append(f"cancelled paid order {order_id}: refunds {refunded_total} "
                              f"!= total {total}")
        elif pending:
            violations.append(f"cancelled order {order_id}: provider refund still pending")
    conflicts = _pg_rows(tx, "SELECT id, kind, order_id::text FROM outbox "
                             "WHERE outcome = 'conflict' ORDER BY id LIMIT 10")
    violations += [f"outbox {kind} for {oid} ended in conflict (needs a human)"
                   for _id, kind, oid in conflicts]

    # Idempotency: a retried key never yields a second order.
    if load is not None:
        doubled = {k: v for k, v in load.orders_by_key.items() if len(v) > 1}
        violations += [f"Idempotency-Key {k} answered {len(v)} different orders: {sorted(v)}"
                       for k, v in sorted(doubled.items())[:10]]
    unkeyed = _pg_rows(tx, """
        SELECT o.id::text FROM orders o
         WHERE o.placed_at IS NOT NULL
           AND EXISTS (SELECT 1 FROM order_items i WHERE i.order_id = o.id
                        AND i.product_id = %s)
           AND NOT EXISTS (SELECT 1 FROM idempotency_keys k JOIN orders recorded
                            ON recorded.id = k.order_id
                           WHERE recorded.id = o.id OR recorded.checkout_id = o.checkout_id)
         LIMIT 10""", (product_id,))
    violations += [f"placed order {oid} is recorded on no Idempotency-Key" for oid, in unkeyed]

    # Money and audit: the audit-log worker (killed too) catches up: every entry gets a
    # position and the witness cosigns a checkpoint of the whole tree.
    audit_lag = _wait_audit_log(tx)
    if audit_lag:
        violations.append(f"audit log: {audit_lag}")
    log_keys = _log_vkeys(stack)
    conn = psycopg2.connect(tx, connect_timeout=5)
    try:
        with conn.cursor() as cursor:
            violations += [f"ledger: {v}" for v in invariants.check(cursor,
                                                                    log_verifiers=log_keys)]
            audit_result = audit.verify(cursor, log_verifiers=log_keys)
            audit_rows = audit.head(cursor).seq
    finally:
        conn.rollback()
        conn.close()
    if not audit_result.ok:
        violations.append(f"audit chain broken at seq {audit_result.first_broken_seq}")

    violations += [f"processed twice: {v}" for v in processed_twice(stack)]

    # Client answers.
    not_problems = [o for o in (load.outcomes if load else []) if o.defect]
    for o in not_problems[:10]:
        violations.append(f"{o.step} at {o.at:.1f}s answered "
                          f"{o.status or ('cut off' if o.cut else 'nothing')}: {o.defect}")
    if len(not_problems) > 10:
        violations.append(f"... and {len(not_problems) - 10} more non-problem failures")

    order_states = Counter(status for status, placed, _p in orders.values() if placed)
    (attributed_lines,), = _pg_rows(tx, """
        SELECT count(*) FROM order_items i JOIN orders o ON o.id = i.order_id
        WHERE i.product_id = %s AND i.creator_id IS NOT NULL AND o.placed_at IS NOT NULL
        """, (product_id,))
    facts = {
        "multi_shop_checkouts": len(load.multi_shop_checkouts) if load else 0,
        "attributed_lines": attributed_lines,
        "initial_stock": initial_stock,
        "stock": stock,
        "reserved_active": active,
        "reserved_committed": committed,
        "orders_by_status": dict(sorted(order_states.items())),
        "orders_abandoned_invisibly": sum(1 for _s, placed, _p in orders.values()
                                          if not placed),
        "sandbox_settled": len(settled),
        "audit_rows": audit_rows,
        "failed_requests_not_problem": len(not_problems),
        # Cut off after their headers while a fault killed the process writing them.
        "answers_cut_by_faults": sum(1 for o in (load.outcomes if load else [])
                                     if o.cut and not o.defect),
        "idempotency_keys_retried": sum(1 for n in (load.key_attempts.values() if load else ())
                                        if n > 1),
    }
    return violations, facts


# ----------------------------------------------------------------------------- the run


@dataclass
class ChaosReport:
    started_at: str
    duration_s: float
    concurrency: int
    faults: list[dict] = field(default_factory=list)
    requests: dict = field(default_factory=dict)
    caught_up: bool = False
    catch_up_seconds: float = 0.0
    backlog_left: dict = field(default_factory=dict)
    facts: dict = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.caught_up and not self.violations

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def chaos_stack_kwargs() -> dict:
    return {
        "env_overrides": CHAOS_ENV,
        "sandbox_retry_schedule": CHAOS_RETRY_SCHEDULE,
        "fast_unsafe_db": True,
    }


def run(stack, *, duration: float, fault_names: tuple[str, ...] = ALL_FAULTS,
        concurrency: int = 8, buyers: int = 4, catch_up_timeout: float = 60.0,
        log: Callable[[str], None] = print) -> ChaosReport:
    gateway = stack.urls.gateway
    seller = shopper.login(gateway, shopper.DEMO_SELLER)
    initial_stock = 100_000
    product = shopper.create_product(gateway, seller, stock=initial_stock, price=125000,
                                     title="Chaos batik", commission_rate_bps=1500)
    content_id = shopper.creator_content(gateway, [product["id"]], "chaos")
    tokens = [shopper.new_buyer(gateway, "chaos") for _ in range(buyers)]
    webhooks = chaos_webhooks.WebhookCheck(stack, seller)  # a healthy receiver of the shop
    returns = chaos_returns.ReturnLoad(stack, seller)  # returns and refunds beside the load
    faults = build_faults(stack)
    unknown = [n for n in fault_names if n not in faults]
    if unknown:
        raise SystemExit(f"unknown fault(s) {unknown}; known: {', '.join(faults)}")

    report = ChaosReport(datetime.now(UTC).isoformat(timespec="seconds"), duration, concurrency)
    other_seller = shopper.login(gateway, shopper.DEMO_SELLER_2)
    other_product = shopper.create_product(gateway, other_seller, stock=initial_stock,
                                           price=45000, title="Chaos tenun")
    load = CheckoutPayLoad(gateway, tokens, product["id"], concurrency, content_id,
                           other_shop_product_id=other_product["id"])
    t0 = time.monotonic()
    load.start()
    returns.start()
    # Faults spread evenly; the first after a short warm-up, the rest each in its own slot.
    warmup = min(3.0, duration / 10)
    slot = (duration - warmup) / max(len(fault_names), 1)
    for index, name in enumerate(fault_names):
        fault = faults[name]
        slot_start = t0 + warmup + index * slot
        time.sleep(max(0.0, slot_start - time.monotonic()))
        record = {"fault": name, "description": fault.description,
                  "at_s": round(time.monotonic() - t0, 2)}
        log(f"chaos: t={record['at_s']:5.1f}s {name}: {fault.description}")
        try:
            fault.inject()
            time.sleep(fault.hold_seconds)
            recover_start = time.monotonic()
            fault.recover()
            record["recovered_in_s"] = round(time.monotonic() - recover_start, 2)
        except Exception as exc:  # noqa: BLE001 - a fault that cannot be applied is reported
            record["error"] = f"{type(exc).__name__}: {exc}"[:300]
            report.violations.append(f"fault {name} could not be applied/recovered: "
                                     f"{record['error']}")
        record["until_s"] = round(time.monotonic() - t0, 2)
        report.faults.append(record)
    time.sleep(max(0.0, t0 + duration - time.monotonic()))
    load.stop()
    returns.stop()
    stopped_at = datetime.now(UTC)
    report.duration_s = round(time.monotonic() - t0, 2)
    judge_cuts(load.outcomes, [(f["at_s"], f["until_s"]) for f in report.faults
                               if faults[f["fault"]].kills_web])
    report.requests = load.summary()
    _attribute_failures(report, load)
    log(f"chaos: load stopped after {report.duration_s}s: {report.requests}")

    report.caught_up, report.backlog_left, waited = wait_caught_up(stack, catch_up_timeout,
                                                                   stopped_at,
                                                                   webhooks.pending)
    report.catch_up_seconds = round(waited, 2)
    if not report.caught_up:
        report.violations.append(f"workers did not catch up within {catch_up_timeout}s: "
                                 f"{report.backlog_left}")
    violations, report.facts = verify(stack, product["id"], initial_stock, load,
                                      other_product["id"])
    report.violations += violations
    report.facts["paid_orders_per_client"] = len(load.paid)
    report.facts["cancelled_paid_orders"] = len(load.cancelled)
    violations, facts = returns.verify()
    report.violations += violations
    report.facts.update(facts)
    violations, facts = webhooks.verify()
    report.violations += violations
    report.facts.update(facts)
    return report


def _attribute_failures(report: ChaosReport, load: CheckoutPayLoad) -> None:
    """Failed requests per fault: those that started between it and the next fault."""
    edges = [f["at_s"] for f in report.faults] + [float("inf")]
    for index, record in enumerate(report.faults):
        window = [o for o in load.outcomes
                  if edges[index] <= o.at < edges[index + 1]
                  and (o.status is None or o.status >= 400)]
        record["failures"] = dict(sorted(Counter(
            f"{o.step} {o.label}" for o in window).items()))


def render(report: ChaosReport) -> str:
    lines = [f"Etalase chaos run ({report.duration_s}s, {report.concurrency} buyers)", ""]
    for f in report.faults:
        extra = f"recovered in {f['recovered_in_s']}s" if "recovered_in_s" in f else f.get(
            "error", "")
        lines.append(f"  t={f['at_s']:5.1f}s  {f['fault']:<24} {extra:<20} "
                     f"failures until next fault: {f.get('failures') or 'none'}")
    lines += ["", f"requests (status: count): {json.dumps(report.requests)}",
              f"caught up: {report.caught_up} in {report.catch_up_seconds}s "
              f"{report.backlog_left}",
              f"facts: {json.dumps(report.facts)}", ""]
    if report.violations:
        lines.append("VIOLATIONS:")
        lines += [f"  ! {v}" for v in report.violations]
    lines.append(f"RESULT: {'PASS' if report.ok else 'FAIL'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.chaos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent buyers")
    parser.add_argument("--faults", default=",".join(ALL_FAULTS),
                        help=f"comma-separated, in order (default: {','.join(ALL_FAULTS)})")
    parser.add_argument("--json", type=Path, help="write the report as JSON here")
    parser.add_argument("--keep-data", action="store_true", help="keep the stack's data dir")
    args = parser.parse_args(argv)

    from tools.stacks import throwaway_stack

    print("chaos: starting a dedicated stack ...", flush=True)
    with throwaway_stack("etalase-chaos-", keep=args.keep_data, **chaos_stack_kwargs()) as stack:
        report = run(stack, duration=args.duration, concurrency=args.concurrency,
                     fault_names=tuple(n for n in args.faults.split(",") if n),
                     log=lambda m: print(m, flush=True))
    print(render(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
        print(f"JSON report: {args.json}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
