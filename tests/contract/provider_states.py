"""Provider states of the pacts: SQL against the stack's databases (and, for reservations,
the showcase's own internal API), written to be idempotent and never to raise.

pact's verifier retries a state change that fails for about two minutes before giving up,
so a handler here records its error instead of raising; the test asserts `errors` is empty
after verifying, which fails fast and says what went wrong.
"""

from __future__ import annotations

import json
import uuid

import psycopg2
import requests
from pact_support import BUYER_ID


class StateHandler:
    def __init__(self):
        self.errors: list[str] = []
        self.calls: list[tuple[str, str]] = []

    def __call__(self, state: str, action: str, parameters: dict | None = None, **_) -> None:
        self.calls.append((state, action))
        if action != "setup":
            return
        try:
            self.setup(state, parameters or {})
        except Exception as exc:  # never raise: see the module docstring
            self.errors.append(f"{state!r} {parameters}: {exc.__class__.__name__}: {exc}")

    def setup(self, state: str, parameters: dict) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class ShowcaseStates(StateHandler):
    """States of the marketplace -> showcase pact, against the storefront database."""

    def __init__(self, stack):
        super().__init__()
        self.dsn = stack.dsn("superuser", "etalase_storefront")
        self.url = stack.urls.storefront
        self.token = stack.secrets["internal_token"]

    def setup(self, state: str, p: dict) -> None:
        with psycopg2.connect(self.dsn) as conn, conn.cursor() as cur:
            if "order_id" in p:  # a clean slate for the order the interaction names
                cur.execute("DELETE FROM reservation_return_restock_items WHERE return_id IN "
                            "(SELECT return_id FROM reservation_return_restocks "
                            "WHERE order_id = %s)", (p["order_id"],))
                cur.execute("DELETE FROM reservation_return_restocks WHERE order_id = %s",
                            (p["order_id"],))
                cur.execute("DELETE FROM reservation_items WHERE order_id = %s", (p["order_id"],))
                cur.execute("DELETE FROM reservations WHERE order_id = %s", (p["order_id"],))
            if "product_id" in p:
                self._product(cur, p)
            if state == "an active account":
                cur.execute(
                    "INSERT INTO accounts (id, email, password_hash, name, role) "
                    "VALUES (%s, %s, 'not-a-hash', 'Pact Buyer', 'buyer') "
                    "ON CONFLICT (id) DO UPDATE SET disabled_at = NULL",
                    (p["account_id"], f"pact-buyer-{p['account_id'][:8]}@contract.test"))
            elif state == "a disabled account":
                cur.execute(
                    "INSERT INTO accounts (id, email, password_hash, name, role, disabled_at) "
                    "VALUES (%s, %s, 'not-a-hash', 'Pact Buyer', 'buyer', now()) "
                    "ON CONFLICT (id) DO UPDATE SET disabled_at = now()",
                    (p["account_id"], f"pact-buyer-{p['account_id'][:8]}@contract.test"))
            if "content_id" in p:
                self._content(cur, p)
        conn.close()
        if state == "an active reservation":
            self._reservation(p)
        elif state == "a released reservation":
            self._reservation(p, then="release")
        elif state == "a committed reservation":
            self._reservation(p, then="commit")

    @staticmethod
    def _product(cur, p: dict) -> None:
        owner = str(uuid.uuid5(uuid.NAMESPACE_URL, f"pact-seller/{p['shop_id']}"))
        cur.execute(
            "INSERT INTO accounts (id, email, password_hash, name, role) "
            "VALUES (%s, %s, 'not-a-hash', 'Pact Seller', 'seller') ON CONFLICT (id) DO NOTHING",
            (owner, f"pact-seller-{owner[:8]}@contract.test"),
        )
        cur.execute(
            "INSERT INTO shops (id, owner_id, name, city) VALUES (%s, %s, 'Toko Kontrak', 'Solo')"
            " ON CONFLICT (id) DO NOTHING",
            (p["shop_id"], owner),
        )
        cur.execute(
            "INSERT INTO products (id, shop_id, title, price, stock, status) "
            "VALUES (%s, %s, 'Kemeja Batik Parang', %s, %s, 'active') "
            "ON CONFLICT (id) DO UPDATE SET price = EXCLUDED.price, stock = EXCLUDED.stock, "
            "status = 'active'",
            (p["product_id"], p["shop_id"], p["price"], p["stock"]),
        )

    @staticmethod
    def _content(cur, p: dict) -> None:
        """A creator's video tagging the product, which offers a commission rate."""
        cur.execute(
            "INSERT INTO accounts (id, email, password_hash, name, role) "
            "VALUES (%s, %s, 'not-a-hash', 'Pact Creator', 'creator') ON CONFLICT (id) DO NOTHING",
            (p["creator_id"], f"pact-creator-{p['creator_id'][:8]}@contract.test"),
        )
        cur.execute(
            "INSERT INTO contents (id, creator_id, kind, title, media_url) "
            "VALUES (%s, %s, 'video', 'Review kontrak', 'https://media.etalase.test/v.mp4') "
            "ON CONFLICT (id) DO NOTHING",
            (p["content_id"], p["creator_id"]),
        )
        cur.execute(
            "INSERT INTO content_products (content_id, product_id, position) "
            "VALUES (%s, %s, 0) ON CONFLICT DO NOTHING",
            (p["content_id"], p["product_id"]),
        )
        cur.execute("UPDATE products SET commission_rate_bps = %s WHERE id = %s",
                    (p["commission_rate_bps"], p["product_id"]))

    def _reservation(self, p: dict, then: str | None = None) -> None:
        headers = {"X-Internal-Token": self.token}
        body = {"order_id": p["order_id"], "buyer_id": BUYER_ID,
                "items": [{"product_id": p["product_id"], "quantity": 1}]}
        response = requests.post(f"{self.url}/internal/reservations", json=body,
                                 headers=headers, timeout=10)
        if response.status_code != 201:
            raise RuntimeError(f"reserve answered {response.status_code}: {response.text}")
        if then:
            response = requests.post(f"{self.url}/internal/reservations/{p['order_id']}/{then}",
                                     headers=headers, timeout=10)
            if response.status_code != 200:
                raise RuntimeError(f"{then} answered {response.status_code}: {response.text}")


class MarketplaceStates(StateHandler):
    """States of the sandbox -> marketplace pact, against the transaction database."""

    def __init__(self, stack):
        super().__init__()
        self.dsn = stack.dsn("superuser", "etalase_transaction")

    def setup(self, state: str, p: dict) -> None:
        if state == "a paid e-wallet order with a provider refund requested":
            self._refund_requested(p)
            return
        if state == "an UNPAID checkout of two shops' orders":
            self._checkout(p)
            return
        if state != "an UNPAID order awaiting payment":
            raise ValueError(f"unknown provider state {state!r}")
        address = {"name": "Pact Buyer", "phone": "+6281234567890", "line1": "Jl. Kontrak 1",
                   "city": "Solo", "postal_code": "57111"}
        with psycopg2.connect(self.dsn) as conn, conn.cursor() as cur:
            # Idempotent: a second verification (the broken-pact test) finds it in place.
            cur.execute(
                "INSERT INTO orders (id, buyer_id, shop_id, status, placed_at, payment_method,"
                " shipping_address, subtotal, total, payment_deadline)"
                " VALUES (%s, %s, %s, 'UNPAID', now(), 'bank_transfer', %s, %s, %s,"
                " now() + interval '1 day') ON CONFLICT (id) DO NOTHING",
                (p["order_id"], BUYER_ID, p["shop_id"], json.dumps(address), p["total"],
                 p["total"]),
            )
            cur.execute(
                "INSERT INTO payments (order_id, provider, method, amount)"
                " VALUES (%s, 'sandbox', 'bank_transfer', %s) ON CONFLICT (order_id) DO NOTHING",
                (p["order_id"], p["total"]),
            )
        conn.close()

    def _checkout(self, p: dict) -> None:
        """A placed, unpaid checkout (one payment) of one order per shop."""
        address = {"name": "Pact Buyer", "phone": "+6281234567890", "line1": "Jl. Kontrak 3",
                   "city": "Solo", "postal_code": "57111"}
        with psycopg2.connect(self.dsn) as conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO checkouts (id, buyer_id, status, placed_at, payment_method, total,"
                " payment_deadline) VALUES (%s, %s, 'UNPAID', now(), 'bank_transfer', %s,"
                " now() + interval '1 day') ON CONFLICT (id) DO NOTHING",
                (p["checkout_id"], BUYER_ID, p["total"]))
            for order_id, shop_id, total in zip(p["order_ids"], p["shop_ids"], p["totals"],
                                                strict=True):
                cur.execute(
                    "INSERT INTO orders (id, buyer_id, shop_id, status, placed_at,"
                    " payment_method, shipping_address, subtotal, total, payment_deadline,"
                    " checkout_id) VALUES (%s, %s, %s, 'UNPAID', now(), 'bank_transfer', %s,"
                    " %s, %s, now() + interval '1 day', %s) ON CONFLICT (id) DO NOTHING",
                    (order_id, BUYER_ID, shop_id, json.dumps(address), total, total,
                     p["checkout_id"]))
                cur.execute(
                    "INSERT INTO payments (order_id, provider, method, amount) VALUES"
                    " (%s, 'sandbox', 'bank_transfer', %s) ON CONFLICT (order_id) DO NOTHING",
                    (order_id, total))
        conn.close()

    def _refund_requested(self, p: dict) -> None:
        """A paid GoPay order (escrow credited) with a pending provider refund keyed
        `refund_key`: what the marketplace holds when it asked the provider to refund."""
        address = {"name": "Pact Buyer", "phone": "+6281234567890", "line1": "Jl. Kontrak 2",
                   "city": "Solo", "postal_code": "57111"}
        with psycopg2.connect(self.dsn) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1 FROM orders WHERE id = %s", (p["order_id"],))
            if cur.fetchone():
                return  # idempotent: already in place
            cur.execute(
                "INSERT INTO orders (id, buyer_id, shop_id, status, placed_at, payment_method,"
                " shipping_address, subtotal, total, payment_deadline, paid_at)"
                " VALUES (%s, %s, %s, 'AWAITING_SHIPMENT', now(), 'ewallet', %s, %s, %s,"
                " now() + interval '1 day', now())",
                (p["order_id"], BUYER_ID, p["shop_id"], json.dumps(address), p["total"],
                 p["total"]),
            )
            cur.execute(
                "INSERT INTO payments (order_id, provider, method, amount, status, paid_at)"
                " VALUES (%s, 'sandbox', 'ewallet', %s, 'refund_pending', now())",
                (p["order_id"], p["total"]),
            )
            cur.execute("INSERT INTO journal_entries (kind, reference) VALUES "
                        "('payment_settled', %s) RETURNING id", (p["order_id"],))
            entry = cur.fetchone()[0]
            cur.execute("INSERT INTO journal_lines (entry_id, account, amount) VALUES "
                        "(%s, 'provider_receivable', %s), (%s, 'escrow', %s)",
                        (entry, p["total"], entry, -p["total"]))
            cur.execute(
                "INSERT INTO refunds (payment_id, order_id, refund_key, amount, reason, method,"
                " status) VALUES (%s, %s, %s, %s, 'one item out of stock', 'provider',"
                " 'pending')",
                (p["order_id"], p["order_id"], p["refund_key"], p["refund_amount"]),
            )
        conn.close()
