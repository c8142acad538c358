"""Creators' content and the feed."""

from __future__ import annotations

import uuid

import pytest


def _post(storefront, creator, product_ids=None, **overrides):
    body = {"kind": "video", "title": "Review jujur produk lokal",
            "media_url": "https://media.example.com/v/1.mp4", "product_ids": product_ids}
    body.update(overrides)
    return storefront.api.post("/api/v1/contents", token=creator.token, json=body)


@pytest.fixture
def catalogue(make_actor, make_product):
    seller = make_actor("seller")
    return seller, [make_product(seller, stock=5, price=10000 * (i + 1),
                                 images=[f"https://cdn.example.com/{i}.jpg"]) for i in range(3)]


def test_a_creator_posts_content_tagging_products(storefront, make_actor, catalogue):
    _, products = catalogue
    creator = make_actor("creator")
    response = _post(storefront, creator, [products[2]["id"], products[0]["id"]], kind="live")
    assert response.status_code == 201, response.text
    content = response.json()
    assert content["kind"] == "live"
    assert content["creator"] == {"id": creator.id, "name": "Test creator"}
    assert [p["id"] for p in content["products"]] == [products[2]["id"], products[0]["id"]]
    tagged = content["products"][0]
    assert tagged["price"] == {"amount": 30000, "currency": "IDR"}
    assert (tagged["in_stock"], tagged["stock"]) == (True, 5)
    assert tagged["image"] == "https://cdn.example.com/2.jpg"
    fetched = storefront.api.get(f"/api/v1/contents/{content['id']}")
    assert fetched.status_code == 200 and fetched.json() == content


def test_only_creators_post_content(storefront, make_actor, catalogue):
    seller, products = catalogue
    ids = [products[0]["id"]]
    assert storefront.api.post("/api/v1/contents", json={}).status_code == 401
    assert _post(storefront, seller, ids).status_code == 403
    assert _post(storefront, make_actor("buyer"), ids).status_code == 403


def test_tagged_products_must_exist_and_be_for_sale(storefront, make_actor, catalogue):
    seller, products = catalogue
    creator = make_actor("creator")
    storefront.api.patch(f"/api/v1/products/{products[1]['id']}", token=seller.token,
                         json={"status": "inactive"})
    unknown = str(uuid.uuid4())
    response = _post(storefront, creator, [products[0]["id"], products[1]["id"], unknown])
    assert response.status_code == 422
    messages = " ".join(response.json()["errors"]["product_ids"])
    assert products[1]["id"] in messages and unknown in messages
    assert products[0]["id"] not in messages
    assert storefront.sql("SELECT count(*) AS n FROM contents WHERE creator_id = %s",
                          (creator.id,))[0]["n"] == 0


@pytest.mark.parametrize(
    "overrides",
    [
        {"kind": "story"}, {"title": "ab"}, {"title": "Judul\u0000"},
        {"media_url": "javascript:alert(1)"}, {"media_url": "ftp://x.example.com/v.mp4"},
        {"product_ids": []}, {"product_ids": [str(uuid.uuid4()) for _ in range(21)]},
        {"product_ids": ["not-a-uuid"]}, {"likes": 5},
    ],
)
def test_invalid_content_is_422(storefront, make_actor, catalogue, overrides):
    _, products = catalogue
    overrides = {"product_ids": [products[0]["id"]], **overrides}
    response = _post(storefront, make_actor("creator"), **overrides)
    assert response.status_code == 422, response.text


def test_duplicate_tags_are_422(storefront, make_actor, catalogue):
    _, products = catalogue
    pid = products[0]["id"]
    assert _post(storefront, make_actor("creator"), [pid, pid]).status_code == 422


def test_unknown_and_malformed_content_ids_are_404(storefront):
    assert storefront.api.get(f"/api/v1/contents/{uuid.uuid4()}").status_code == 404
    assert storefront.api.get("/api/v1/contents/xyz").status_code == 404


def test_feed_is_newest_first_with_live_availability(storefront, make_actor, catalogue):
    seller, products = catalogue
    creator = make_actor("creator")
    older = _post(storefront, creator, [products[0]["id"], products[1]["id"]]).json()
    newer = _post(storefront, creator, [products[2]["id"]], kind="live").json()

    feed = storefront.api.get("/api/v1/feed", params={"limit": 100}).json()["data"]
    ids = [item["id"] for item in feed]
    assert ids.index(newer["id"]) < ids.index(older["id"])

    # Sold out and deactivated products change what the feed shows.
    storefront.api.patch(f"/api/v1/products/{products[0]['id']}", token=seller.token,
                         json={"stock": 0})
    storefront.api.patch(f"/api/v1/products/{products[1]['id']}", token=seller.token,
                         json={"status": "inactive"})
    feed = storefront.api.get("/api/v1/feed", params={"limit": 100}).json()["data"]
    item = next(i for i in feed if i["id"] == older["id"])
    assert [(p["id"], p["in_stock"], p["stock"]) for p in item["products"]] == [
        (products[0]["id"], False, 0)
    ]
    fetched = storefront.api.get(f"/api/v1/contents/{older['id']}").json()
    assert [p["id"] for p in fetched["products"]] == [products[0]["id"]]


def test_feed_pages_do_not_overlap(storefront, make_actor, catalogue):
    _, products = catalogue
    creator = make_actor("creator")
    for _ in range(3):
        _post(storefront, creator, [products[0]["id"]])
    first = storefront.api.get("/api/v1/feed", params={"limit": 2}).json()
    second = storefront.api.get("/api/v1/feed",
                                params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert len(first["data"]) == 2 and second["data"]
    assert not {i["id"] for i in first["data"]} & {i["id"] for i in second["data"]}
    first_times = [i["created_at"] for i in first["data"]]
    assert first_times == sorted(first_times, reverse=True)
    assert storefront.api.get("/api/v1/feed", params={"limit": 500}).status_code == 422
