"""The internal reservation API, exactly as docs/architecture.md specifies it."""

from __future__ import annotations

import uuid

import pytest
from api_client import ApiClient


def _body(items, order_id=None, buyer_id=None):
    return {
        "order_id": order_id or str(uuid.uuid4()),
        "buyer_id": buyer_id or str(uuid.uuid4()),
        "items": [{"product_id": p, "quantity": q} for p, q in items],
    }


def _stock(storefront, product_id):
    return storefront.sql("SELECT stock FROM products WHERE id = %s", (product_id,))[0]["stock"]


@pytest.fixture
def shop_products(make_actor, make_product):
    seller = make_actor("seller")
    return seller, [make_product(seller, stock=10, price=25000 * (i + 1)) for i in range(3)]


# ----------------------------------------------------------------------------- auth


def test_internal_endpoints_refuse_anything_but_the_service_token(storefront, make_actor):
    buyer = make_actor("buyer")
    order = str(uuid.uuid4())
    anonymous = ApiClient(storefront.internal.base_url)
    wrong = ApiClient(storefront.internal.base_url, {"X-Internal-Token": "not-it"})
    body = _body([(str(uuid.uuid4()), 1)])
    for client, kwargs in [(anonymous, {}), (wrong, {}), (anonymous, {"token": buyer.token})]:
        for method, path, json in [
            ("POST", "/internal/reservations", body),
            ("GET", f"/internal/reservations/{order}", None),
            ("POST", f"/internal/reservations/{order}/commit", None),
            ("POST", f"/internal/reservations/{order}/release", None),
            ("POST", f"/internal/reservations/{order}/restock", None),
        ]:
            response = client.request(method, path, json=json, **kwargs)
            assert response.status_code == 401, (method, path, response.text)
            assert response.json()["type"].endswith("/unauthorized")


def test_invalid_bodies_get_401_before_422_when_unauthenticated(storefront):
    response = ApiClient(storefront.internal.base_url).post(
        "/internal/reservations", json={"nonsense": True}
    )
    assert response.status_code == 401


def test_jwks_is_published(storefront):
    response = storefront.internal.get("/internal/jwks.json")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert keys and all(k["kty"] == "RSA" and "kid" in k and "d" not in k for k in keys)


# ----------------------------------------------------------------------------- reserve


def test_reserve_takes_stock_and_quotes_current_prices(storefront, shop_products):
    seller, (a, b, _) = shop_products
    body = _body([(a["id"], 2), (b["id"], 1)])
    response = storefront.internal.post("/internal/reservations", json=body)
    assert response.status_code == 201, response.text
    reservation = response.json()
    assert reservation["order_id"] == body["order_id"]
    assert reservation["buyer_id"] == body["buyer_id"]
    assert reservation["shop_id"] == seller.shop_id
    assert reservation["status"] == "active"
    assert reservation["expires_at"].endswith("+00:00")
    items = {i["product_id"]: i for i in reservation["items"]}
    assert items[a["id"]] == {
        "product_id": a["id"], "shop_id": seller.shop_id, "title": a["title"], "quantity": 2,
        "unit_price": {"amount": 25000, "currency": "IDR"},
        "attribution": None,  # bought from no creator's content
    }
    assert items[b["id"]]["unit_price"]["amount"] == 50000
    assert (_stock(storefront, a["id"]), _stock(storefront, b["id"])) == (8, 9)


def test_reserve_is_idempotent_on_order_id(storefront, shop_products):
    _, (a, _, _) = shop_products
    body = _body([(a["id"], 2)])
    first = storefront.internal.post("/internal/reservations", json=body)
    again = storefront.internal.post("/internal/reservations", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert _stock(storefront, a["id"]) == 8

    different = dict(body, items=[{"product_id": a["id"], "quantity": 3}])
    conflict = storefront.internal.post("/internal/reservations", json=different)
    assert conflict.status_code == 409
    assert conflict.json()["type"].endswith("/reservation-mismatch")
    other_buyer = dict(body, buyer_id=str(uuid.uuid4()))
    assert storefront.internal.post("/internal/reservations", json=other_buyer).status_code == 409
    assert _stock(storefront, a["id"]) == 8


def test_a_repeat_is_answered_even_after_a_price_change(storefront, shop_products):
    seller, (a, _, _) = shop_products
    body = _body([(a["id"], 1)])
    created = storefront.internal.post("/internal/reservations", json=body)
    assert created.status_code == 201, created.text
    first = created.json()
    assert first["items"][0]["unit_price"]["amount"] != 1
    patched = storefront.api.patch(f"/api/v1/products/{a['id']}", token=seller.token,
                                   json={"price": 1})
    assert patched.status_code == 200 and patched.json()["price"]["amount"] == 1
    again = storefront.internal.post("/internal/reservations", json=body)
    assert again.status_code == 200
    assert again.json()["items"][0]["unit_price"] == first["items"][0]["unit_price"]


def test_insufficient_stock_takes_nothing(storefront, shop_products):
    _, (a, b, _) = shop_products
    response = storefront.internal.post(
        "/internal/reservations", json=_body([(a["id"], 3), (b["id"], 11)])
    )
    assert response.status_code == 409
    problem = response.json()
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert problem["type"].endswith("/insufficient-stock")
    assert (problem["product_id"], problem["requested"], problem["available"]) == (
        b["id"], 11, 10
    )
    assert (_stock(storefront, a["id"]), _stock(storefront, b["id"])) == (10, 10)
    assert storefront.sql(
        "SELECT count(*) AS n FROM reservations r JOIN reservation_items i USING (order_id)"
        " WHERE i.product_id = %s", (a["id"],)
    )[0]["n"] == 0


def test_items_from_two_shops_are_refused(storefront, shop_products, make_actor, make_product):
    _, (a, _, _) = shop_products
    other = make_product(make_actor("seller"), stock=5)
    response = storefront.internal.post(
        "/internal/reservations", json=_body([(a["id"], 1), (other["id"], 1)])
    )
    assert response.status_code == 422
    assert "items" in response.json()["errors"]
    assert (_stock(storefront, a["id"]), _stock(storefront, other["id"])) == (10, 5)


def test_unknown_and_inactive_products_are_404(storefront, shop_products):
    seller, (a, b, _) = shop_products
    unknown = str(uuid.uuid4())
    response = storefront.internal.post(
        "/internal/reservations", json=_body([(a["id"], 1), (unknown, 1)])
    )
    assert response.status_code == 404
    assert response.json()["product_id"] == unknown
    storefront.api.patch(f"/api/v1/products/{b['id']}", token=seller.token,
                         json={"status": "inactive"})
    response = storefront.internal.post("/internal/reservations", json=_body([(b["id"], 1)]))
    assert response.status_code == 404
    assert response.json()["product_id"] == b["id"]
    assert _stock(storefront, a["id"]) == 10


def test_duplicate_product_ids_are_merged(storefront, shop_products):
    _, (a, _, _) = shop_products
    response = storefront.internal.post(
        "/internal/reservations", json=_body([(a["id"], 2), (a["id"], 3)])
    )
    assert response.status_code == 201
    assert [(i["product_id"], i["quantity"]) for i in response.json()["items"]] == [(a["id"], 5)]
    assert _stock(storefront, a["id"]) == 5
    too_many = storefront.internal.post(
        "/internal/reservations", json=_body([(a["id"], 600), (a["id"], 600)])
    )
    assert too_many.status_code == 422


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b.update(order_id="not-a-uuid"),
        lambda b: b.update(buyer_id=None),
        lambda b: b.update(items=[]),
        lambda b: b.update(items=[{"product_id": str(uuid.uuid4()), "quantity": 0}] * 1),
        lambda b: b.update(items=[{"product_id": str(uuid.uuid4()), "quantity": 1000}]),
        lambda b: b.update(items=[{"product_id": str(uuid.uuid4()), "quantity": 1.0}]),
        lambda b: b.update(items=[{"product_id": str(uuid.uuid4()), "quantity": True}]),
        lambda b: b.update(items=[{"product_id": "x\u0000", "quantity": 1}]),
        lambda b: b.update(items=[{"product_id": str(uuid.uuid4()), "quantity": 1, "x": 1}]),
        lambda b: b.update(extra="field"),
        lambda b: b.pop("items"),
    ],
)
def test_bad_reservation_requests_are_422(storefront, mutate):
    body = _body([(str(uuid.uuid4()), 1)])
    mutate(body)
    response = storefront.internal.post("/internal/reservations", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["errors"]


def test_malformed_json_is_a_problem_not_a_500(storefront):
    response = storefront.internal.post(
        "/internal/reservations", data="{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code in (400, 422)
    assert response.headers["Content-Type"].startswith("application/problem+json")


# ----------------------------------------------------------------------------- lifecycle


def test_commit_is_final_idempotent_and_empties_those_cart_lines(
    storefront, shop_products, make_actor
):
    _, (a, b, c) = shop_products
    buyer = make_actor("buyer")
    for product in (a, b, c):
        assert storefront.api.put(f"/api/v1/cart/items/{product['id']}", token=buyer.token,
                                  json={"quantity": 1}).status_code == 200
    body = _body([(a["id"], 1), (b["id"], 1)], buyer_id=buyer.id)
    order = body["order_id"]
    assert storefront.internal.post("/internal/reservations", json=body).status_code == 201

    first = storefront.internal.post(f"/internal/reservations/{order}/commit")
    again = storefront.internal.post(f"/internal/reservations/{order}/commit")
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json()["status"] == "committed" and first.json()["committed_at"]
    assert again.json() == first.json()
    cart = storefront.api.get("/api/v1/cart", token=buyer.token).json()
    assert [i["product_id"] for i in cart["items"]] == [c["id"]]

    release = storefront.internal.post(f"/internal/reservations/{order}/release")
    assert release.status_code == 409
    assert release.json()["type"].endswith("/invalid-transition")
    # Regression (found by the marketplace's pact): the problem's `status` is the HTTP
    # status; the reservation's state is an extension member.
    assert release.json()["status"] == 409
    assert release.json()["current_status"] == "committed"
    assert (_stock(storefront, a["id"]), _stock(storefront, b["id"])) == (9, 9)


def test_release_returns_stock_once(storefront, shop_products):
    _, (a, _, _) = shop_products
    body = _body([(a["id"], 4)])
    order = body["order_id"]
    storefront.internal.post("/internal/reservations", json=body)
    assert _stock(storefront, a["id"]) == 6

    first = storefront.internal.post(f"/internal/reservations/{order}/release")
    again = storefront.internal.post(f"/internal/reservations/{order}/release")
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.json()["status"] == "released" and first.json()["released_at"]
    assert _stock(storefront, a["id"]) == 10

    commit = storefront.internal.post(f"/internal/reservations/{order}/commit")
    assert commit.status_code == 409
    # A repeat of the original reserve answers with the (released) reservation; no stock.
    repeat = storefront.internal.post("/internal/reservations", json=body)
    assert (repeat.status_code, repeat.json()["status"]) == (200, "released")
    assert _stock(storefront, a["id"]) == 10


def test_restock_returns_the_stock_of_a_committed_reservation_once(storefront, shop_products):
    seller, (a, b, _) = shop_products
    body = _body([(a["id"], 3), (b["id"], 2)])
    order = body["order_id"]
    assert storefront.internal.post("/internal/reservations", json=body).status_code == 201
    committed = storefront.internal.post(f"/internal/reservations/{order}/commit").json()
    assert (_stock(storefront, a["id"]), _stock(storefront, b["id"])) == (7, 8)

    first = storefront.internal.post(f"/internal/reservations/{order}/restock")
    assert first.status_code == 200, first.text
    restocked = first.json()
    assert restocked["status"] == "restocked" and restocked["restocked_at"]
    assert restocked["committed_at"] == committed["committed_at"]  # it was committed
    assert restocked["released_at"] is None
    assert restocked["items"] == committed["items"]
    assert (_stock(storefront, a["id"]), _stock(storefront, b["id"])) == (10, 10)

    again = storefront.internal.post(f"/internal/reservations/{order}/restock")
    assert again.status_code == 200 and again.json() == restocked
    assert (_stock(storefront, a["id"]), _stock(storefront, b["id"])) == (10, 10)
    got = storefront.internal.get(f"/internal/reservations/{order}")
    assert got.status_code == 200 and got.json() == restocked

    # restocked is final: neither commit nor release moves it, and no stock moves
    for action in ("commit", "release"):
        refused = storefront.internal.post(f"/internal/reservations/{order}/{action}")
        assert refused.status_code == 409, (action, refused.text)
        assert refused.json()["current_status"] == "restocked"
    assert (_stock(storefront, a["id"]), _stock(storefront, b["id"])) == (10, 10)


def test_restock_gives_an_inactive_product_its_units_back(storefront, shop_products):
    seller, (a, _, _) = shop_products
    body = _body([(a["id"], 4)])
    order = body["order_id"]
    storefront.internal.post("/internal/reservations", json=body)
    assert storefront.internal.post(f"/internal/reservations/{order}/commit").status_code == 200
    hidden = storefront.api.patch(f"/api/v1/products/{a['id']}", token=seller.token,
                                  json={"status": "inactive"})
    assert hidden.status_code == 200, hidden.text
    response = storefront.internal.post(f"/internal/reservations/{order}/restock")
    assert response.status_code == 200, response.text
    assert _stock(storefront, a["id"]) == 10


@pytest.mark.parametrize("then, hint", [(None, "commit or release"),
                                        ("release", "already returned")])
def test_restock_of_an_active_or_released_reservation_is_a_conflict(
    storefront, shop_products, then, hint
):
    _, (a, _, _) = shop_products
    body = _body([(a["id"], 2)])
    order = body["order_id"]
    storefront.internal.post("/internal/reservations", json=body)
    if then:
        assert storefront.internal.post(f"/internal/reservations/{order}/{then}"
                                        ).status_code == 200
    before = _stock(storefront, a["id"])
    response = storefront.internal.post(f"/internal/reservations/{order}/restock")
    assert response.status_code == 409, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"].endswith("/invalid-transition") and problem["status"] == 409
    assert problem["current_status"] == ("released" if then else "active")
    assert hint in problem["detail"]
    assert _stock(storefront, a["id"]) == before
    status = storefront.internal.get(f"/internal/reservations/{order}").json()["status"]
    assert status == ("released" if then else "active")


def test_get_reservation(storefront, shop_products):
    _, (a, _, _) = shop_products
    body = _body([(a["id"], 1)])
    created = storefront.internal.post("/internal/reservations", json=body).json()
    response = storefront.internal.get(f"/internal/reservations/{body['order_id']}")
    assert response.status_code == 200 and response.json() == created


@pytest.mark.parametrize("suffix", ["", "/commit", "/release", "/restock"])
def test_unknown_or_malformed_order_ids_are_404(storefront, suffix):
    method = "GET" if not suffix else "POST"
    for order in (str(uuid.uuid4()), "not-a-uuid"):
        response = storefront.internal.request(method, f"/internal/reservations/{order}{suffix}")
        assert response.status_code == 404
        assert response.headers["Content-Type"].startswith("application/problem+json")
