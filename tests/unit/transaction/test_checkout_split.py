"""Splitting a cart into one order per shop (pure)."""

from __future__ import annotations

import pytest

from transaction_service.domain.checkouts import (
    MAX_SHOPS,
    TooManyShops,
    UnknownProduct,
    split_by_shop,
)


def line(product_id: str, quantity: int = 1) -> dict:
    return {"product_id": product_id, "quantity": quantity}


def test_lines_are_grouped_per_shop_in_shop_id_order():
    known = {"p1": {"shop_id": "s-b", "status": "active"},
             "p2": {"shop_id": "s-a", "status": "active"},
             "p3": {"shop_id": "s-b", "status": "active"}}
    groups = split_by_shop([line("p1"), line("p2", 2), line("p3")], known)
    assert groups == [("s-a", [line("p2", 2)]), ("s-b", [line("p1"), line("p3")])]


@pytest.mark.parametrize("known", [{}, {"p1": {"shop_id": "s", "status": "inactive"}}])
def test_an_unknown_or_withdrawn_product_is_named(known):
    with pytest.raises(UnknownProduct) as caught:
        split_by_shop([line("p1")], known)
    assert caught.value.product_id == "p1"


def test_at_most_ten_shops():
    known = {f"p{i}": {"shop_id": f"s{i:02}", "status": "active"} for i in range(MAX_SHOPS + 1)}
    items = [line(f"p{i}") for i in range(MAX_SHOPS + 1)]
    assert len(split_by_shop(items[:MAX_SHOPS], known)) == MAX_SHOPS
    with pytest.raises(TooManyShops):
        split_by_shop(items, known)
