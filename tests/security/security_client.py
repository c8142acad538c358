"""Helpers for the security suite: an HTTP client for a stack (through its gateway or
straight to a service port), token forgery, database snapshots and problem checks."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt
import psycopg2
from api_client import ApiClient, signed_notification
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tools.shopper import ADDRESS

BUYER = "buyer@etalase.test"
SELLER = "seller@etalase.test"
SELLER2 = "seller2@etalase.test"
PROBLEM = "application/problem+json"
# The hardened gateway: limits low enough to trip in a few requests.
HARDENED_GATEWAY = {
    "client_rate": "5r/s",
    "client_burst": 15,
    "token_rate": "1r/s",
    "token_burst": 4,
    "auth_rate": "1r/m",
    "auth_burst": 3,
    "cors_allowed_origins": ("https://shop.etalase.test", "http://localhost:5173"),
}
ALLOWED_ORIGIN = "https://shop.etalase.test"
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


class Client(ApiClient):
    """One stack seen from outside: the gateway for the public API (an ApiClient), the
    service ports for what the gateway never routes (`service=`), and the services' own
    databases to prove that nothing changed."""

    def __init__(self, stack, auth_via: str = "gateway"):
        """auth_via: where logins and registrations go: the gateway, or (for a stack whose
        gateway has a tiny login allowance) straight to the storefront."""
        super().__init__(stack.urls.gateway, timeout=30, auth_url=stack.urls[auth_via],
                         account_prefix="sec")
        self.stack = stack

    @property
    def gateway(self) -> str:
        return self.stack.urls.gateway

    def url(self, path: str, service: str = "gateway") -> str:
        return self.stack.urls[service] + path

    def request(self, method: str, path: str, *, service: str | None = None, **kwargs):
        if service is not None:
            kwargs["base_url"] = self.stack.urls[service]
        return super().request(method, path, **kwargs)

    def register(self, role: str = "buyer", name: str = "Security Test") -> tuple[str, str]:
        return super().register(role, name)

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
        server_key = key if key is not None else self.stack.secrets["sandbox_server_key"]
        return signed_notification(order, status, server_key, gross=gross, **extra)
