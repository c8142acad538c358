"""Rules of stock reservations (the marketplace's hold on stock while an order is paid).

States: active -> committed (sale final) or active -> released (stock returned), and
committed -> restocked (a paid order cancelled after the sale was final: its stock comes
back). released and restocked are final. Repeating the same move is a no-op (the
marketplace retries); any other move is a conflict.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from .errors import InsufficientStock, Invalid, InvalidTransition, NotFound

ACTIVE = "active"
COMMITTED = "committed"
RELEASED = "released"
RESTOCKED = "restocked"
STATUSES = (ACTIVE, COMMITTED, RELEASED, RESTOCKED)

MAX_QUANTITY = 999

APPLY = "apply"  # perform the transition
ALREADY_DONE = "already-done"  # idempotent repeat: answer with the current state

# target -> the one state it may be reached from
_SOURCE = {COMMITTED: ACTIVE, RELEASED: ACTIVE, RESTOCKED: COMMITTED}
# Why a restock is refused, by current state (the other refusals share one message).
_RESTOCK_REFUSED = {
    ACTIVE: "The reservation is still active; commit or release it instead of restocking.",
    RELEASED: "The reservation was released: its stock was already returned.",
}


def decide_transition(current: str, target: str) -> str:
    """Whether moving a reservation from `current` to `target` happens, is a repeat, or is
    refused."""
    if target not in _SOURCE:
        raise ValueError(f"not a transition target: {target}")
    if current == target:
        return ALREADY_DONE
    if current == _SOURCE[target]:
        return APPLY
    detail = (_RESTOCK_REFUSED.get(current) if target == RESTOCKED else None) or (
        f"The reservation is already {current}; it cannot be {target}."
    )
    raise InvalidTransition(
        detail,
        current_status=current,  # not `status`: that member is the problem's HTTP status
    )


def merge_items(items: list[tuple[str, int]]) -> OrderedDict[str, int]:
    """Merge repeated product ids by adding their quantities (a client listing the same
    product twice means the sum); the merged quantity must still be at most 999."""
    merged: OrderedDict[str, int] = OrderedDict()
    for product_id, quantity in items:
        merged[product_id] = merged.get(product_id, 0) + quantity
    too_many = [pid for pid, qty in merged.items() if qty > MAX_QUANTITY]
    if too_many:
        raise Invalid(
            "The total quantity of a product in one reservation must be at most 999.",
            errors={"items": [f"Total quantity of {pid} exceeds 999." for pid in too_many]},
        )
    return merged


def same_request(existing: dict[str, int], buyer_id: str, requested: dict[str, int],
                 requested_buyer_id: str) -> bool:
    """A repeat of POST /internal/reservations must ask for exactly the same thing."""
    return existing == dict(requested) and str(buyer_id) == str(requested_buyer_id)


@dataclass(frozen=True)
class LockedProduct:
    """A product row as read under its row lock."""

    id: str
    shop_id: str
    title: str
    price: int
    stock: int
    status: str


def check_reservable(requested: dict[str, int], locked: dict[str, LockedProduct]) -> str:
    """Validate a reservation against the locked product rows; returns the shop id.

    Order of checks: unknown/inactive product (404), more than one shop (422), then stock
    (409), so a client fixes the request before it races for stock.
    """
    for product_id in requested:
        product = locked.get(product_id)
        if product is None or product.status != "active":
            raise NotFound(
                f"Product {product_id} does not exist or is not for sale.",
                slug="product-unavailable",
                product_id=product_id,
            )
    shops = {locked[pid].shop_id for pid in requested}
    if len(shops) != 1:
        raise Invalid(
            "All items of a reservation must come from one shop (an order is per shop).",
            errors={"items": ["Items belong to more than one shop."]},
        )
    for product_id, quantity in requested.items():
        available = locked[product_id].stock
        if quantity > available:
            raise InsufficientStock(product_id, quantity, available)
    return shops.pop()
