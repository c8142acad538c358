"""The marketplace test harness: HTTP through the gateway (the suites' ApiClient), SQL as
the marketplace role, signed provider notifications, workers run once. Used by
conftest.py's fixtures."""

from __future__ import annotations

import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg2
import psycopg2.extras
from api_client import ApiClient, notification_signature, signed_notification

from devstack.util import wait_until as poll
from tools.shopper import ADDRESS

REPO_ROOT = Path(__file__).resolve().parents[3]


class Market(ApiClient):
    """The gateway of a stack (an ApiClient), the sandbox, and the marketplace's database."""

    def __init__(self, stack):
        super().__init__(stack.urls.gateway, account_prefix="market")
        self.stack = stack
        self.gateway = stack.urls.gateway
        self.sandbox = stack.urls.sandbox
        self.server_key = stack.secrets["sandbox_server_key"]
        self.dsn = stack.dsn("transaction")

    # -- people ----------------------------------------------------------------------
    @property
    def buyer(self) -> str:
        return self.token("buyer@etalase.test")

    @property
    def seller(self) -> str:
        return self.token("seller@etalase.test")

    @property
    def other_seller(self) -> str:
        return self.token("seller2@etalase.test")

    @property
    def admin(self) -> str:
        return self.token("admin@etalase.test")

    def new_buyer(self) -> str:
        return self.register("buyer", "Other Buyer")[1]

    # -- catalogue -------------------------------------------------------------------
    def product(self, *, stock: int = 50, price: int = 150000, token: str | None = None) -> str:
        response = self.post("/api/v1/products", token=token or self.seller, json={
            "title": f"Test batik {uuid.uuid4().hex[:8]}", "price": price, "stock": stock})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def stock(self, product_id: str) -> int:
        response = self.get(f"/api/v1/products/{product_id}")
        assert response.status_code == 200, response.text
        return response.json()["stock"]

    def reservation(self, order_id: str) -> dict | None:
        """The showcase's stock reservation for an order, read from its internal API
        (straight to the storefront: the gateway never routes /internal/); None if none."""
        response = self.session.get(
            f"{self.stack.urls.storefront}/internal/reservations/{order_id}",
            headers={"X-Internal-Token": self.stack.secrets["internal_token"]}, timeout=10)
        if response.status_code == 404:
            return None
        assert response.status_code == 200, response.text
        return response.json()

    # -- marketplace -----------------------------------------------------------------
    def checkout(self, items, *, token: str | None = None, key: str | None = None,
                 method: str = "bank_transfer", address: dict | None = None):
        if isinstance(items, str):
            items = [{"product_id": items, "quantity": 1}]
        return self.post(
            "/api/v1/checkout", token=token or self.buyer,
            key=key if key is not None else str(uuid.uuid4()),
            json={"items": items, "shipping_address": address or ADDRESS,
                  "payment_method": method},
        )

    def placed(self, product_id: str | None = None, **kwargs) -> dict:
        """A fresh UNPAID order (checkout answered 201); returns the order document."""
        response = self.checkout(product_id or self.product(), **kwargs)
        assert response.status_code == 201, response.text
        return response.json()["order"]

    def order(self, order_id: str, token: str | None = None) -> dict:
        response = self.get(f"/api/v1/orders/{order_id}", token=token or self.buyer)
        assert response.status_code == 200, response.text
        return response.json()

    def pay(self, order_id: str, **switches):
        """The sandbox plays the customer paying (its notifier then tells the marketplace);
        switches: deliver_times, stale_pending_after."""
        return self.session.post(f"{self.sandbox}/v2/{order_id}/pay", json=switches or None,
                              timeout=30)

    def wait_for(self, predicate, timeout: float = 20.0, interval: float = 0.2):
        value = poll(predicate, timeout, interval)
        if not value:
            raise AssertionError(f"condition not met within {timeout}s")
        return value

    def wait_status(self, order_id: str, status: str, timeout: float = 20.0) -> dict:
        def check():
            row = self.one("SELECT status FROM orders WHERE id = %s", (order_id,))
            return row and row["status"] == status
        self.wait_for(check, timeout)
        return self.order(order_id)

    def paid(self, product_id: str | None = None, **kwargs) -> dict:
        order = self.placed(product_id, **kwargs)
        assert self.pay(order["id"]).status_code == 200
        return self.wait_status(order["id"], "AWAITING_SHIPMENT")

    # -- provider notifications ------------------------------------------------------
    def notification(self, order: dict, status: str, **kwargs) -> dict:
        """A signed provider notification (api_client.signed_notification's kwargs)."""
        return signed_notification(order, status, self.server_key, **kwargs)

    def sign(self, body: dict, key: str | None = None) -> str:
        return notification_signature(body, key if key is not None else self.server_key)

    def notify(self, body, provider: str = "sandbox"):
        return self.post(f"/api/v1/payments/notifications/{provider}", json=body)

    # -- database (the marketplace's own, as its role) -------------------------------
    def rows(self, query: str, params=()) -> list[dict]:
        with psycopg2.connect(self.dsn) as conn:
            with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cursor:
                cursor.execute(query, params)
                result = cursor.fetchall() if cursor.description else []
        conn.close()
        return result

    def one(self, query: str, params=()) -> dict | None:
        result = self.rows(query, params)
        return result[0] if result else None

    def execute(self, query: str, params=()) -> None:
        with psycopg2.connect(self.dsn) as conn:
            with conn.cursor() as cursor:
                cursor.execute(query, params)
        conn.close()

    def outbox(self, order_id: str) -> list[dict]:
        return self.rows("SELECT * FROM outbox WHERE order_id = %s ORDER BY id", (order_id,))

    def ledger(self, order_id: str) -> list[dict]:
        """The order's entries: by its id, or "<order id>:<refund id>" for its refunds."""
        return self.rows(
            "SELECT kind, reference FROM journal_entries WHERE reference = %s "
            "OR reference LIKE %s ORDER BY kind, reference",
            (order_id, f"{order_id}:%"),
        )

    def wait_outbox_done(self, order_id: str, kind: str, timeout: float = 20.0) -> dict:
        def check():
            rows = [r for r in self.outbox(order_id) if r["kind"] == kind]
            return rows and all(r["processed_at"] for r in rows) and rows[-1]
        return self.wait_for(check, timeout)

    # -- workers ---------------------------------------------------------------------
    def run_worker(self, name: str, extra_env: dict | None = None, *,
                   package: str = "transaction_service",
                   env_of: str | None = None) -> subprocess.CompletedProcess:
        env = self.stack.env(env_of or name)
        env.update(extra_env or {})
        result = subprocess.run(
            [sys.executable, "-m", package, "worker", name, "--once"],
            env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result

    def concurrently(self, calls, workers: int = 32) -> list:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda call: call(), calls))

