"""Shops: one per seller; public browsing with cursor pagination."""

from __future__ import annotations

import uuid

import pytest


def test_a_seller_opens_one_shop(storefront, make_actor):
    seller = make_actor("seller", shop=False)
    body = {"name": "  Toko Batik Lestari ", "description": "Batik tulis", "city": "Solo"}
    response = storefront.api.post("/api/v1/shops", token=seller.token, json=body)
    assert response.status_code == 201, response.text
    shop = response.json()
    assert shop["name"] == "Toko Batik Lestari"
    assert shop["owner"] == {"id": seller.id, "name": "Test seller"}
    again = storefront.api.post("/api/v1/shops", token=seller.token, json={"name": "Kedua"})
    assert again.status_code == 409
    assert again.json()["type"].endswith("/shop-exists")
    fetched = storefront.api.get(f"/api/v1/shops/{shop['id']}")
    assert fetched.status_code == 200 and fetched.json() == shop


def test_only_sellers_open_shops(storefront, make_actor):
    assert storefront.api.post("/api/v1/shops", json={"name": "Toko"}).status_code == 401
    for role in ("buyer", "creator"):
        actor = make_actor(role)
        response = storefront.api.post("/api/v1/shops", token=actor.token, json={"name": "Toko"})
        assert response.status_code == 403


@pytest.mark.parametrize(
    "body", [{}, {"name": "ab"}, {"name": "x" * 81}, {"name": "Toko\u0000"},
             {"name": "Toko Baru", "owner_id": str(uuid.uuid4())}, {"name": 123}],
)
def test_invalid_shops_are_422(storefront, make_actor, body):
    seller = make_actor("seller", shop=False)
    response = storefront.api.post("/api/v1/shops", token=seller.token, json=body)
    assert response.status_code == 422, response.text


def test_unknown_and_malformed_shop_ids_are_404(storefront):
    assert storefront.api.get(f"/api/v1/shops/{uuid.uuid4()}").status_code == 404
    assert storefront.api.get("/api/v1/shops/not-a-uuid").status_code == 404


def test_shops_are_listed_newest_first_with_a_cursor(storefront, make_actor):
    created = [make_actor("seller").shop_id for _ in range(3)]
    first = storefront.api.get("/api/v1/shops", params={"limit": 2})
    assert first.status_code == 200
    page = first.json()
    assert [s["id"] for s in page["data"]] == created[::-1][:2]
    assert page["next_cursor"]
    second = storefront.api.get("/api/v1/shops",
                                params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert second["data"][0]["id"] == created[0]
    ids = [s["id"] for s in page["data"] + second["data"]]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"limit": "x"},
                                    {"cursor": "garbage"}, {"cursor": "WyJ4IiwieSJd"}])
def test_bad_paging_parameters_are_422(storefront, params):
    response = storefront.api.get("/api/v1/shops", params=params)
    assert response.status_code == 422, response.text
