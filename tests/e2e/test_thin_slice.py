"""The README's walk-through, step by step, through the gateway only (issue #2's thin slice):
log in as the demo buyer, list products, check out one item, pay it in the payment sandbox
(which sends a signed notification to the marketplace), and see the order AWAITING_SHIPMENT.
"""

from __future__ import annotations

import time
import uuid

import requests

DEMO_BUYER = {"email": "buyer@etalase.test", "password": "etalase-demo"}


def test_buyer_checks_out_and_pays_through_the_gateway(gateway_url):
    http = requests.Session()

    login = http.post(f"{gateway_url}/api/v1/auth/login", json=DEMO_BUYER, timeout=10)
    assert login.status_code == 200, login.text
    assert login.headers.get("X-Request-ID")
    http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"

    products = http.get(f"{gateway_url}/api/v1/products", params={"limit": 5}, timeout=10)
    assert products.status_code == 200, products.text
    in_stock = [p for p in products.json()["data"] if p["stock"] > 0]
    assert in_stock, "the demo data should have products in stock"
    product = in_stock[0]

    checkout = http.post(
        f"{gateway_url}/api/v1/checkout",
        headers={"Idempotency-Key": str(uuid.uuid4())},
        json={
            "items": [{"product_id": product["id"], "quantity": 1}],
            "shipping_address": {
                "name": "Siti Rahayu",
                "phone": "+6281234567890",
                "line1": "Jl. Merdeka No. 1",
                "city": "Bandung",
                "postal_code": "40111",
            },
            "payment_method": "bank_transfer",
        },
        timeout=15,
    )
    assert checkout.status_code == 201, checkout.text
    order = checkout.json()["order"]
    payment = checkout.json()["payment"]
    assert order["status"] == "UNPAID"
    assert order["total"] == {"amount": product["price"]["amount"], "currency": "IDR"}
    assert payment["method"] == "bank_transfer" and payment["va_number"]

    paid = http.post(f"{gateway_url}/sandbox/v2/{order['id']}/pay", timeout=10)
    assert paid.status_code == 200, paid.text
    assert paid.json()["transaction_status"] == "settlement"

    # The sandbox notifies the marketplace asynchronously (signed, retried on failure).
    deadline = time.monotonic() + 20
    status = None
    while time.monotonic() < deadline:
        seen = http.get(f"{gateway_url}/api/v1/orders/{order['id']}", timeout=10)
        assert seen.status_code == 200, seen.text
        status = seen.json()["status"]
        if status == "AWAITING_SHIPMENT":
            break
        time.sleep(0.2)
    assert status == "AWAITING_SHIPMENT"
    assert seen.json()["payment"]["status"] == "settled"
