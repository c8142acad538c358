"""Creators' affiliate commission end to end (DESIGN.md §11), through the gateway against
the real showcase, marketplace, sandbox and Postgres: attribution in the cart and at
checkout, the frozen snapshot, who sees what, the settlement and the creators' money API."""

from __future__ import annotations

import time
import uuid

import psycopg2
import psycopg2.extras
import pytest

from tools.shopper import DEMO_PASSWORD
from transaction_service.store import invariants

RATE = 1000  # 10 %


def _register(market, role: str, name: str) -> tuple[str, str]:
    """A fresh account: (token, account id). /auth/ POSTs are rate-limited per client
    address at the gateway, so a 429 is waited out (this file registers many accounts)."""
    email = f"{role}-{uuid.uuid4().hex[:10]}@etalase.test"
    for _ in range(100):
        response = market.post("/api/v1/auth/register", json={
            "email": email, "password": DEMO_PASSWORD, "name": name, "role": role})
        if response.status_code != 429:
            break
        time.sleep(0.2)
    assert response.status_code == 201, response.text
    for _ in range(100):
        login = market.post("/api/v1/auth/login",
                            json={"email": email, "password": DEMO_PASSWORD})
        if login.status_code != 429:
            break
        time.sleep(0.2)
    assert login.status_code == 200, login.text
    return login.json()["access_token"], response.json()["id"]


def _creator(market) -> tuple[str, str]:
    return _register(market, "creator", "Kreator Uji")


def _buyer(market) -> str:
    return _register(market, "buyer", "Pembeli Uji")[0]


def _product(market, *, rate: int = RATE, price: int = 185_001, stock: int = 50) -> str:
    response = market.post("/api/v1/products", token=market.seller, json={
        "title": f"Batik afiliasi {uuid.uuid4().hex[:6]}", "price": price, "stock": stock,
        "commission_rate_bps": rate})
    assert response.status_code == 201, response.text
    assert response.json()["commission_rate_bps"] == rate
    return response.json()["id"]


def _content(market, creator_token: str, product_ids: list[str], kind: str = "video") -> str:
    response = market.post("/api/v1/contents", token=creator_token, json={
        "kind": kind, "title": "Review batik afiliasi",
        "media_url": "https://media.etalase.test/videos/review.mp4", "product_ids": product_ids})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _put_cart(market, token, product_id, quantity=1, content_id=None):
    body = {"quantity": quantity}
    if content_id is not None:
        body["content_id"] = content_id
    return market.request("PUT", f"/api/v1/cart/items/{product_id}", token=token, json=body)


def _pay_and_wait(market, order_id, token):
    assert market.pay(order_id).status_code == 200
    market.wait_for(lambda: (market.one("SELECT status FROM orders WHERE id = %s",
                                        (order_id,)) or {}).get("status") == "AWAITING_SHIPMENT")
    return market.order(order_id, token)


def _storefront_execute(market, query, params):
    with psycopg2.connect(market.stack.dsn("storefront")) as conn, conn.cursor() as cursor:
        cursor.execute(query, params)
    conn.close()


@pytest.fixture
def creator(market):
    return _creator(market)


def test_cart_attribution_sells_settles_and_pays_out_the_creator(market, creator):
    creator_token, creator_id = creator
    buyer = _buyer(market)
    attributed, plain = _product(market), _product(market, rate=2000, price=50_000)
    content = _content(market, creator_token, [attributed])

    cart = _put_cart(market, buyer, attributed, 2, content)
    assert cart.status_code == 200, cart.text
    line = next(i for i in cart.json()["items"] if i["product_id"] == attributed)
    assert line["attribution"]["content_id"] == content
    assert line["attribution"]["creator"] == {"id": creator_id, "name": "Kreator Uji"}
    # A quantity change without content_id is not a new touch: the attribution stays.
    cart = _put_cart(market, buyer, attributed, 3)
    line = next(i for i in cart.json()["items"] if i["product_id"] == attributed)
    assert line["attribution"]["content_id"] == content

    response = market.checkout(
        [{"product_id": attributed, "quantity": 3}, {"product_id": plain, "quantity": 1}],
        token=buyer)
    assert response.status_code == 201, response.text
    order = response.json()["order"]
    by_product = {i["product_id"]: i for i in order["items"]}
    # The buyer sees which content a line came from, never the rate or the amount.
    assert by_product[attributed]["attribution"] == {"content_id": content}
    assert by_product[plain]["attribution"] is None

    commission = 3 * 185_001 * RATE // 10_000  # 55 500.3 -> 55 500
    seller_view = market.order(order["id"], market.seller)
    seller_line = next(i for i in seller_view["items"] if i["product_id"] == attributed)
    assert seller_line["attribution"] == {
        "content_id": content, "creator_id": creator_id, "commission_rate_bps": RATE,
        "commission": {"amount": commission, "currency": "IDR"}}
    assert market.order(order["id"], market.admin)["items"] == seller_view["items"]

    # Frozen at sale: a later rate change does not touch the placed order.
    patched = market.request("PATCH", f"/api/v1/products/{attributed}", token=market.seller,
                             json={"commission_rate_bps": 8000})
    assert patched.status_code == 200, patched.text

    _pay_and_wait(market, order["id"], buyer)
    balance = market.get("/api/v1/creators/me/balance", token=creator_token).json()
    assert balance == {"creator_id": creator_id, "currency": "IDR", "pending": commission,
                       "available": 0, "paid_out": 0}

    seller_before = market.get("/api/v1/sellers/me/balance", token=market.seller).json()
    shipped = market.post(f"/api/v1/orders/{order['id']}/ship", token=market.seller,
                          json={"tracking_number": "JNE-AFF-1"})
    assert shipped.status_code == 200, shipped.text
    done = market.post(f"/api/v1/orders/{order['id']}/confirm-receipt", token=buyer)
    assert done.status_code == 200, done.text

    balance = market.get("/api/v1/creators/me/balance", token=creator_token).json()
    assert balance["pending"] == 0 and balance["available"] == commission
    entry = market.rows(
        "SELECT l.account, l.amount FROM journal_lines l JOIN journal_entries e"
        " ON e.id = l.entry_id WHERE e.kind = 'order_completed' AND e.reference = %s",
        (order["id"],))
    amounts = {row["account"]: int(row["amount"]) for row in entry}
    gross = 3 * 185_001 + 50_000
    assert amounts["escrow"] == gross
    assert -amounts[f"creator:{creator_id}:payable"] == commission
    fee = -amounts.get("platform:fee_revenue", 0)
    shop_net = -amounts[next(a for a in amounts if a.startswith("shop:"))]
    assert shop_net == gross - fee - commission
    seller_after = market.get("/api/v1/sellers/me/balance", token=market.seller).json()
    assert seller_after["available"] - seller_before["available"] == shop_net

    earnings = market.get("/api/v1/creators/me/earnings", token=creator_token).json()
    assert earnings["data"] == [{
        "content_id": content, "orders": 1, "units": 3,
        "sales": {"amount": 3 * 185_001, "currency": "IDR"},
        "commission": {"amount": commission, "currency": "IDR"},
        "pending_commission": {"amount": 0, "currency": "IDR"}}]
    lines = market.get("/api/v1/creators/me/orders", token=creator_token).json()["data"]
    assert [o["id"] for o in lines] == [order["id"]]
    # Only the creator's own line: not the other line, not the buyer or the address.
    assert [i["product_id"] for i in lines[0]["items"]] == [attributed]
    assert "shipping_address" not in lines[0] and "buyer_id" not in lines[0]
    ledger = market.get("/api/v1/creators/me/ledger", token=creator_token).json()["data"]
    assert [(r["kind"], r["direction"], r["amount"]["amount"]) for r in ledger] == [
        ("order_completed", "credit", commission)]

    too_much = market.post("/api/v1/creators/me/payouts", token=creator_token,
                           key=str(uuid.uuid4()), json={"amount": commission + 1})
    assert too_much.status_code == 409
    assert too_much.json()["available"]["amount"] == commission
    key = str(uuid.uuid4())
    paid = market.post("/api/v1/creators/me/payouts", token=creator_token, key=key,
                       json={"amount": commission - 500})
    assert paid.status_code == 201, paid.text
    assert paid.json()["creator_id"] == creator_id
    replay = market.post("/api/v1/creators/me/payouts", token=creator_token, key=key,
                         json={"amount": commission - 500})
    assert replay.status_code == 201 and replay.headers.get("Idempotent-Replayed") == "true"
    assert replay.json()["id"] == paid.json()["id"]
    balance = market.get("/api/v1/creators/me/balance", token=creator_token).json()
    assert balance["available"] == 500 and balance["paid_out"] == commission - 500
    listed = market.get("/api/v1/creators/me/payouts", token=creator_token).json()["data"]
    assert [p["id"] for p in listed] == [paid.json()["id"]]
    assert _invariant_violations(market) == []


def _invariant_violations(market) -> list[str]:
    with psycopg2.connect(market.dsn) as conn, conn.cursor(
        cursor_factory=psycopg2.extras.RealDictCursor
    ) as cursor:
        found = invariants.check(cursor)
    conn.close()
    return found


def test_invariants_catch_a_commission_above_its_line(market, creator):
    creator_token, _ = creator
    product = _product(market)
    content = _content(market, creator_token, [product])
    order = market.checkout([{"product_id": product, "quantity": 1, "content_id": content}],
                            token=_buyer(market)).json()["order"]
    market.execute("UPDATE order_items SET commission = commission + 1 WHERE order_id = %s",
                   (order["id"],))
    try:
        assert any(order["id"] in v and "commission" in v for v in _invariant_violations(market))
    finally:
        market.execute("UPDATE order_items SET commission = commission - 1 WHERE order_id = %s",
                       (order["id"],))
    assert not any(order["id"] in v for v in _invariant_violations(market))


def test_checkout_line_content_wins_and_two_creators_share_an_order(market):
    (first_token, first_id), (second_token, second_id) = _creator(market), _creator(market)
    buyer = _buyer(market)
    a, b = _product(market, rate=0, price=10_000), _product(market, rate=8000, price=10_001)
    first_content = _content(market, first_token, [a, b])
    second_content = _content(market, second_token, [b], kind="live")
    assert _put_cart(market, buyer, b, 1, first_content).status_code == 200
    response = market.checkout(
        [{"product_id": a, "quantity": 1, "content_id": first_content},
         {"product_id": b, "quantity": 1, "content_id": second_content}], token=buyer)
    assert response.status_code == 201, response.text
    seller_view = market.order(response.json()["order"]["id"], market.seller)
    got = {i["product_id"]: i["attribution"] for i in seller_view["items"]}
    assert got[a]["creator_id"] == first_id and got[a]["commission"]["amount"] == 0
    # Last touch wins: the checkout line's content beats the cart's.
    assert got[b]["creator_id"] == second_id and got[b]["commission"]["amount"] == 8000


def test_expired_cart_attribution_earns_nothing(market, creator):
    creator_token, _ = creator
    buyer = _buyer(market)
    product = _product(market)
    content = _content(market, creator_token, [product])
    assert _put_cart(market, buyer, product, 1, content).status_code == 200
    _storefront_execute(
        market,
        "UPDATE cart_items SET attributed_at = now() - interval '8 days' WHERE product_id = %s",
        (product,))
    cart = market.get("/api/v1/cart", token=buyer).json()
    assert next(i for i in cart["items"] if i["product_id"] == product)["attribution"] is None
    response = market.checkout(product, token=buyer)
    assert response.status_code == 201, response.text
    seller_view = market.order(response.json()["order"]["id"], market.seller)
    assert seller_view["items"][0]["attribution"] is None


@pytest.mark.parametrize("rate", [-1, 8001, 1.5, "1000", True])
def test_commission_rate_out_of_range_is_a_422(market, rate):
    response = market.post("/api/v1/products", token=market.seller, json={
        "title": "Batik salah", "price": 1000, "stock": 1, "commission_rate_bps": rate})
    assert response.status_code == 422
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert "commission_rate_bps" in response.json()["errors"]
    product = _product(market)
    patched = market.request("PATCH", f"/api/v1/products/{product}", token=market.seller,
                             json={"commission_rate_bps": rate})
    assert patched.status_code == 422
    assert "commission_rate_bps" in patched.json()["errors"]


def test_content_that_does_not_tag_the_product_is_a_422(market, creator):
    creator_token, _ = creator
    buyer = _buyer(market)
    tagged, untagged = _product(market), _product(market)
    content = _content(market, creator_token, [tagged])
    for content_id in (content, str(uuid.uuid4())):
        response = _put_cart(market, buyer, untagged, 1, content_id)
        assert response.status_code == 422, response.text
        assert response.json()["type"].endswith("invalid-attribution")
        assert "content_id" in response.json()["errors"]
    stock = market.stock(untagged)
    response = market.checkout([{"product_id": untagged, "quantity": 1, "content_id": content}],
                               token=buyer)
    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert any("content_id" in name for name in response.json()["errors"])
    assert market.stock(untagged) == stock  # nothing reserved
    bad = market.checkout([{"product_id": tagged, "quantity": 1, "content_id": "nope"}],
                          token=buyer)
    assert bad.status_code == 422


def test_a_creator_buying_from_their_own_content_is_refused(market, creator):
    """Accounts have one role, so a creator cannot check out; the showcase still refuses a
    self-attributed reservation should the marketplace ever ask for one."""
    creator_token, creator_id = creator
    product = _product(market)
    content = _content(market, creator_token, [product])
    response = market.session.post(
        f"{market.stack.urls.storefront}/internal/reservations",
        headers={"X-Internal-Token": market.stack.secrets["internal_token"]},
        json={"order_id": str(uuid.uuid4()), "buyer_id": creator_id,
              "items": [{"product_id": product, "quantity": 1, "content_id": content}]},
        timeout=10)
    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith("self-attribution")
    assert _put_cart(market, creator_token, product, 1, content).status_code == 403


@pytest.mark.parametrize("path", ["balance", "ledger", "earnings", "orders", "payouts"])
def test_creator_money_access(market, path):
    url = f"/api/v1/creators/me/{path}"
    assert market.get(url).status_code == 401
    for token in (market.buyer, market.seller, market.admin):
        response = market.get(url, token=token)
        assert response.status_code == 403, (path, response.text)
        assert response.headers["Content-Type"].startswith("application/problem+json")
    creator_token, _ = _creator(market)
    assert market.get(url, token=creator_token).status_code == 200


def test_creator_sees_only_their_own_lines(market):
    (first_token, _), (second_token, _) = _creator(market), _creator(market)
    buyer = _buyer(market)
    product = _product(market)
    content = _content(market, first_token, [product])
    order = market.checkout([{"product_id": product, "quantity": 1, "content_id": content}],
                            token=buyer).json()["order"]
    # No creator reads the order itself (the buyer's address, the payment, other lines).
    assert market.get(f"/api/v1/orders/{order['id']}", token=first_token).status_code == 404
    assert market.get(f"/api/v1/orders/{order['id']}", token=second_token).status_code == 404
    assert market.get(f"/api/v1/orders/{order['id']}", token=market.other_seller
                      ).status_code == 404
    # The attributed creator sees the line; the other creator sees nothing of it.
    first = market.get("/api/v1/creators/me/orders", token=first_token).json()["data"]
    assert [o["id"] for o in first] == [order["id"]]
    assert market.get("/api/v1/creators/me/orders", token=second_token).json()["data"] == []
    assert market.get("/api/v1/creators/me/earnings", token=second_token).json()["data"] == []


def test_concurrent_creator_payouts_never_exceed_available(market, creator):
    creator_token, creator_id = creator
    buyer = _buyer(market)
    product = _product(market, rate=5000, price=10_000)
    content = _content(market, creator_token, [product])
    order = market.checkout([{"product_id": product, "quantity": 2, "content_id": content}],
                            token=buyer).json()["order"]
    _pay_and_wait(market, order["id"], buyer)
    market.post(f"/api/v1/orders/{order['id']}/ship", token=market.seller,
                json={"tracking_number": "JNE-AFF-2"})
    assert market.post(f"/api/v1/orders/{order['id']}/confirm-receipt",
                       token=buyer).status_code == 200
    # 10 000 available; twelve concurrent payouts of 1 000: exactly ten succeed.
    results = market.concurrently([
        lambda: market.post("/api/v1/creators/me/payouts", token=creator_token,
                            key=str(uuid.uuid4()), json={"amount": 1_000})
        for _ in range(12)], workers=12)
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201] * 10 + [409] * 2, [r.text for r in results if r.status_code >= 500]
    balance = market.get("/api/v1/creators/me/balance", token=creator_token).json()
    assert balance["available"] == 0 and balance["paid_out"] == 10_000
    assert creator_id in balance["creator_id"]


def test_earnings_are_cursor_paginated_per_content(market, creator):
    creator_token, _ = creator
    buyer = _buyer(market)
    product = _product(market, price=20_000)
    contents = [_content(market, creator_token, [product]) for _ in range(2)]
    for content in contents:
        order = market.checkout([{"product_id": product, "quantity": 1, "content_id": content}],
                                token=buyer).json()["order"]
        _pay_and_wait(market, order["id"], buyer)
    first = market.get("/api/v1/creators/me/earnings?limit=1", token=creator_token).json()
    assert len(first["data"]) == 1 and first["next_cursor"]
    assert first["data"][0]["pending_commission"]["amount"] == 2_000
    assert first["data"][0]["commission"]["amount"] == 0  # not completed yet
    second = market.get(f"/api/v1/creators/me/earnings?limit=1&cursor={first['next_cursor']}",
                        token=creator_token).json()
    assert second["next_cursor"] is None
    assert {first["data"][0]["content_id"], second["data"][0]["content_id"]} == set(contents)
    bad = market.get("/api/v1/creators/me/earnings?cursor=garbage", token=creator_token)
    assert bad.status_code == 422
    assert bad.headers["Content-Type"].startswith("application/problem+json")
