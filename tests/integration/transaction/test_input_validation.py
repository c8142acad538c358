"""Bad input is a 4xx problem naming the field, never a 500."""

from __future__ import annotations

import uuid

import pytest
from checkout_market import ADDRESS

from servicekit.pagination import encode_cursor


def _checkout(market, body):
    return market.post("/api/v1/checkout", token=market.buyer, key=str(uuid.uuid4()), json=body)


def _body(**overrides):
    body = {"items": [{"product_id": str(uuid.uuid4()), "quantity": 1}],
            "shipping_address": dict(ADDRESS), "payment_method": "bank_transfer"}
    body.update(overrides)
    return body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_body(items=[]), "items"),
        (_body(items=[{"product_id": str(uuid.uuid4()), "quantity": n}
                      for n in [1] * 51]), "items"),
        (_body(items=[{"product_id": "not-a-uuid", "quantity": 1}]), "items.0.product_id"),
        (_body(items=[{"product_id": str(uuid.uuid4()), "quantity": "1"}]), "items.0.quantity"),
        (_body(items=[{"product_id": str(uuid.uuid4()), "quantity": 1.0}]), "items.0.quantity"),
        (_body(items=[{"product_id": str(uuid.uuid4()), "quantity": True}]), "items.0.quantity"),
        (_body(items=[{"product_id": str(uuid.uuid4()), "quantity": 0}]), "items.0.quantity"),
        (_body(items=[{"product_id": str(uuid.uuid4()), "quantity": 1000}]), "items.0.quantity"),
        (_body(items=[{"product_id": str(uuid.uuid4()), "quantity": 2**70}]),
         "items.0.quantity"),
        (_body(payment_method="cash"), "payment_method"),
        (_body(shipping_address={**ADDRESS, "name": "Ri\x00na"}), "shipping_address.name"),
        (_body(shipping_address={**ADDRESS, "phone": "call me"}), "shipping_address.phone"),
        (_body(shipping_address={k: v for k, v in ADDRESS.items() if k != "city"}),
         "shipping_address.city"),
        (_body(coupon="FREE"), "coupon"),
    ],
)
def test_checkout_body_errors_name_the_field(market, body, field):
    response = _checkout(market, body)
    assert response.status_code == 422, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert field in response.json()["errors"], response.json()


def test_duplicate_products_and_unknown_products(market):
    product = str(uuid.uuid4())
    twice = _checkout(market, _body(items=[{"product_id": product, "quantity": 1}] * 2))
    assert twice.status_code == 422 and "items" in twice.json()["errors"]
    unknown = _checkout(market, _body())
    assert unknown.status_code == 422, unknown.text
    assert "items" in "".join(unknown.json()["errors"])


def test_items_of_two_shops_split_into_one_order_per_shop(market):
    # Until one payment across shops (DESIGN.md §5) this was a 422; now the checkout splits.
    mine = market.product()
    theirs = market.product(token=market.other_seller)
    response = _checkout(market, _body(items=[{"product_id": mine, "quantity": 1},
                                              {"product_id": theirs, "quantity": 1}]))
    assert response.status_code == 201, response.text
    body = response.json()
    assert len(body["orders"]) == 2 and "order" not in body
    assert len({o["shop_id"] for o in body["orders"]}) == 2
    assert body["checkout"]["order_ids"] == [o["id"] for o in body["orders"]]


def test_not_json_and_wrong_roles(market):
    raw = market.post("/api/v1/checkout", token=market.buyer, key=str(uuid.uuid4()),
                      data=b"{nope", headers={"Content-Type": "application/json"})
    assert raw.status_code in (400, 422)
    assert market.post("/api/v1/checkout", key=str(uuid.uuid4()),
                       json=_body()).status_code == 401
    seller = market.post("/api/v1/checkout", token=market.seller, key=str(uuid.uuid4()),
                         json=_body(items=[{"product_id": market.product(), "quantity": 1}]))
    assert seller.status_code == 403


@pytest.mark.parametrize("tracking", ["ab", "x" * 65, "JNE\x00123", "", 12345, None])
def test_ship_validation(market, tracking):
    order = market.paid()
    response = market.post(f"/api/v1/orders/{order['id']}/ship", token=market.seller,
                           json={"tracking_number": tracking})
    assert response.status_code == 422, response.text
    assert "tracking_number" in response.json()["errors"]


@pytest.mark.parametrize(
    "position",
    [["not-a-time", str(uuid.uuid4())], ["2026-01-01T00:00:00+00:00", "not-a-uuid"],
     ["2026-01-01T00:00:00", str(uuid.uuid4())]],
)
def test_forged_list_cursors_are_422(market, position):
    # Regression: the orders list passed a forged cursor straight to Postgres (a 500).
    cursor = encode_cursor(position)
    for path, token in [("/api/v1/orders", market.buyer),
                        ("/api/v1/sellers/me/payouts", market.seller),
                        ("/api/v1/sellers/me/ledger", market.seller)]:
        response = market.get(path, token=token, params={"cursor": cursor})
        assert response.status_code == 422, (path, response.text)
        assert response.json()["errors"] == {"cursor": ["Not a valid cursor."]}
