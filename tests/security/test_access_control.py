"""Object-level access control: a buyer sees and acts on their own orders only, a seller on
their own shop's products and orders only. Someone else's object answers 404 (its
existence is not even confirmed) and is left exactly as it was."""

from __future__ import annotations

import uuid

import pytest
from security_client import assert_problem, assert_unchanged, claims_of


@pytest.fixture(scope="module")
def victim_order(client, seller):
    """An UNPAID order of a freshly registered buyer, for a product of seller@'s shop."""
    _, victim = client.register("buyer")
    product = client.create_product(seller)
    order = client.checkout(victim, product["id"])
    return {"order": order, "token": victim, "product": product}


def _order_row(client, order_id: str):
    return client.sql("transaction", "SELECT status, buyer_id, shop_id, updated_at, "
                      "tracking_number FROM orders WHERE id = %s", (order_id,))


def test_buyer_cannot_read_or_act_on_another_buyers_order(client, victim_order):
    _, intruder = client.register("buyer")
    order_id = victim_order["order"]["id"]
    row, counts = _order_row(client, order_id), client.counts(idempotency=False)

    assert_problem(client.get(f"/api/v1/orders/{order_id}", token=intruder), 404)
    resp = client.post(f"/api/v1/orders/{order_id}/cancel", token=intruder,
                       headers={"Idempotency-Key": str(uuid.uuid4())})
    assert_problem(resp, 404)
    assert_problem(client.post(f"/api/v1/orders/{order_id}/confirm-receipt",
                               token=intruder), 404)
    listing = client.get("/api/v1/orders?role=buyer", token=intruder)
    assert listing.status_code == 200 and listing.json()["data"] == []
    # asking for another role's view is refused, not silently widened
    assert_problem(client.get("/api/v1/orders?role=admin", token=intruder), 403)
    assert_problem(client.get("/api/v1/orders?role=seller", token=intruder), 403)

    assert _order_row(client, order_id) == row
    assert_unchanged(counts, client.counts(idempotency=False))
    client.refused_keys_only(intruder)
    assert client.order(order_id, victim_order["token"])["status"] == "UNPAID"


def test_seller_cannot_touch_another_shops_orders(client, victim_order, seller2):
    order_id = victim_order["order"]["id"]
    row, counts = _order_row(client, order_id), client.counts(idempotency=False)

    assert_problem(client.get(f"/api/v1/orders/{order_id}", token=seller2), 404)
    resp = client.post(f"/api/v1/orders/{order_id}/ship", token=seller2,
                       json={"tracking_number": "JNE-HIJACK-1"})
    assert_problem(resp, 404)
    theirs = client.get("/api/v1/orders?role=seller&limit=100", token=seller2)
    assert theirs.status_code == 200
    assert order_id not in {o["id"] for o in theirs.json()["data"]}
    # a seller is not a buyer of this order either
    resp = client.post(f"/api/v1/orders/{order_id}/cancel", token=seller2,
                       headers={"Idempotency-Key": str(uuid.uuid4())})
    assert_problem(resp, (403, 404))

    assert _order_row(client, order_id) == row
    assert_unchanged(counts, client.counts(idempotency=False))
    client.refused_keys_only(seller2)


def test_seller_cannot_change_another_shops_product(client, seller, seller2):
    product = client.create_product(seller, stock=7, price=99000)
    _, buyer = client.register("buyer")
    before, counts = client.product(product["id"]), client.counts()

    for change in ({"price": 1}, {"stock": 0}, {"status": "inactive"},
                   {"title": "Hijacked by another shop"}):
        resp = client.request("PATCH", f"/api/v1/products/{product['id']}", token=seller2,
                              json=change)
        assert_problem(resp, 404)
    # a buyer cannot either (role check)
    resp = client.request("PATCH", f"/api/v1/products/{product['id']}", token=buyer,
                          json={"price": 1})
    assert_problem(resp, 403)

    assert client.product(product["id"]) == before
    assert_unchanged(counts, client.counts())
    # the owner still can (the refusals above were about ownership, not a broken route)
    resp = client.request("PATCH", f"/api/v1/products/{product['id']}", token=seller,
                          json={"price": 98000})
    assert resp.status_code == 200 and resp.json()["price"]["amount"] == 98000


def test_roles_are_enforced_for_writes(client):
    """A buyer cannot create products or shops; nothing is stored."""
    # A fresh buyer: the demo buyer's own checkouts (other tests) are not refusals.
    _, buyer = client.register("buyer")
    counts = client.counts(idempotency=False)
    assert_problem(client.post("/api/v1/products", token=buyer,
                               json={"title": "Buyer product", "price": 1000, "stock": 1}), 403)
    assert_problem(client.post("/api/v1/shops", token=buyer, json={"name": "Buyer shop"}), 403)
    assert_problem(client.post("/api/v1/sellers/me/payouts", token=buyer,
                               headers={"Idempotency-Key": str(uuid.uuid4())},
                               json={"amount": 1000}), 403)
    assert_problem(client.get("/api/v1/admin/audit/verify", token=buyer), 403)
    assert_unchanged(counts, client.counts(idempotency=False))
    # The role is checked before the Idempotency-Key is claimed: a refused payout leaves
    # no key behind.
    rows = client.sql("transaction", "SELECT count(*) FROM idempotency_keys WHERE account_id = %s",
                      (claims_of(buyer)["sub"],))
    assert rows == [(0,)]


def test_a_sellers_money_is_their_own(client, seller, seller2):
    """Balance and ledger are always the caller's shop: no id to swap."""
    mine = client.get("/api/v1/sellers/me/balance", token=seller)
    theirs = client.get("/api/v1/sellers/me/balance", token=seller2)
    assert mine.status_code == theirs.status_code == 200
    assert mine.json().get("shop_id") != theirs.json().get("shop_id")
    resp = client.get(f"/api/v1/sellers/me/balance?shop_id={mine.json().get('shop_id')}",
                      token=seller2)
    assert resp.status_code in (200, 422)
    if resp.status_code == 200:
        assert resp.json() == theirs.json()
