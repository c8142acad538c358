"""The suites' one HTTP client for our APIs: `ApiClient`.

A base URL (the gateway, or a service's own port) plus requests, with what every suite
needs: a bearer token, an Idempotency-Key, default headers (X-Internal-Token), an expected
status, logins cached per account and fresh accounts. The suites' harnesses build on it:
`Market` (tests/integration/transaction/checkout_market.py) and the security suite's
`Client` (tests/security/security_client.py) are ApiClients with helpers of their own; the
storefront's targets and the browser tests' `api` are plain ones. Only the tools
(tools/shopper.py: chaos, bench) call the API their own way.

Provider notifications are signed once, here (`signed_notification`), as DESIGN.md §7 says.
"""

from __future__ import annotations

import hashlib
import threading
import uuid

import requests

from tools.shopper import DEMO_PASSWORD

STATUS_CODES = {"settlement": "200", "capture": "200", "refund": "200", "pending": "201"}


class ApiClient:
    """requests against one base URL; one session per thread (sessions are not
    thread-safe, and the concurrency tests call from many threads)."""

    def __init__(self, base_url: str, headers: dict | None = None, *, timeout: float = 60,
                 auth_url: str | None = None, account_prefix: str = "test"):
        """auth_url: where logins and registrations go when not `base_url` (a hardened
        gateway allows only a few logins: those go straight to the storefront);
        account_prefix: starts the emails of `register`'s accounts (whose test made it)."""
        self.base_url = base_url.rstrip("/")
        self.account_prefix = account_prefix
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.auth_url = (auth_url or base_url).rstrip("/")
        self._tokens: dict[str, str] = {}
        self._local = threading.local()

    @property
    def session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def request(self, method: str, path: str, *, token: str | None = None,
                key: str | None = None, headers: dict | None = None,
                expect: int | tuple[int, ...] | None = None, base_url: str | None = None,
                **kwargs) -> requests.Response:
        """`path` under `base_url` (default this client's); `expect`: the status (or one
        of the statuses) the call must answer, for arranging data."""
        merged = {**self.headers, **(headers or {})}
        if token:
            merged["Authorization"] = f"Bearer {token}"
        if key is not None:
            merged["Idempotency-Key"] = key
        kwargs.setdefault("timeout", self.timeout)
        response = self.session.request(method, (base_url or self.base_url) + path,
                                        headers=merged, **kwargs)
        if expect is not None:
            expected = expect if isinstance(expect, tuple) else (expect,)
            assert response.status_code in expected, (
                f"{method} {path} -> {response.status_code}: {response.text[:500]}")
        return response

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    # -- people ----------------------------------------------------------------------
    def login(self, email: str, password: str = DEMO_PASSWORD, **kwargs) -> str:
        """A fresh access token (asserts the login succeeds)."""
        kwargs.setdefault("base_url", self.auth_url)
        response = self.post("/api/v1/auth/login", expect=200,
                             json={"email": email, "password": password}, **kwargs)
        return response.json()["access_token"]

    def token(self, email: str, password: str = DEMO_PASSWORD) -> str:
        """The account's token, logged in once per client."""
        if email not in self._tokens:
            self._tokens[email] = self.login(email, password)
        return self._tokens[email]

    def register(self, role: str = "buyer", name: str = "Test Account", *,
                 password: str = DEMO_PASSWORD) -> tuple[str, str]:
        """A fresh account (no collision with other tests): (email, token)."""
        email = f"{self.account_prefix}-{role}-{uuid.uuid4().hex[:12]}@etalase.test"
        self.post("/api/v1/auth/register", base_url=self.auth_url, expect=201, json={
            "email": email, "password": password, "name": name, "role": role})
        return email, self.token(email, password)

    def clear_cart(self, token: str) -> None:
        cart = self.get("/api/v1/cart", token=token, expect=200).json()
        for item in cart["items"]:
            self.delete(f"/api/v1/cart/items/{item['product_id']}", token=token,
                        expect=(200, 404))


def notification_signature(body: dict, server_key: str) -> str:
    """DESIGN.md §7: SHA512(order_id + status_code + gross_amount + server key)."""
    material = f"{body['order_id']}{body['status_code']}{body['gross_amount']}{server_key}"
    return hashlib.sha512(material.encode()).hexdigest()


def signed_notification(order: dict, status: str, server_key: str, *,
                        gross: str | None = None, transaction_id: str | None = None,
                        code: str | None = None, **extra) -> dict:
    """A Midtrans-style notification for `order` (an order document of our API), signed
    with `server_key` unless `extra` brings its own signature_key."""
    body = {
        "order_id": order["id"],
        "transaction_id": transaction_id
        or (order.get("payment") or {}).get("provider_transaction_id") or str(uuid.uuid4()),
        "transaction_status": status,
        "status_code": code or STATUS_CODES.get(status, "202"),
        "gross_amount": gross if gross is not None else f"{order['total']['amount']}.00",
        "payment_type": "bank_transfer",
        "fraud_status": "accept",
        "transaction_time": "2024-05-01 12:00:00",
        **extra,
    }
    body.setdefault("signature_key", notification_signature(body, server_key))
    return body
