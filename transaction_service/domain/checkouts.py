"""Splitting a cart into one order per shop (DESIGN.md §5). Pure code."""

from __future__ import annotations

MAX_SHOPS = 10
CHECKOUT_STATUSES = ("UNPAID", "PAID", "EXPIRED", "CANCELLED")


class UnknownProduct(Exception):
    def __init__(self, product_id: str):
        super().__init__(f"Product {product_id} does not exist or is not for sale.")
        self.product_id = product_id


class TooManyShops(Exception):
    def __init__(self, shops: int):
        super().__init__(f"A checkout takes items of at most {MAX_SHOPS} shops; "
                         f"this has {shops}.")
        self.shops = shops


def split_by_shop(items: list[dict], known: dict[str, dict]) -> list[tuple[str, list[dict]]]:
    """`[(shop_id, lines)]` in shop-id order (the order reservations are taken in, so two
    checkouts racing for the same shops meet at the same first shop). `known` maps a
    product id to `{shop_id, status}`; a product missing or not active raises
    UnknownProduct, more than MAX_SHOPS shops TooManyShops."""
    groups: dict[str, list[dict]] = {}
    for item in items:
        product = known.get(item["product_id"])
        if product is None or product.get("status") != "active":
            raise UnknownProduct(item["product_id"])
        groups.setdefault(product["shop_id"], []).append(item)
    if len(groups) > MAX_SHOPS:
        raise TooManyShops(len(groups))
    return sorted(groups.items())
