"""What the buyer sees in a cart: current prices, what changed since adding, what can
actually be bought now, and the subtotal of only those items."""

from __future__ import annotations

from dataclasses import dataclass

from .money import line_total

CHEAPER = "cheaper"
DEARER = "dearer"

# Why a cart line cannot be bought right now.
INACTIVE = "inactive"
OUT_OF_STOCK = "out_of_stock"
INSUFFICIENT_STOCK = "insufficient_stock"

MAX_QUANTITY = 999


@dataclass(frozen=True)
class CartLine:
    product_id: str
    quantity: int
    price_when_added: int
    current_price: int
    status: str
    stock: int


def price_change(price_when_added: int, current_price: int) -> str | None:
    if current_price < price_when_added:
        return CHEAPER
    if current_price > price_when_added:
        return DEARER
    return None


def unavailable_reason(status: str, stock: int, quantity: int) -> str | None:
    """None when the line can be checked out as it is."""
    if status != "active":
        return INACTIVE
    if stock <= 0:
        return OUT_OF_STOCK
    if quantity > stock:
        return INSUFFICIENT_STOCK
    return None


def subtotal(lines: list[CartLine]) -> int:
    """Sum over the lines that can be bought now, at current prices."""
    return sum(
        line_total(line.current_price, line.quantity)
        for line in lines
        if unavailable_reason(line.status, line.stock, line.quantity) is None
    )
