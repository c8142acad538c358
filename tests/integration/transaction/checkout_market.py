"""The marketplace test harness: HTTP through the gateway, SQL as the marketplace role,
signed provider notifications, workers run once. Used by conftest.py's fixtures."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2
import psycopg2.extras
import requests

from devstack.util import wait_until as poll
from tools.shopper import ADDRESS, DEMO_PASSWORD

REPO_ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Market:
    stack: object
    gateway: str
    sandbox: str
    server_key: str
    dsn: str
    _tokens: dict = field(default_factory=dict)
    _local: threading.local = field(default_factory=threading.local)

    # -- HTTP ------------------------------------------------------------------------
    @property
    def http(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def request(self, method: str, path: str, *, token: str | None = None,
                key: str | None = None, headers: dict | None = None, **kwargs):
        merged = dict(headers or {})
        if token:
            merged["Authorization"] = f"Bearer {token}"
        if key is not None:
            merged["Idempotency-Key"] = key
        kwargs.setdefault("timeout", 60)
        return self.http.request(method, self.gateway + path, headers=merged, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    # -- people ----------------------------------------------------------------------
    def token(self, email: str, password: str = DEMO_PASSWORD) -> str:
        if email not in self._tokens:
            response = self.post("/api/v1/auth/login",
                                 json={"email": email, "password": password})
            assert response.status_code == 200, response.text
            self._tokens[email] = response.json()["access_token"]
        return self._tokens[email]

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
        email = f"buyer-{uuid.uuid4().hex[:10]}@etalase.test"
        response = self.post("/api/v1/auth/register", json={
            "email": email, "password": DEMO_PASSWORD, "name": "Other Buyer",
            "role": "buyer"})
        assert response.status_code == 201, response.text
        return self.token(email)

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
        response = self.http.get(
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
        return self.http.post(f"{self.sandbox}/v2/{order_id}/pay", json=switches or None,
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
    def notification(self, order: dict, status: str, *, gross: str | None = None,
                     transaction_id: str | None = None, code: str | None = None,
                     **extra) -> dict:
        gross = gross if gross is not None else f"{order['total']['amount']}.00"
        code = code or {"settlement": "200", "capture": "200", "refund": "200",
                        "pending": "201"}.get(status, "202")
        body = {
            "order_id": order["id"],
            "transaction_id": transaction_id
            or (order.get("payment") or {}).get("provider_transaction_id") or str(uuid.uuid4()),
            "transaction_status": status,
            "status_code": code,
            "gross_amount": gross,
            "payment_type": "bank_transfer",
            "fraud_status": "accept",
            "transaction_time": "2024-05-01 12:00:00",
            **extra,
        }
        body.setdefault("signature_key", self.sign(body))
        return body

    def sign(self, body: dict, key: str | None = None) -> str:
        material = (f"{body['order_id']}{body['status_code']}{body['gross_amount']}"
                    f"{key if key is not None else self.server_key}")
        return hashlib.sha512(material.encode()).hexdigest()

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

