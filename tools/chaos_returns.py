"""The returns part of `make chaos` (DESIGN.md §12): while the faults run, a buyer of its
own keeps buying a product of its own (e-wallet, so the provider refunds), the seller ships
and delivers, the buyer opens a return of one of the two units, alternating refund_only
(approved: refunded) and return_and_refund (approved, shipped back, received: refunded and
the unit back in stock). Every step is retried through the faults (a move already made
answers 409 and counts as done).

After the run (workers caught up) it checks:
- every return whose refund was asked for is REFUNDED, with exactly one refund keyed
  `ret-{return id}` of exactly the returned line's value, confirmed by the provider;
- every received return's unit is back in stock exactly once: stock + active + committed
  reservations − units restocked by returns == the initial stock of the product;
- no order completed while a return of it was open, and none has two open returns.
"""

from __future__ import annotations

import threading
import time
import uuid

import psycopg2
import requests

from tools import shopper

STEP_SECONDS = 20.0  # how long one step is retried through the faults
PRICE = 50000
INITIAL_STOCK = 10_000


class ReturnLoad:
    def __init__(self, stack, seller_token: str):
        self.stack = stack
        self.gateway = stack.urls.gateway
        self.seller = seller_token
        self.product = shopper.create_product(self.gateway, seller_token, stock=INITIAL_STOCK,
                                              price=PRICE, title="Chaos returns batik")
        self.buyer = shopper.new_buyer(self.gateway, "chaos-returns")
        self.returns: dict[str, str] = {}  # return id -> type
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.session = requests.Session()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=STEP_SECONDS * 2)

    # -- the load --------------------------------------------------------------------------

    def _call(self, method: str, path: str, token: str, *, ok=(200,), done_if=(),
              key: str | None = None, **kw) -> dict | None:
        """Retry one request through the faults; the answer's body, or None when it never
        came (or was a definite refusal other than `done_if`)."""
        headers = {"Authorization": f"Bearer {token}"}
        if key:
            headers["Idempotency-Key"] = key
        deadline = time.monotonic() + STEP_SECONDS
        while time.monotonic() < deadline and not self._stop.is_set():
            try:
                response = self.session.request(method, self.gateway + path, headers=headers,
                                                timeout=15, **kw)
            except requests.RequestException:
                time.sleep(0.3)
                continue
            if response.status_code in ok:
                return response.json() if response.content else {}
            if response.status_code in done_if:
                return {}
            if response.status_code < 500 and response.status_code not in (409, 429):
                return None
            time.sleep(0.3)
        return None

    def _loop(self) -> None:
        round_ = 0
        while not self._stop.is_set():
            round_ += 1
            try:
                self._one(refund_only=bool(round_ % 2))
            except Exception:  # noqa: BLE001 - the load goes on; verify() judges the state
                time.sleep(0.5)

    def _wait_status(self, order_id: str, status: str) -> bool:
        deadline = time.monotonic() + STEP_SECONDS
        while time.monotonic() < deadline and not self._stop.is_set():
            order = self._call("GET", f"/api/v1/orders/{order_id}", self.buyer)
            if order and order.get("status") == status:
                return True
            time.sleep(0.3)
        return False

    def _one(self, *, refund_only: bool) -> None:
        order = self._call("POST", "/api/v1/checkout", self.buyer, ok=(201,),
                           key=str(uuid.uuid4()),
                           json={"items": [{"product_id": self.product["id"], "quantity": 2}],
                                 "shipping_address": shopper.ADDRESS,
                                 "payment_method": "ewallet"})
        if not order:
            return
        order_id = order["order"]["id"]
        paid = None
        for _ in range(20):
            try:
                paid = self.session.post(f"{self.gateway}/sandbox/v2/{order_id}/pay", timeout=15)
            except requests.RequestException:
                paid = None
            if paid is not None and paid.status_code in (200, 404, 409):
                break
            time.sleep(0.3)
        if not self._wait_status(order_id, "AWAITING_SHIPMENT"):
            return
        base = f"/api/v1/orders/{order_id}"
        if self._call("POST", f"{base}/ship", self.seller, done_if=(409,),
                      json={"tracking_number": "CHAOS-RET-1"}) is None:
            return
        if self._call("POST", f"{base}/deliver", self.seller, done_if=(409,)) is None:
            return
        ret = self._call("POST", f"{base}/returns", self.buyer, ok=(201,),
                         key=str(uuid.uuid4()),
                         json={"type": "refund_only" if refund_only else "return_and_refund",
                               "reason": "damaged",
                               "items": [{"product_id": self.product["id"], "quantity": 1}]})
        if not ret:
            return
        rid = ret["id"]
        self.returns[rid] = ret["type"]
        path = f"/api/v1/returns/{rid}"
        if self._call("POST", f"{path}/approve", self.seller, done_if=(409,)) is None:
            return
        if refund_only:
            return
        if self._call("POST", f"{path}/ship", self.buyer, done_if=(409,),
                      json={"tracking_number": "CHAOS-BACK-1"}) is None:
            return
        self._call("POST", f"{path}/received", self.seller, done_if=(409,))

    # -- after the run ---------------------------------------------------------------------

    def verify(self) -> tuple[list[str], dict]:
        violations: list[str] = []
        tx, sf = self.stack.dsn("transaction"), self.stack.dsn("storefront")
        rows = _rows(tx, """
            SELECT r.id::text, r.status, r.type, r.lines_value, r.refund_id IS NOT NULL,
                   (SELECT count(*) FROM refunds f WHERE f.return_id = r.id),
                   (SELECT coalesce(sum(f.amount), 0) FROM refunds f
                     WHERE f.return_id = r.id AND f.status = 'succeeded'),
                   (SELECT bool_and(f.refund_key = 'ret-' || r.id::text) FROM refunds f
                     WHERE f.return_id = r.id)
              FROM returns r WHERE r.id = ANY(%s::uuid[])""", (list(self.returns),))
        received = []
        for rid, status, type_, value, asked, count, succeeded, keyed in rows:
            if asked or status in ("REFUND_PENDING", "REFUNDED"):
                if status != "REFUNDED":
                    violations.append(f"return {rid}: refund asked for but it is {status}")
                if count != 1 or int(succeeded) != int(value) or not keyed:
                    violations.append(f"return {rid}: {count} refund(s), {succeeded} "
                                      f"succeeded, of value {value} (keyed: {keyed})")
            if type_ == "return_and_refund" and status in ("RECEIVED", "REFUND_PENDING",
                                                           "REFUNDED"):
                received.append(rid)
        restocked = dict(_rows(sf, """
            SELECT r.return_id::text, sum(i.quantity)::int FROM reservation_return_restocks r
              JOIN reservation_return_restock_items i USING (return_id)
             WHERE r.return_id = ANY(%s::uuid[]) GROUP BY 1""", (list(self.returns),)))
        for rid in received:
            if restocked.get(rid) != 1:
                violations.append(f"return {rid} was received but restocked "
                                  f"{restocked.get(rid, 0)} unit(s)")
        (stock,), = _rows(sf, "SELECT stock FROM products WHERE id = %s",
                          (self.product["id"],))
        held = dict(_rows(sf, """
            SELECT r.status, coalesce(sum(ri.quantity), 0)::int FROM reservation_items ri
            JOIN reservations r USING (order_id) WHERE ri.product_id = %s GROUP BY r.status
            """, (self.product["id"],)))
        back = sum(restocked.values())
        if stock + held.get("active", 0) + held.get("committed", 0) - back != INITIAL_STOCK:
            violations.append(f"returns product: stock {stock} + active {held.get('active', 0)}"
                              f" + committed {held.get('committed', 0)} - returned {back} "
                              f"!= initial {INITIAL_STOCK}")
        early = _rows(tx, """
            SELECT o.id::text FROM orders o JOIN returns r ON r.order_id = o.id
             WHERE o.status = 'COMPLETED' AND o.completed_at < coalesce(r.refunded_at,
                   r.closed_at, 'infinity') AND r.created_at < o.completed_at LIMIT 5""")
        violations += [f"order {oid} completed while its return was open" for oid, in early]
        facts = {"returns_opened": len(self.returns),
                 "returns_refunded": sum(1 for r in rows if r[1] == "REFUNDED"),
                 "returned_units_restocked": back}
        return violations, facts


def _rows(dsn: str, query: str, params=()) -> list[tuple]:
    conn = psycopg2.connect(dsn, connect_timeout=5)
    try:
        with conn.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall()
    finally:
        conn.close()
