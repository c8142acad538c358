"""One cart, many shops, one payment (DESIGN.md §5, issue 16) on the real stack: one order
per shop, every reservation or none, one provider payment of the checkout's total, one
settlement paying every order, per-order cancel and partial refund, sellers seeing only
their own order. Σ = 0 and escrow = paid-unsettled are checked after every test
(conftest) and explicitly where money moves."""

from __future__ import annotations

import json
import threading
import time
import uuid

import requests

from tools.shopper import ADDRESS, DEMO_PASSWORD

PROBLEM = "application/problem+json"


def problem(response, status):
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith(PROBLEM), response.headers
    return response.json()


def ledger_check(market) -> list[str]:
    response = market.get("/api/v1/admin/ledger/check", token=market.admin)
    assert response.status_code == 200, response.text
    return response.json()["violations"]


def escrow_of(market, order_id: str) -> int:
    """What escrow holds for the order (a credit balance: the lines' sum negated)."""
    row = market.one(
        "SELECT coalesce(sum(l.amount), 0) AS total FROM journal_lines l "
        "JOIN journal_entries e ON e.id = l.entry_id "
        "WHERE l.account = 'escrow' AND (e.reference = %s OR e.reference LIKE %s)",
        (order_id, f"{order_id}:%"))
    return -int(row["total"])


def provider_status(market, provider_order_id: str) -> dict:
    return requests.get(f"{market.sandbox}/v2/{provider_order_id}/status",
                        auth=(market.server_key, ""), timeout=10).json()


def _auth_post(market, path: str, body: dict):
    """/auth/ POSTs are rate-limited per client address at the gateway: a 429 is waited
    out (this file registers eleven sellers)."""
    for _ in range(100):
        response = market.post(path, json=body)
        if response.status_code != 429:
            return response
        time.sleep(0.2)
    return response


def new_seller(market) -> str:
    """A fresh seller with a shop of their own; their token carries the shop."""
    email = f"seller-{uuid.uuid4().hex[:10]}@etalase.test"
    registered = _auth_post(market, "/api/v1/auth/register", {
        "email": email, "password": DEMO_PASSWORD, "name": "Toko Baru", "role": "seller"})
    assert registered.status_code == 201, registered.text
    credentials = {"email": email, "password": DEMO_PASSWORD}
    token = _auth_post(market, "/api/v1/auth/login", credentials).json()["access_token"]
    opened = market.post("/api/v1/shops", token=token,
                         json={"name": f"Toko {uuid.uuid4().hex[:6]}"})
    assert opened.status_code == 201, opened.text
    login = _auth_post(market, "/api/v1/auth/login", credentials)
    assert login.status_code == 200, login.text
    return login.json()["access_token"]


def two_shop_cart(market, *, stock=5, prices=(100000, 70000), quantity=1):
    first = market.product(stock=stock, price=prices[0])
    second = market.product(stock=stock, price=prices[1], token=market.other_seller)
    return first, second, [{"product_id": first, "quantity": quantity},
                           {"product_id": second, "quantity": quantity}]


def checkout(market, items, **kwargs):
    return market.post(
        "/api/v1/checkout", token=kwargs.pop("token", market.buyer),
        key=kwargs.pop("key", str(uuid.uuid4())),
        json={"items": items, "shipping_address": ADDRESS,
              "payment_method": kwargs.pop("method", "bank_transfer")})


def placed_checkout(market, items, **kwargs) -> dict:
    response = checkout(market, items, **kwargs)
    assert response.status_code == 201, response.text
    return response.json()


def wait_checkout(market, checkout_id: str, status: str, token=None) -> dict:
    def check():
        answer = market.get(f"/api/v1/checkouts/{checkout_id}", token=token or market.buyer)
        return answer.status_code == 200 and answer.json()["checkout"]["status"] == status \
            and answer.json()
    return market.wait_for(check, 30)


def paid_checkout(market, items, **kwargs) -> dict:
    placed = placed_checkout(market, items, **kwargs)
    assert market.pay(placed["checkout"]["id"]).status_code == 200
    return wait_checkout(market, placed["checkout"]["id"], "PAID")


def orders_of_buyer(market, token=None) -> list[str]:
    response = market.get("/api/v1/orders", token=token or market.buyer,
                          params={"limit": 100})
    assert response.status_code == 200, response.text
    return [o["id"] for o in response.json()["data"]]


# --- placing ----------------------------------------------------------------------------


def test_two_shops_one_payment_settled_at_once(market):
    first, second, items = two_shop_cart(market, quantity=2)
    body = placed_checkout(market, items)
    checkout_doc, orders = body["checkout"], body["orders"]
    assert "order" not in body  # only a checkout of exactly one order has it
    assert len(orders) == 2 and checkout_doc["status"] == "UNPAID"
    assert checkout_doc["total"] == {"amount": 340000, "currency": "IDR"}
    assert sorted(checkout_doc["order_ids"]) == sorted(o["id"] for o in orders)
    assert checkout_doc["id"] not in checkout_doc["order_ids"]
    assert {o["checkout_id"] for o in orders} == {checkout_doc["id"]}
    assert {o["total"]["amount"] for o in orders} == {200000, 140000}
    assert len({o["shop_id"] for o in orders}) == 2
    assert body["payment"] == checkout_doc["payment"]
    assert body["payment"]["va_number"] and body["payment"]["bank"] == "bca"
    # one instruction: every order shows the same VA number
    assert {o["payment"]["va_number"] for o in orders} == {body["payment"]["va_number"]}
    assert market.stock(first) == 3 and market.stock(second) == 3
    # one provider payment of the whole total, under the checkout's id
    status = provider_status(market, checkout_doc["id"])
    assert status["gross_amount"] == "340000.00", status
    assert provider_status(market, orders[0]["id"]).get("status_code") == "404"
    # each order has its own reservation
    assert all(market.reservation(o["id"])["status"] == "active" for o in orders)

    # the buyer reads it again; the same key replays it
    again = market.get(f"/api/v1/checkouts/{checkout_doc['id']}", token=market.buyer)
    assert again.status_code == 200 and again.json()["checkout"]["id"] == checkout_doc["id"]

    assert market.pay(checkout_doc["id"]).status_code == 200
    paid = wait_checkout(market, checkout_doc["id"], "PAID")
    assert {o["status"] for o in paid["orders"]} == {"AWAITING_SHIPMENT"}
    for order in orders:
        assert escrow_of(market, order["id"]) == order["total"]["amount"]
        market.wait_outbox_done(order["id"], "reservation_commit")
        assert market.reservation(order["id"])["status"] == "committed"
    [notice] = market.rows("SELECT outcome, order_id, checkout_id::text AS checkout_id FROM "
                           "payment_notifications WHERE checkout_id = %s "
                           "AND transaction_status = 'settlement'", (checkout_doc["id"],))
    assert notice == {"outcome": "paid", "order_id": None, "checkout_id": checkout_doc["id"]}
    assert ledger_check(market) == []


def test_same_idempotency_key_replays_the_whole_checkout(market):
    _first, _second, items = two_shop_cart(market)
    key = str(uuid.uuid4())
    one = placed_checkout(market, items, key=key)
    two = checkout(market, items, key=key)
    assert two.status_code == 201 and two.json()["checkout"]["id"] == one["checkout"]["id"]
    assert market.one("SELECT count(*) AS n FROM orders WHERE buyer_id = "
                      "(SELECT buyer_id FROM checkouts WHERE id = %s) AND checkout_id = %s",
                      (one["checkout"]["id"], one["checkout"]["id"]))["n"] == 2


def test_single_shop_checkout_keeps_its_order_field(market):
    product = market.product(stock=3, price=50000)
    body = placed_checkout(market, [{"product_id": product, "quantity": 1}])
    assert body["order"]["id"] == body["checkout"]["id"] == body["orders"][0]["id"]
    assert body["order"]["checkout_id"] == body["checkout"]["id"]


def test_short_stock_in_one_shop_places_nothing_and_releases_everything(market):
    first, second, _ = two_shop_cart(market, stock=5)
    short = market.product(stock=1, token=market.other_seller)
    before = orders_of_buyer(market)
    body = problem(checkout(market, [{"product_id": first, "quantity": 2},
                                     {"product_id": second, "quantity": 1},
                                     {"product_id": short, "quantity": 3}]), 409)
    assert body["product_id"] == short and short in body["detail"]
    assert body["type"].endswith("insufficient-stock")
    assert orders_of_buyer(market) == before
    assert market.stock(first) == 5 and market.stock(second) == 5 and market.stock(short) == 1
    assert market.one("SELECT count(*) AS n FROM orders o JOIN order_items i "
                      "ON i.order_id = o.id WHERE i.product_id = %s", (first,))["n"] == 0


def test_more_than_ten_shops_is_422(market):
    items = [{"product_id": market.product(stock=2, token=new_seller(market)), "quantity": 1}
             for _ in range(11)]
    before = orders_of_buyer(market)
    body = problem(checkout(market, items), 422)
    assert "10 shops" in body["detail"]
    assert orders_of_buyer(market) == before
    assert all(market.stock(item["product_id"]) == 2 for item in items)


def test_more_than_fifty_lines_and_duplicates_are_422(market):
    product = market.product(stock=2)
    lines = [{"product_id": str(uuid.uuid4()), "quantity": 1} for _ in range(51)]
    body = problem(checkout(market, lines), 422)
    assert "items" in json.dumps(body["errors"])
    body = problem(checkout(market, [{"product_id": product, "quantity": 1},
                                     {"product_id": product, "quantity": 1}]), 422)
    assert "listed twice" in json.dumps(body["errors"])
    assert market.stock(product) == 2


def test_product_withdrawn_between_cart_and_checkout(market):
    first, second, items = two_shop_cart(market, stock=4)
    withdrawn = market.request("PATCH", f"/api/v1/products/{second}",
                               token=market.other_seller, json={"status": "inactive"})
    assert withdrawn.status_code == 200, withdrawn.text
    before = orders_of_buyer(market)
    body = problem(checkout(market, items), 422)
    assert body["product_id"] == second
    assert orders_of_buyer(market) == before
    assert market.stock(first) == 4


def test_price_change_between_cart_and_checkout_the_showcase_wins(market):
    first, second, items = two_shop_cart(market, prices=(100000, 70000))
    changed = market.request("PATCH", f"/api/v1/products/{second}",
                             token=market.other_seller, json={"price": 65000})
    assert changed.status_code == 200, changed.text
    body = placed_checkout(market, items)
    lines = {o["items"][0]["product_id"]: o["items"][0] for o in body["orders"]}
    assert lines[second]["unit_price"]["amount"] == 65000
    assert lines[first]["unit_price"]["amount"] == 100000
    assert body["checkout"]["total"]["amount"] == 165000
    assert provider_status(market, body["checkout"]["id"])["gross_amount"] == "165000.00"


def test_two_buyers_race_for_the_last_units_of_two_shops(market):
    first, second, items = two_shop_cart(market, stock=1)
    buyers = [market.new_buyer() for _ in range(4)]
    barrier = threading.Barrier(len(buyers))

    def attempt(token):
        barrier.wait()
        return checkout(market, items, token=token)

    answers = market.concurrently([lambda t=t: attempt(t) for t in buyers], workers=4)
    won = [a for a in answers if a.status_code == 201]
    assert len(won) == 1, [a.status_code for a in answers]
    assert len(won[0].json()["orders"]) == 2  # a whole checkout, never a part of one
    assert all(a.status_code == 409 for a in answers if a is not won[0])
    assert market.stock(first) == 0 and market.stock(second) == 0
    for token in buyers:
        if token is not buyers[answers.index(won[0])]:
            assert orders_of_buyer(market, token) == []


# --- notifications ----------------------------------------------------------------------


def test_settlement_of_another_amount_is_422_and_moves_nothing(market):
    _first, _second, items = two_shop_cart(market)
    body = placed_checkout(market, items)
    checkout_id = body["checkout"]["id"]
    fake = {"id": checkout_id, "total": {"amount": body["orders"][0]["total"]["amount"]},
            "payment": body["orders"][0]["payment"]}
    answer = market.notify(market.notification(fake, "settlement"))
    assert problem(answer, 422)["type"].endswith("amount-mismatch")
    assert market.one("SELECT count(*) AS n FROM payment_notifications WHERE checkout_id = %s "
                      "AND transaction_status = 'settlement'", (checkout_id,))["n"] == 0
    again = market.get(f"/api/v1/checkouts/{checkout_id}", token=market.buyer).json()
    assert again["checkout"]["status"] == "UNPAID"
    assert {o["status"] for o in again["orders"]} == {"UNPAID"}
    assert all(escrow_of(market, o["id"]) == 0 for o in body["orders"])
    # the right amount pays everything
    right = {**fake, "total": body["checkout"]["total"]}
    assert market.notify(market.notification(right, "settlement")).status_code == 200
    paid = wait_checkout(market, checkout_id, "PAID")
    assert {o["status"] for o in paid["orders"]} == {"AWAITING_SHIPMENT"}


# --- cancelling -------------------------------------------------------------------------


def test_cancel_one_unpaid_order_cancels_the_whole_checkout(market):
    first, second, items = two_shop_cart(market, stock=3)
    body = placed_checkout(market, items)
    one = body["orders"][0]["id"]
    answer = market.post(f"/api/v1/orders/{one}/cancel", token=market.buyer,
                         key=str(uuid.uuid4()))
    assert answer.status_code == 200, answer.text
    closed = wait_checkout(market, body["checkout"]["id"], "CANCELLED")
    assert {o["status"] for o in closed["orders"]} == {"CANCELLED"}
    market.wait_for(lambda: market.stock(first) == 3 and market.stock(second) == 3)
    market.wait_for(lambda: provider_status(market, body["checkout"]["id"])
                    .get("transaction_status") == "cancel")


def test_cancel_checkout_endpoint_and_its_access_rules(market):
    first, second, items = two_shop_cart(market, stock=3)
    body = placed_checkout(market, items)
    checkout_id = body["checkout"]["id"]
    path = f"/api/v1/checkouts/{checkout_id}"
    creator = market.token("creator@etalase.test")
    for token in (market.seller, market.other_seller, market.new_buyer(), creator):
        problem(market.get(path, token=token), 404)
        problem(market.post(path + "/cancel", token=token, key=str(uuid.uuid4())), 404)
    problem(market.get(path), 401)
    assert market.get(path, token=market.admin).status_code == 200
    answer = market.post(path + "/cancel", token=market.buyer, key=str(uuid.uuid4()))
    assert answer.status_code == 200, answer.text
    assert answer.json()["checkout"]["status"] == "CANCELLED"
    assert {o["status"] for o in answer.json()["orders"]} == {"CANCELLED"}
    market.wait_for(lambda: market.stock(first) == 3 and market.stock(second) == 3)
    again = market.post(path + "/cancel", token=market.buyer, key=str(uuid.uuid4()))
    assert problem(again, 409)["type"].endswith("illegal-transition")


def test_expiry_closes_the_whole_checkout(market):
    first, second, items = two_shop_cart(market, stock=3)
    body = placed_checkout(market, items)
    checkout_id = body["checkout"]["id"]
    market.execute("UPDATE checkouts SET payment_deadline = now() - interval '1 second' "
                   "WHERE id = %s", (checkout_id,))
    market.run_worker("payment-expiry")
    closed = wait_checkout(market, checkout_id, "EXPIRED")
    assert {o["status"] for o in closed["orders"]} == {"EXPIRED"}
    market.wait_for(lambda: market.stock(first) == 3 and market.stock(second) == 3)


def test_cancel_one_paid_order_refunds_exactly_its_total(market):
    first, second, items = two_shop_cart(market, stock=3, prices=(90000, 40000))
    paid = paid_checkout(market, items, method="ewallet")
    checkout_id = paid["checkout"]["id"]
    gone, stays = sorted(paid["orders"], key=lambda o: o["total"]["amount"])
    answer = market.post(f"/api/v1/orders/{gone['id']}/cancel", token=market.buyer,
                         key=str(uuid.uuid4()))
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "CANCELLED"
    [refund] = answer.json()["refunds"]
    assert refund["method"] == "provider" and refund["amount"]["amount"] == 40000
    # the provider refunds part of the one payment; its partial_refund notification
    # confirms this order's refund (by its key) and nothing else
    market.wait_for(lambda: market.order(gone["id"])["refunds"][0]["status"] == "succeeded",
                    30)
    status = provider_status(market, checkout_id)
    assert status["transaction_status"] == "partial_refund"
    assert status["refund_amount"] == "40000.00"

    def notice():
        return market.one("SELECT outcome FROM payment_notifications WHERE checkout_id = %s "
                          "AND transaction_status = 'partial_refund'", (checkout_id,))
    assert market.wait_for(notice)["outcome"] in ("refunded", "already-refunded")
    assert escrow_of(market, gone["id"]) == 0
    assert escrow_of(market, stays["id"]) == 90000
    kept = market.order(stays["id"])
    assert kept["status"] == "AWAITING_SHIPMENT" and kept["refunds"] == []
    market.wait_for(lambda: market.stock(second) == 3)  # its stock back
    assert market.stock(first) == 2
    assert wait_checkout(market, checkout_id, "PAID")
    # the other order still ships
    shipped = market.post(f"/api/v1/orders/{stays['id']}/ship", token=market.seller,
                          key=str(uuid.uuid4()), json={"tracking_number": "JNE123456"})
    assert shipped.status_code == 200, shipped.text
    assert ledger_check(market) == []


def test_cancel_one_paid_bank_transfer_order_is_a_manual_refund(market):
    _first, _second, items = two_shop_cart(market, stock=3, prices=(80000, 30000))
    paid = paid_checkout(market, items)
    gone, stays = sorted(paid["orders"], key=lambda o: o["total"]["amount"])
    answer = market.post(f"/api/v1/orders/{gone['id']}/cancel", token=market.buyer,
                         key=str(uuid.uuid4()))
    assert answer.status_code == 200, answer.text
    [refund] = answer.json()["refunds"]
    assert (refund["method"], refund["status"], refund["amount"]["amount"]) == (
        "manual", "awaiting_account", 30000)
    assert escrow_of(market, gone["id"]) == 0 and escrow_of(market, stays["id"]) == 80000
    assert market.order(stays["id"])["status"] == "AWAITING_SHIPMENT"
    assert ledger_check(market) == []


def test_a_refund_notification_nobody_asked_for_moves_nothing(market):
    _first, _second, items = two_shop_cart(market)
    paid = paid_checkout(market, items, method="ewallet")
    checkout_id = paid["checkout"]["id"]
    doc = {"id": checkout_id, "total": paid["checkout"]["total"],
           "payment": paid["orders"][0]["payment"]}
    body = market.notification(doc, "partial_refund", refund_amount="10000.00",
                               refunds=[{"refund_key": "someone-else",
                                         "refund_amount": "10000.00"}])
    answer = market.notify(body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "needs-attention"
    for order in paid["orders"]:
        assert market.order(order["id"])["status"] == "AWAITING_SHIPMENT"
        assert escrow_of(market, order["id"]) == order["total"]["amount"]


# --- who sees what ----------------------------------------------------------------------


def test_a_seller_sees_only_their_own_order_of_a_checkout(market):
    _first, _second, items = two_shop_cart(market)
    paid = paid_checkout(market, items)
    mine = {o["shop_id"]: o for o in paid["orders"]}
    seller_shop = market.get("/api/v1/orders", token=market.seller,
                             params={"role": "seller", "limit": 100}).json()["data"]
    own = [o for o in seller_shop if o.get("checkout_id") == paid["checkout"]["id"]]
    assert len(own) == 1
    other = next(o for o in paid["orders"] if o["id"] != own[0]["id"])
    text = json.dumps(market.order(own[0]["id"], token=market.seller)) + json.dumps(own)
    assert other["id"] not in text
    assert str(paid["checkout"]["total"]["amount"]) not in text
    assert other["items"][0]["product_id"] not in text
    problem(market.get(f"/api/v1/orders/{other['id']}", token=market.seller), 404)
    assert len(mine) == 2
