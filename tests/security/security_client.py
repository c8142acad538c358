"""Helpers for the security suite: an HTTP client for a stack (through its gateway or
straight to a service port), token forgery, database snapshots and problem checks."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import jwt
import psycopg2
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tools.shopper import ADDRESS, DEMO_PASSWORD

BUYER = "buyer@etalase.test"
SELLER = "seller@etalase.test"
SELLER2 = "seller2@etalase.test"
PROBLEM = "application/problem+json"
# The sandbox announces every new charge with a `pending` notification, delivered in the
# background (possibly while a later test runs): not a change any test provoked.
COUNT_FILTERS = {"payment_notifications": "WHERE transaction_status <> 'pending'"}


def assert_problem(resp, status: int | tuple[int, ...]) -> dict:
    """An RFC 9457 problem with the expected status (one of them, for a tuple)."""
    statuses = status if isinstance(status, tuple) else (status,)
    assert resp.status_code in statuses, (resp.status_code, resp.text[:500])
    content_type = resp.headers.get("Content-Type", "")
    assert content_type.startswith(PROBLEM), (content_type, resp.text[:300])
    body = resp.json()
    assert body["status"] == resp.status_code
    assert body["title"] and body["type"].startswith("https://")
    return body


def assert_unchanged(before: dict, after: dict) -> None:
    """Two snapshots (e.g. `Client.counts()`) are equal; the message names what moved."""
    moved = {k: (before.get(k), after.get(k)) for k in before.keys() | after.keys()
             if before.get(k) != after.get(k)}
    assert not moved, f"changed (before, after): {moved}"


def raw_request(base_url: str, method: str, path: str, *, body: bytes | None = None,
                headers: dict | None = None, source: str | None = None):
    """A request with the path sent exactly as written (requests would normalise it);
    returns (status, headers, body bytes)."""
    host = base_url.removeprefix("http://")
    conn = http.client.HTTPConnection(
        host, timeout=10, source_address=(source, 0) if source else None
    )
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


# ----------------------------------------------------------------------------- keys


@dataclass
class SigningKey:
    """An RSA key pair of our own, publishable in a JWKS."""

    kid: str
    private_pem: bytes
    public_jwk: dict

    @classmethod
    def generate(cls, kid: str | None = None) -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        kid = kid or f"test-{uuid.uuid4().hex[:8]}"
        jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return cls(kid, pem, jwk)

    def sign(self, claims: dict, *, kid: str | None = None) -> str:
        return jwt.encode(claims, self.private_pem, algorithm="RS256",
                          headers={"kid": kid or self.kid})


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(header: dict, claims: dict, signature: bytes = b"") -> str:
    """A token assembled by hand (alg none, forged HS256, ...)."""
    head = b64url(json.dumps(header, separators=(",", ":")).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    return f"{head}.{body}.{b64url(signature)}"


def hs256_with_public_key(claims: dict, kid: str, public_pem: bytes) -> str:
    """The classic algorithm-confusion token: HMAC keyed with the RSA public key."""
    import hmac

    header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    head = b64url(json.dumps(header, separators=(",", ":")).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    mac = hmac.new(public_pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(mac)}"


def write_jwks(path: Path, keys: list[dict]) -> None:
    """Replace the JWKS file atomically (the services reload it when it changes)."""
    tmp = path.with_suffix(".json.rotate")
    tmp.write_text(json.dumps({"keys": keys}, indent=2) + "\n")
    tmp.replace(path)


# ----------------------------------------------------------------------------- client


@dataclass
class Client:
    """One stack seen from outside: the gateway for the public API, the service ports
    for what the gateway never routes, and the services' own databases to prove that
    nothing changed."""

    stack: object
    # Where logins and registrations go: the gateway, or (for a stack whose gateway has a
    # tiny login allowance) straight to the storefront.
    auth_via: str = "gateway"
    _tokens: dict = field(default_factory=dict)
    http: requests.Session = field(default_factory=requests.Session)

    @property
    def gateway(self) -> str:
        return self.stack.urls.gateway

    def url(self, path: str, service: str = "gateway") -> str:
        return self.stack.urls[service] + path

    def request(self, method: str, path: str, *, token: str | None = None,
                service: str = "gateway", headers: dict | None = None, **kwargs):
        merged = dict(headers or {})
        if token:
            merged["Authorization"] = f"Bearer {token}"
        kwargs.setdefault("timeout", 30)
        return self.http.request(method, self.url(path, service), headers=merged, **kwargs)

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.request("POST", path, **kwargs)

    # -- people ---------------------------------------------------------------------
    def login(self, email: str, password: str = DEMO_PASSWORD, **kwargs) -> str:
        kwargs.setdefault("service", self.auth_via)
        resp = self.request("POST", "/api/v1/auth/login",
                            json={"email": email, "password": password}, **kwargs)
        assert resp.status_code == 200, resp.text
        return resp.json()["access_token"]

    def token(self, email: str) -> str:
        if email not in self._tokens:
            self._tokens[email] = self.login(email)
        return self._tokens[email]

    def register(self, role: str = "buyer") -> tuple[str, str]:
        """A fresh account: (email, token)."""
        email = f"sec-{role}-{uuid.uuid4().hex[:10]}@etalase.test"
        resp = self.request("POST", "/api/v1/auth/register", service=self.auth_via, json={
            "email": email, "password": DEMO_PASSWORD, "name": "Security Test", "role": role})
        assert resp.status_code == 201, resp.text
        return email, self.token(email)

    # -- catalogue and orders -------------------------------------------------------
    def create_product(self, token: str, *, stock: int = 20, price: int = 125000) -> dict:
        resp = self.post("/api/v1/products", token=token, json={
            "title": f"Security batik {uuid.uuid4().hex[:8]}", "price": price, "stock": stock})
        assert resp.status_code == 201, resp.text
        return resp.json()

    def product(self, product_id: str) -> dict:
        resp = self.get(f"/api/v1/products/{product_id}")
        assert resp.status_code == 200, resp.text
        return resp.json()

    def checkout(self, token: str, product_id: str, quantity: int = 1) -> dict:
        resp = self.post("/api/v1/checkout", token=token,
                         headers={"Idempotency-Key": str(uuid.uuid4())},
                         json={"items": [{"product_id": product_id, "quantity": quantity}],
                               "shipping_address": ADDRESS,
                               "payment_method": "bank_transfer"})
        assert resp.status_code == 201, resp.text
        return resp.json()["order"]

    def order(self, order_id: str, token: str) -> dict:
        resp = self.get(f"/api/v1/orders/{order_id}", token=token)
        assert resp.status_code == 200, resp.text
        return resp.json()

    # -- databases (each service's own role) ----------------------------------------
    def sql(self, service: str, query: str, params=()) -> list[tuple]:
        with psycopg2.connect(self.stack.dsn(service)) as conn:
            with conn.cursor() as cur:
                cur.execute(query, params)
                rows = cur.fetchall()
        conn.close()
        return rows

    def counts(self, *, idempotency: bool = True) -> dict[str, int]:
        """Row counts of every table that a write could touch, in both databases.

        `idempotency=False` leaves out the idempotency keys: a refused money-moving POST
        still records its (4xx) answer under the caller's own key, by design (Stripe
        semantics); see `refused_keys_only`."""
        tables = {
            "storefront": ("accounts", "shops", "products", "product_price_changes",
                           "contents", "cart_items", "reservations", "reservation_items"),
            "transaction": ("orders", "order_items", "payments", "payment_notifications",
                            "idempotency_keys", "outbox", "journal_entries", "journal_lines",
                            "audit_log", "payouts", "refunds"),
        }
        out = {}
        for service, names in tables.items():
            query = " UNION ALL ".join(
                f"SELECT '{name}', count(*) FROM {name} {COUNT_FILTERS.get(name, '')}"  # noqa: S608
                for name in names
            )
            out.update({f"{service}.{name}": n for name, n in self.sql(service, query)})
        if not idempotency:
            out.pop("transaction.idempotency_keys")
        return out

    def refused_keys_only(self, token: str) -> None:
        """Every idempotency record of the token's account holds a refusal (4xx)."""
        account = claims_of(token)["sub"]
        rows = self.sql("transaction", "SELECT state, response_status FROM idempotency_keys "
                        "WHERE account_id = %s", (account,))
        assert all(state == "completed" and 400 <= status < 500 for state, status in rows), rows

    def notification(self, order: dict, status: str = "settlement", *,
                     gross: str | None = None, key: str | None = None, **extra) -> dict:
        """A Midtrans-style notification for `order`, signed with `key` (default: the
        stack's real server key)."""
        gross = gross if gross is not None else f"{order['total']['amount']}.00"
        code = {"settlement": "200", "capture": "200", "pending": "201"}.get(status, "202")
        body = {
            "order_id": order["id"],
            "transaction_id": (order.get("payment") or {}).get("provider_transaction_id")
            or str(uuid.uuid4()),
            "transaction_status": status,
            "status_code": code,
            "gross_amount": gross,
            "payment_type": "bank_transfer",
            "fraud_status": "accept",
            "transaction_time": "2024-05-01 12:00:00",
            **extra,
        }
        server_key = key if key is not None else self.stack.secrets["sandbox_server_key"]
        material = f"{body['order_id']}{body['status_code']}{body['gross_amount']}{server_key}"
        body.setdefault("signature_key", hashlib.sha512(material.encode()).hexdigest())
        return body
