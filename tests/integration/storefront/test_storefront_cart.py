"""The buyer's cart: current prices, price changes, availability, subtotal."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def shop(make_actor, make_product):
    seller = make_actor("seller")
    return seller, [make_product(seller, stock=10, price=50000) for _ in range(3)]


def _put(storefront, buyer, product_id, quantity):
    return storefront.api.put(f"/api/v1/cart/items/{product_id}", token=buyer.token,
                              json={"quantity": quantity})


def test_an_empty_cart(storefront, make_actor):
    buyer = make_actor("buyer")
    response = storefront.api.get("/api/v1/cart", token=buyer.token)
    assert response.status_code == 200
    assert response.json() == {"buyer_id": buyer.id, "items": [],
                               "subtotal": {"amount": 0, "currency": "IDR"},
                               "available_quantity": 0}


def test_put_adds_then_sets_the_quantity(storefront, make_actor, shop):
    _, (a, b, _) = shop
    buyer = make_actor("buyer")
    assert _put(storefront, buyer, a["id"], 2).status_code == 200
    response = _put(storefront, buyer, b["id"], 1)
    assert response.status_code == 200
    cart = _put(storefront, buyer, a["id"], 3).json()
    assert [(i["product_id"], i["quantity"]) for i in cart["items"]] == [(a["id"], 3), (b["id"], 1)]
    line = cart["items"][0]
    assert line["unit_price"] == line["price_when_added"] == {"amount": 50000, "currency": "IDR"}
    assert line["line_total"]["amount"] == 150000
    assert (line["available"], line["unavailable_reason"], line["price_change"]) == (
        True, None, None
    )
    assert cart["subtotal"]["amount"] == 200000 and cart["available_quantity"] == 4


def test_price_changes_and_unavailability_are_flagged(storefront, make_actor, shop):
    seller, (a, b, c) = shop
    buyer = make_actor("buyer")
    for product in (a, b, c):
        _put(storefront, buyer, product["id"], 4)

    def patch(product, **changes):
        response = storefront.api.patch(f"/api/v1/products/{product['id']}",
                                        token=seller.token, json=changes)
        assert response.status_code == 200

    patch(a, price=45000)  # cheaper, still available
    patch(b, price=60000, stock=3)  # dearer, and fewer left than wanted
    patch(c, status="inactive")
    # Changing the quantity keeps the price it was added at.
    _put(storefront, buyer, a["id"], 5)

    cart = storefront.api.get("/api/v1/cart", token=buyer.token).json()
    lines = {i["product_id"]: i for i in cart["items"]}
    assert lines[a["id"]]["price_change"] == "cheaper"
    assert lines[a["id"]]["price_when_added"]["amount"] == 50000
    assert lines[a["id"]]["unit_price"]["amount"] == 45000
    assert lines[b["id"]]["price_change"] == "dearer"
    assert (lines[b["id"]]["available"], lines[b["id"]]["unavailable_reason"]) == (
        False, "insufficient_stock"
    )
    assert lines[c["id"]]["unavailable_reason"] == "inactive"
    assert cart["subtotal"]["amount"] == 5 * 45000
    patch(b, stock=0)
    lines = {i["product_id"]: i for i in
             storefront.api.get("/api/v1/cart", token=buyer.token).json()["items"]}
    assert lines[b["id"]]["unavailable_reason"] == "out_of_stock"


def test_what_cannot_be_added(storefront, make_actor, shop):
    seller, (a, b, _) = shop
    buyer = make_actor("buyer")
    assert _put(storefront, buyer, str(uuid.uuid4()), 1).status_code == 404
    assert _put(storefront, buyer, "not-a-uuid", 1).status_code == 404
    storefront.api.patch(f"/api/v1/products/{b['id']}", token=seller.token,
                         json={"status": "inactive"})
    assert _put(storefront, buyer, b["id"], 1).status_code == 404
    too_many = _put(storefront, buyer, a["id"], 11)
    assert too_many.status_code == 409
    assert too_many.json()["type"].endswith("/insufficient-stock")
    for bad in (0, 1000, 1.5, "2", True, None):
        assert _put(storefront, buyer, a["id"], bad).status_code == 422, bad
    extra = storefront.api.put(f"/api/v1/cart/items/{a['id']}", token=buyer.token,
                               json={"quantity": 1, "price": 1})
    assert extra.status_code == 422
    assert storefront.api.get("/api/v1/cart", token=buyer.token).json()["items"] == []


def test_delete(storefront, make_actor, shop):
    _, (a, b, _) = shop
    buyer = make_actor("buyer")
    _put(storefront, buyer, a["id"], 1)
    _put(storefront, buyer, b["id"], 1)
    response = storefront.api.delete(f"/api/v1/cart/items/{a['id']}", token=buyer.token)
    assert response.status_code == 200
    assert [i["product_id"] for i in response.json()["items"]] == [b["id"]]
    again = storefront.api.delete(f"/api/v1/cart/items/{a['id']}", token=buyer.token)
    assert again.status_code == 404


def test_only_buyers_have_carts_and_each_sees_only_their_own(storefront, make_actor, shop):
    _, (a, _, _) = shop
    alice, bob = make_actor("buyer"), make_actor("buyer")
    _put(storefront, alice, a["id"], 2)
    assert storefront.api.get("/api/v1/cart", token=bob.token).json()["items"] == []
    assert storefront.api.delete(f"/api/v1/cart/items/{a['id']}",
                                 token=bob.token).status_code == 404
    assert len(storefront.api.get("/api/v1/cart", token=alice.token).json()["items"]) == 1
    assert storefront.api.get("/api/v1/cart").status_code == 401
    for role in ("seller", "creator"):
        actor = make_actor(role)
        assert storefront.api.get("/api/v1/cart", token=actor.token).status_code == 403
        assert _put(storefront, actor, a["id"], 1).status_code == 403
