"""The marketplace's per-process cache of which shop sells each product (no I/O: a fake
showcase client counts the lookups)."""

import pytest

from transaction_service.clients.storefront import ProductShopCache, StorefrontUnavailable


class FakeShowcase:
    def __init__(self, products: dict[str, dict]):
        self.products = products
        self.asked: list[list[str]] = []
        self.down = False

    def product_shops(self, product_ids):
        self.asked.append(list(product_ids))
        if self.down:
            raise StorefrontUnavailable("down")
        return {pid: dict(self.products[pid]) for pid in product_ids if pid in self.products}


def test_a_product_seen_for_sale_is_not_asked_again():
    showcase = FakeShowcase({"p1": {"shop_id": "s1", "status": "active"},
                             "p2": {"shop_id": "s2", "status": "active"}})
    cache = ProductShopCache(showcase)
    assert cache.product_shops(["p1"]) == {"p1": {"shop_id": "s1", "status": "active"}}
    # Only the product not seen yet is asked about, in one call.
    assert cache.product_shops(["p1", "p2"]) == {
        "p1": {"shop_id": "s1", "status": "active"}, "p2": {"shop_id": "s2", "status": "active"}}
    assert showcase.asked == [["p1"], ["p2"]]
    cache.product_shops(["p2", "p1"])
    assert len(showcase.asked) == 2


def test_unknown_and_withdrawn_products_are_asked_every_time():
    showcase = FakeShowcase({"gone": {"shop_id": "s1", "status": "inactive"}})
    cache = ProductShopCache(showcase)
    for _ in range(2):
        assert cache.product_shops(["gone", "never"]) == {
            "gone": {"shop_id": "s1", "status": "inactive"}}
    assert showcase.asked == [["gone", "never"], ["gone", "never"]]


def test_a_product_withdrawn_after_it_was_seen_is_forgotten_when_asked_again():
    showcase = FakeShowcase({"p": {"shop_id": "s1", "status": "active"}})
    cache = ProductShopCache(showcase, ttl_seconds=0.0)  # every entry already stale
    cache.product_shops(["p"])
    showcase.products["p"]["status"] = "inactive"
    assert cache.product_shops(["p"])["p"]["status"] == "inactive"
    assert cache.product_shops(["p"])["p"]["status"] == "inactive"
    assert len(showcase.asked) == 3


def test_the_showcase_down_is_an_error_for_what_is_not_known():
    showcase = FakeShowcase({"p": {"shop_id": "s1", "status": "active"}})
    cache = ProductShopCache(showcase)
    cache.product_shops(["p"])
    showcase.down = True
    assert cache.product_shops(["p"]) == {"p": {"shop_id": "s1", "status": "active"}}
    with pytest.raises(StorefrontUnavailable):
        cache.product_shops(["p", "q"])
