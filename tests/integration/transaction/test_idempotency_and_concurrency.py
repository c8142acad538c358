"""Idempotency keys (Stripe semantics, in the database) and checkout under concurrency."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter

from checkout_market import ADDRESS

from tools.shopper import seeded_buyers
from transaction_service.config import Config
from transaction_service.domain.idempotency import request_fingerprint


def _body(product, quantity=1, method="bank_transfer"):
    return {"items": [{"product_id": product, "quantity": quantity}],
            "shipping_address": ADDRESS, "payment_method": method}


def _orders_for(market, product):
    return market.rows(
        "SELECT o.id::text, o.placed_at, o.status FROM orders o JOIN order_items i "
        "ON i.order_id = o.id WHERE i.product_id = %s", (product,))


def test_same_key_same_request_replays(market):
    product = market.product(stock=5)
    key = str(uuid.uuid4())
    first = market.post("/api/v1/checkout", token=market.buyer, key=key, json=_body(product))
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    # same document, keys in another order: still the same request
    reordered = {"payment_method": "bank_transfer", "shipping_address": ADDRESS,
                 "items": [{"quantity": 1, "product_id": product}]}
    second = market.post("/api/v1/checkout", token=market.buyer, key=key, json=reordered)
    assert second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert len(_orders_for(market, product)) == 1
    assert market.stock(product) == 4


def test_same_key_different_request_is_422(market):
    product = market.product(stock=5)
    key = str(uuid.uuid4())
    assert market.post("/api/v1/checkout", token=market.buyer, key=key,
                       json=_body(product)).status_code == 201
    other = market.post("/api/v1/checkout", token=market.buyer, key=key,
                        json=_body(product, quantity=2))
    assert other.status_code == 422
    assert other.json()["type"].endswith("/idempotency-key-reused")
    assert "Idempotency-Key" in other.json()["errors"]
    # the key is per caller: another buyer may use the same key
    someone = market.new_buyer()
    assert market.post("/api/v1/checkout", token=someone, key=key,
                       json=_body(product)).status_code == 201


def test_key_in_progress_is_409_and_a_stale_one_is_taken_over(market):
    product = market.product(stock=5)
    key = str(uuid.uuid4())
    me = market.get("/api/v1/auth/me", token=market.buyer).json()
    buyer_id = me.get("id") or me.get("account_id")
    # What a request still running looks like (inserted exactly as the service does).
    fingerprint = request_fingerprint("POST", "/api/v1/checkout",
                                      json.dumps(_body(product)).encode())
    market.execute(
        "INSERT INTO idempotency_keys (account_id, key, request_hash, method, path, state, "
        "lock_token) VALUES (%s, %s, %s, 'POST', '/api/v1/checkout', 'in_progress', %s)",
        (buyer_id, key, fingerprint, str(uuid.uuid4())))
    busy = market.post("/api/v1/checkout", token=market.buyer, key=key, json=_body(product))
    assert busy.status_code == 409, busy.text
    assert busy.json()["type"].endswith("/idempotency-key-in-use")
    assert busy.headers.get("Retry-After")
    # its holder crashed long ago: the lock is retaken and the request runs once
    market.execute("UPDATE idempotency_keys SET locked_at = now() - interval '10 minutes' "
                   "WHERE account_id = %s AND key = %s", (buyer_id, key))
    taken = market.post("/api/v1/checkout", token=market.buyer, key=key, json=_body(product))
    assert taken.status_code == 201, taken.text
    replay = market.post("/api/v1/checkout", token=market.buyer, key=key, json=_body(product))
    assert replay.status_code == 201 and replay.json() == taken.json()


def test_missing_or_bad_keys(market):
    product = market.product()
    missing = market.post("/api/v1/checkout", token=market.buyer, json=_body(product))
    assert missing.status_code == 400
    assert missing.json()["type"].endswith("/idempotency-key-required")
    too_long = market.post("/api/v1/checkout", token=market.buyer, key="k" * 256,
                           json=_body(product))
    assert too_long.status_code == 422 and "Idempotency-Key" in too_long.json()["errors"]
    assert market.post("/api/v1/checkout", token=market.buyer, key="k" * 255,
                       json=_body(product)).status_code == 201
    # a validation failure does not consume the key
    key = str(uuid.uuid4())
    bad = market.post("/api/v1/checkout", token=market.buyer, key=key,
                      json=_body(product, quantity=0))
    assert bad.status_code == 422
    assert market.post("/api/v1/checkout", token=market.buyer, key=key,
                       json=_body(product)).status_code == 201
    # cancel requires a key too
    order = market.placed()
    assert market.post(f"/api/v1/orders/{order['id']}/cancel",
                       token=market.buyer).status_code == 400


def test_same_checkout_retried_20_times_concurrently_makes_one_order(market):
    product = market.product(stock=50)
    key = str(uuid.uuid4())
    responses = market.concurrently(
        [lambda: market.post("/api/v1/checkout", token=market.buyer, key=key,
                             json=_body(product))] * 20)
    codes = Counter(r.status_code for r in responses)
    assert set(codes) <= {201, 409}, codes
    assert codes[201] >= 1
    created = {r.json()["order"]["id"] for r in responses if r.status_code == 201}
    assert len(created) == 1
    assert len(_orders_for(market, product)) == 1
    assert market.stock(product) == 49
    # once it finished, every retry is a replay
    late = market.post("/api/v1/checkout", token=market.buyer, key=key, json=_body(product))
    assert late.status_code == 201 and late.json()["order"]["id"] in created


def test_100_concurrent_checkouts_for_10_units_make_exactly_10_orders(market):
    product = market.product(stock=10)
    responses = market.concurrently(
        [lambda: market.checkout(product) for _ in range(100)], workers=50)
    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 10, 409: 90}, codes
    conflicts = [r.json() for r in responses if r.status_code == 409]
    assert all(p["type"].endswith("/insufficient-stock") for p in conflicts)
    assert market.stock(product) == 0
    orders = _orders_for(market, product)
    assert len(orders) == 10 and all(o["placed_at"] for o in orders)
    listed = market.get("/api/v1/orders?limit=100", token=market.buyer).json()["data"]
    assert sum(1 for o in listed if o["items"][0]["product_id"] == product) == 10


def test_flash_sale_of_100_buyers_for_20_units_sells_exactly_20(market):
    """DESIGN.md §14 at test size (the bench runs 1,000 buyers for 200 units and times
    it): 100 distinct signed-in buyers, all released at once, one checkout each. Exactly
    the stock is sold, nothing answers 5xx, and every loser gets a 409 insufficient-stock
    problem."""
    product = market.product(stock=20)
    buyers = seeded_buyers(market.stack, 100, label="flash-test")
    start = threading.Barrier(len(buyers))

    def buy(token):
        start.wait(timeout=60)
        return market.checkout(product, token=token)

    responses = market.concurrently([lambda t=t: buy(t) for t in buyers], workers=len(buyers))
    codes = Counter(r.status_code for r in responses)
    assert codes == {201: 20, 409: 80}, codes
    losers = [r for r in responses if r.status_code == 409]
    assert all(r.headers["Content-Type"].startswith("application/problem+json")
               and r.json()["type"].endswith("/insufficient-stock") for r in losers)
    orders = _orders_for(market, product)
    assert len(orders) == 20 and all(o["placed_at"] for o in orders)
    assert market.stock(product) == 0
    winners = {r.json()["order"]["id"] for r in responses if r.status_code == 201}
    assert winners == {o["id"] for o in orders}


def test_sold_out_answers_come_from_the_hint_without_claiming_the_key(market):
    """Once the showcase has refused a product as sold out, a process refuses further
    checkouts for it at once (SOLD_OUT_HINT_SECONDS): the same 409 problem, nothing
    written, not even the Idempotency-Key, so a retry with that key after a restock
    buys; an answer the showcase gave is stored and replayed as usual."""
    product = market.product(stock=1)
    assert market.checkout(product).status_code == 201
    buyer = market.new_buyer()
    keys = [str(uuid.uuid4()) for _ in range(12)]
    refusals = [market.checkout(product, token=buyer, key=key) for key in keys]
    assert {r.status_code for r in refusals} == {409}
    assert {r.headers["Content-Type"] for r in refusals} == {"application/problem+json"}
    fields = {(p["type"].rsplit("/", 1)[-1], p["product_id"], p["requested"], p["available"])
              for p in (r.json() for r in refusals)}
    assert fields == {("insufficient-stock", product, 1, 0)}, fields
    stored = {row["key"] for row in market.rows(
        "SELECT key FROM idempotency_keys WHERE key = ANY(%s)", (keys,))}
    # Each marketplace process asked the showcase once; the rest were refused from it.
    hinted = [key for key in keys if key not in stored]
    assert hinted and len(stored) <= 4, (len(stored), len(hinted))
    assert len(_orders_for(market, product)) == 1  # nothing left behind by any refusal

    restocked = market.patch(f"/api/v1/products/{product}", token=market.seller,
                             json={"stock": 1})
    assert restocked.status_code == 200, restocked.text
    time.sleep(Config().sold_out_hint_seconds + 0.3)  # the stack runs with the default
    retried = market.checkout(product, token=buyer, key=hinted[0])
    assert retried.status_code == 201, retried.text
    assert "Idempotent-Replayed" not in retried.headers
    if stored:
        replayed = market.checkout(product, token=buyer, key=sorted(stored)[0])
        assert replayed.status_code == 409
        assert replayed.headers["Idempotent-Replayed"] == "true"
    assert market.stock(product) == 0
