"""Products: the owning seller manages them; anyone searches and reads."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest


def test_a_seller_adds_a_product_to_their_own_shop(storefront, make_actor, make_product):
    seller = make_actor("seller")
    product = make_product(seller, title="  Kemeja Batik Parang  ", price=185000, stock=25,
                           images=["https://cdn.example.com/a.jpg"])
    assert product["shop_id"] == seller.shop_id
    assert product["title"] == "Kemeja Batik Parang"
    assert product["price"] == {"amount": 185000, "currency": "IDR"}
    assert (product["stock"], product["in_stock"], product["status"]) == (25, True, "active")
    assert product["images"] == ["https://cdn.example.com/a.jpg"]
    fetched = storefront.api.get(f"/api/v1/products/{product['id']}")
    assert fetched.status_code == 200 and fetched.json() == product


def test_the_shop_comes_from_the_account_not_the_token(storefront, make_actor):
    seller = make_actor("seller", shop=False)
    body = {"title": "Produk", "price": 1000, "stock": 1}
    response = storefront.api.post("/api/v1/products", token=seller.token, json=body)
    assert response.status_code == 409
    assert response.json()["type"].endswith("/shop-required")
    # A token with no shop_id claim still works once the shop exists in the database.
    assert storefront.api.post("/api/v1/shops", token=seller.token,
                               json={"name": "Toko Baru"}).status_code == 201
    assert storefront.api.post("/api/v1/products", token=seller.token,
                               json=body).status_code == 201


def test_only_sellers_add_products(storefront, make_actor):
    body = {"title": "Produk", "price": 1000, "stock": 1}
    assert storefront.api.post("/api/v1/products", json=body).status_code == 401
    for role in ("buyer", "creator"):
        actor = make_actor(role)
        assert storefront.api.post("/api/v1/products", token=actor.token,
                                   json=body).status_code == 403


@pytest.mark.parametrize(
    "overrides",
    [
        {"price": 1500.0}, {"price": 1500.5}, {"price": True}, {"price": "150000"},
        {"price": 0}, {"price": -1}, {"price": 10**13},
        {"stock": -1}, {"stock": 1.0}, {"stock": False},
        {"title": "ab"}, {"title": "x" * 201}, {"title": "Judul\u0000"},
        {"description": "isi\u0000"}, {"status": "deleted"},
        {"images": ["ftp://cdn.example.com/a.jpg"]}, {"images": ["javascript:alert(1)"]},
        {"images": "https://cdn.example.com/a.jpg"}, {"images": ["https://x.example.com/a"] * 11},
        {"shop_id": str(uuid.uuid4())}, {"title": None},
    ],
)
def test_invalid_products_are_422_and_write_nothing(storefront, make_actor, overrides):
    seller = make_actor("seller")
    body = {"title": "Produk uji", "price": 150000, "stock": 10}
    body.update(overrides)
    response = storefront.api.post("/api/v1/products", token=seller.token, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["errors"]
    assert storefront.sql("SELECT count(*) AS n FROM products WHERE shop_id = %s",
                          (seller.shop_id,))[0]["n"] == 0


def test_the_owner_edits_a_product(storefront, make_actor, make_product):
    seller = make_actor("seller")
    product = make_product(seller)
    response = storefront.api.patch(
        f"/api/v1/products/{product['id']}", token=seller.token,
        json={"price": 99000, "stock": 0, "title": "Judul baru"},
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["price"]["amount"] == 99000
    assert (updated["stock"], updated["in_stock"], updated["title"]) == (0, False, "Judul baru")
    assert updated["description"] == product["description"]
    assert updated["updated_at"] > product["updated_at"]


def test_another_seller_gets_404_and_nothing_changes(storefront, make_actor, make_product):
    owner, other = make_actor("seller"), make_actor("seller")
    product = make_product(owner)
    response = storefront.api.patch(f"/api/v1/products/{product['id']}", token=other.token,
                                    json={"price": 1})
    assert response.status_code == 404
    assert storefront.api.get(f"/api/v1/products/{product['id']}").json() == product
    buyer = make_actor("buyer")
    assert storefront.api.patch(f"/api/v1/products/{product['id']}", token=buyer.token,
                                json={"price": 1}).status_code == 403
    assert storefront.api.patch(f"/api/v1/products/{product['id']}",
                                json={"price": 1}).status_code == 401


@pytest.mark.parametrize("body", [{}, {"price": 0}, {"price": None}, {"stock": -5},
                                  {"id": str(uuid.uuid4())}, {"title": "\u0000abc"}])
def test_invalid_edits_are_422(storefront, make_actor, make_product, body):
    seller = make_actor("seller")
    product = make_product(seller)
    response = storefront.api.patch(f"/api/v1/products/{product['id']}", token=seller.token,
                                    json=body)
    assert response.status_code == 422, response.text
    assert storefront.api.get(f"/api/v1/products/{product['id']}").json() == product


def test_unknown_and_malformed_product_ids_are_404(storefront, make_actor):
    seller = make_actor("seller")
    assert storefront.api.get(f"/api/v1/products/{uuid.uuid4()}").status_code == 404
    assert storefront.api.get("/api/v1/products/123").status_code == 404
    assert storefront.api.patch(f"/api/v1/products/{uuid.uuid4()}", token=seller.token,
                                json={"price": 5}).status_code == 404


def test_search_uses_full_text_and_hides_inactive_products(storefront, make_actor, make_product):
    seller = make_actor("seller")
    word = f"zq{uuid.uuid4().hex[:8]}"
    shirt = make_product(seller, title=f"Kemeja {word} lengan panjang")
    sambal = make_product(seller, title="Sambal roa", description=f"pedas {word} mantap")
    hidden = make_product(seller, title=f"Kemeja {word} lama", status="inactive")

    def search(q, **params):
        response = storefront.api.get("/api/v1/products", params={"q": q, **params})
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["data"]]

    assert search(word) == [sambal["id"], shirt["id"]]
    assert search(f"{word} kemeja") == [shirt["id"]]
    assert search(f"{word} -kemeja") == [sambal["id"]]
    assert search(f'"{word} lengan"') == [shirt["id"]]
    assert hidden["id"] not in search(word)
    assert storefront.api.get(f"/api/v1/products/{hidden['id']}").json()["status"] == "inactive"
    # Operators and punctuation never break the query.
    for odd in ["&|!", "(((", "a:*", "'", "OR", "-"]:
        assert storefront.api.get("/api/v1/products", params={"q": odd}).status_code == 200
    assert storefront.api.get("/api/v1/products", params={"q": "a\u0000"}).status_code == 422


def test_products_of_a_shop_page_by_page(storefront, make_actor, make_product):
    seller = make_actor("seller")
    ids = [make_product(seller)["id"] for _ in range(5)]
    seen, cursor = [], None
    while True:
        params = {"shop_id": seller.shop_id, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = storefront.api.get("/api/v1/products", params=params).json()
        seen += [p["id"] for p in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids[::-1]
    assert storefront.api.get("/api/v1/products",
                              params={"shop_id": "nope"}).status_code == 422


# ------------------------------------------------------------ versions (ETag / If-Match)


def _etag(response) -> str:
    etag = response.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"'), etag
    return etag


def test_a_product_read_carries_its_version_and_answers_304_when_unchanged(
        storefront, make_actor, make_product):
    seller = make_actor("seller")
    product = make_product(seller)
    path = f"/api/v1/products/{product['id']}"
    first = storefront.api.get(path)
    etag = _etag(first)
    unchanged = storefront.api.get(path, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert _etag(unchanged) == etag

    edited = storefront.api.patch(path, token=seller.token, json={"price": 99000})
    assert edited.status_code == 200 and _etag(edited) != etag
    again = storefront.api.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 200 and again.json()["price"]["amount"] == 99000
    assert _etag(again) == _etag(edited)


def test_an_edit_with_a_stale_version_is_412_and_changes_nothing(
        storefront, make_actor, make_product):
    seller = make_actor("seller")
    product = make_product(seller, stock=10)
    path = f"/api/v1/products/{product['id']}"
    seen = _etag(storefront.api.get(path))
    # A sale takes stock after the seller read the product: the version moves on.
    sale = storefront.internal.post("/internal/reservations", json={
        "order_id": str(uuid.uuid4()), "buyer_id": str(uuid.uuid4()),
        "items": [{"product_id": product["id"], "quantity": 3}]})
    assert sale.status_code == 201, sale.text

    stale = storefront.api.patch(path, token=seller.token, json={"stock": 20},
                                 headers={"If-Match": seen})
    assert stale.status_code == 412, stale.text
    assert stale.headers["Content-Type"].startswith("application/problem+json")
    body = stale.json()
    assert body["type"].endswith("/precondition-failed")
    current = storefront.api.get(path)
    assert current.json()["stock"] == 7  # the seller's absolute 20 did not erase the sale
    assert f'"{body["current_version"]}"' == _etag(current)

    fresh = storefront.api.patch(path, token=seller.token, json={"stock": 20},
                                 headers={"If-Match": _etag(current)})
    assert fresh.status_code == 200 and fresh.json()["stock"] == 20
    for unconditional in ({}, {"If-Match": "*"}):
        response = storefront.api.patch(path, token=seller.token, json={"stock": 21},
                                        headers=unconditional)
        assert response.status_code == 200, response.text
    garbage = storefront.api.patch(path, token=seller.token, json={"stock": 1},
                                   headers={"If-Match": '"not-a-version"'})
    assert garbage.status_code == 412
    # Tags that can never be a version are a 412 problem too, never a 500 (issue 12).
    for never in ('""', '"99999999999999999999999999"', '"9223372036854775808"', '"²"',
                  '"-1"', 'W/"7"', '"", "x"'):
        refused = storefront.api.patch(path, token=seller.token, json={"stock": 1},
                                       headers={"If-Match": never})
        assert refused.status_code == 412, (never, refused.text)
        assert refused.headers["Content-Type"].startswith("application/problem+json")
    assert storefront.api.get(path).json()["stock"] == 21
    # Another seller still learns nothing: 404, whatever the If-Match.
    other = make_actor("seller")
    assert storefront.api.patch(path, token=other.token, json={"stock": 1},
                                headers={"If-Match": seen}).status_code == 404


def test_concurrent_edits_from_one_version_apply_exactly_once(
        storefront, make_actor, make_product):
    seller = make_actor("seller")
    product = make_product(seller, stock=5)
    path = f"/api/v1/products/{product['id']}"
    etag = _etag(storefront.api.get(path))
    gate = threading.Barrier(8)

    def edit(stock):
        gate.wait()
        return storefront.api.patch(path, token=seller.token, json={"stock": stock},
                                    headers={"If-Match": etag})

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(edit, range(100, 108)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [412] * 7, [r.text for r in responses]
    [winner] = [r for r in responses if r.status_code == 200]
    assert storefront.api.get(path).json()["stock"] == winner.json()["stock"]


def test_a_seller_lists_their_own_inactive_products_and_nobody_else_does(
        storefront, make_actor, make_product):
    seller = make_actor("seller")
    active = make_product(seller, title="Masih dijual")
    withdrawn = make_product(seller, title="Sudah ditarik")
    hidden = storefront.api.patch(f"/api/v1/products/{withdrawn['id']}", token=seller.token,
                                  json={"status": "inactive"})
    assert hidden.status_code == 200

    def ids(response):
        assert response.status_code == 200, response.text
        return {p["id"] for p in response.json()["data"]}

    shop = {"shop_id": seller.shop_id}
    assert ids(storefront.api.get("/api/v1/products", params=shop)) == {active["id"]}
    mine = storefront.api.get("/api/v1/products", token=seller.token,
                              params={"status": "inactive"})
    assert ids(mine) == {withdrawn["id"]}
    both = storefront.api.get("/api/v1/products", token=seller.token,
                              params={**shop, "status": "all"})
    assert ids(both) == {active["id"], withdrawn["id"]}

    other = make_actor("seller")
    buyer = make_actor("buyer")
    for token, status in ((None, 401), (buyer.token, 403), (other.token, 403)):
        response = storefront.api.get("/api/v1/products", token=token,
                                      params={**shop, "status": "inactive"})
        assert response.status_code == status, response.text
        assert response.headers["Content-Type"].startswith("application/problem+json")
    # Another seller asking for "their" inactive products sees only their own (none).
    assert ids(storefront.api.get("/api/v1/products", token=other.token,
                                  params={"status": "inactive"})) == set()
    assert storefront.api.get("/api/v1/products",
                              params={"status": "deleted"}).status_code == 422
