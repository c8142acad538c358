"""Returns, refunds and disputes after delivery (DESIGN.md §12): the state table, who may
make each move, and the money and quantity rules. Pure code: callers lock the order row
(then the return row) and ask this module.

    REQUESTED -> APPROVED -> AWAITING_BUYER_SHIPMENT -> BUYER_SHIPPED -> RECEIVED
              -> REFUND_PENDING -> REFUNDED                       (return_and_refund)
    REQUESTED -> APPROVED -> REFUND_PENDING -> REFUNDED                  (refund_only)
    REQUESTED -> REJECTED -> DISPUTED -> REFUND_PENDING -> REFUNDED | CLOSED  (admin)
    REQUESTED -> OFFERED -> REFUND_PENDING -> REFUNDED (buyer accepts) | DISPUTED (declines)
    REQUESTED | OFFERED | REJECTED | AWAITING_BUYER_SHIPMENT -> CANCELLED (buyer withdraws)

APPROVED and RECEIVED are passed through in the same transaction (each step is audited);
REFUND_PENDING lasts until the refund's money has left escrow (the provider confirmed it,
or the admin recorded the manual transfer).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class ReturnStatus(StrEnum):
    REQUESTED = "REQUESTED"
    APPROVED = "APPROVED"
    AWAITING_BUYER_SHIPMENT = "AWAITING_BUYER_SHIPMENT"
    BUYER_SHIPPED = "BUYER_SHIPPED"
    RECEIVED = "RECEIVED"
    REFUND_PENDING = "REFUND_PENDING"
    REFUNDED = "REFUNDED"
    REJECTED = "REJECTED"
    OFFERED = "OFFERED"
    DISPUTED = "DISPUTED"
    CLOSED = "CLOSED"
    CANCELLED = "CANCELLED"


S = ReturnStatus

REFUND_ONLY = "refund_only"
RETURN_AND_REFUND = "return_and_refund"
TYPES = (REFUND_ONLY, RETURN_AND_REFUND)
REASONS = ("damaged", "wrong_item", "not_as_described", "not_received", "other")

BUYER, SELLER, ADMIN, SYSTEM = "buyer", "seller", "admin", "system"

# action -> (the party allowed, the states it may start from, the state it leads to).
ACTIONS: dict[str, tuple[str, frozenset[ReturnStatus], ReturnStatus]] = {
    "approve": (SELLER, frozenset({S.REQUESTED}), S.APPROVED),
    "auto-approve": (SYSTEM, frozenset({S.REQUESTED}), S.APPROVED),
    "await-shipment": (SYSTEM, frozenset({S.APPROVED}), S.AWAITING_BUYER_SHIPMENT),
    "reject": (SELLER, frozenset({S.REQUESTED}), S.REJECTED),
    "offer": (SELLER, frozenset({S.REQUESTED}), S.OFFERED),
    "ship": (BUYER, frozenset({S.AWAITING_BUYER_SHIPMENT}), S.BUYER_SHIPPED),
    "received": (SELLER, frozenset({S.BUYER_SHIPPED}), S.RECEIVED),
    "accept-offer": (BUYER, frozenset({S.OFFERED}), S.REFUND_PENDING),
    "escalate": (BUYER, frozenset({S.REJECTED, S.OFFERED}), S.DISPUTED),
    "cancel": (BUYER, frozenset({S.REQUESTED, S.OFFERED, S.REJECTED,
                                 S.AWAITING_BUYER_SHIPMENT}), S.CANCELLED),
    "resolve-refund": (ADMIN, frozenset({S.DISPUTED}), S.REFUND_PENDING),
    "resolve-close": (ADMIN, frozenset({S.DISPUTED}), S.CLOSED),
    # The money is asked for (after approval of a refund_only return, or on receipt).
    "request-refund": (SYSTEM, frozenset({S.APPROVED, S.RECEIVED}), S.REFUND_PENDING),
    # The refund's money left escrow.
    "refund-settled": (SYSTEM, frozenset({S.REFUND_PENDING}), S.REFUNDED),
}

TRANSITIONS: dict[ReturnStatus, frozenset[ReturnStatus]] = {
    status: frozenset(target for _party, sources, target in ACTIONS.values()
                      if status in sources)
    for status in ReturnStatus
}
TERMINAL = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
# A return in any other state blocks the order's completion (and a second return).
OPEN = frozenset(ReturnStatus) - TERMINAL
# Returns whose units count as returned (no other return may claim them again).
CLAIMING = frozenset(ReturnStatus) - {S.CANCELLED, S.CLOSED}
# Admins see these first.
DISPUTE_FIRST = (S.DISPUTED,)


class ReturnError(Exception):
    """A move or request the rules refuse; `status` is the HTTP status the API answers
    with, `code` the problem slug."""

    def __init__(self, status: int, code: str, message: str,
                 errors: dict[str, list[str]] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors


def move(current: str, action: str, party: str) -> ReturnStatus:
    """The state `action` by `party` leads to from `current`; ReturnError otherwise (403
    for the wrong party, 409 for a move not allowed from this state)."""
    if action not in ACTIONS:
        raise ReturnError(404, "not-found", f"No return action {action!r}.")
    allowed, sources, target = ACTIONS[action]
    if party != allowed:
        raise ReturnError(403, "forbidden",
                          f"Only the {allowed} may {action.replace('-', ' ')} a return.")
    status = ReturnStatus(current)
    if status not in sources:
        raise ReturnError(409, "illegal-transition",
                          f"A return that is {status} cannot be {_done(action)}.")
    return target


def _done(action: str) -> str:
    return {"approve": "approved", "reject": "rejected", "offer": "answered with an offer",
            "ship": "shipped", "received": "marked received",
            "accept-offer": "settled by accepting an offer", "escalate": "escalated",
            "cancel": "cancelled", "resolve-refund": "resolved",
            "resolve-close": "resolved"}.get(action, action)


# --- opening ------------------------------------------------------------------------------

ORDER_DELIVERED, ORDER_IN_TRANSIT = "DELIVERED", "IN_TRANSIT"


def check_opening(order_status: str, delivered_at: datetime | None, now: datetime,
                  window_seconds: int, return_type: str, reason: str) -> None:
    """A return may be opened on a DELIVERED order within the return window, or on an
    IN_TRANSIT order as a refund_only "not received"."""
    if order_status == ORDER_IN_TRANSIT:
        if return_type != REFUND_ONLY or reason != "not_received":
            raise ReturnError(409, "order-not-delivered",
                              "An order in transit only takes a refund_only return with "
                              "reason not_received.")
        return
    if order_status != ORDER_DELIVERED:
        raise ReturnError(409, "order-not-returnable",
                          f"An order that is {order_status} takes no return (only a "
                          "delivered order, or one in transit that never arrived).")
    if delivered_at is not None and now > delivered_at + timedelta(seconds=window_seconds):
        raise ReturnError(409, "return-window-closed",
                          "The return window of this order has passed.")


@dataclass(frozen=True)
class ReturnLine:
    product_id: str
    quantity: int
    unit_price: int

    @property
    def total(self) -> int:
        return self.quantity * self.unit_price


def returnable_lines(order_items: Iterable[Mapping], requested: Iterable[Mapping],
                     already: Mapping[str, int]) -> list[ReturnLine]:
    """The returned lines priced from the order's snapshot. `requested` is the client's
    [{product_id, quantity}]; `already` what earlier returns claimed per product. Refuses
    unknown products, repeats, and more than ordered − already returned (422)."""
    snapshot: dict[str, Mapping] = {}
    for item in order_items:
        snapshot[str(item["product_id"])] = item
    lines: list[ReturnLine] = []
    errors: dict[str, list[str]] = {}
    seen: set[str] = set()
    for index, item in enumerate(requested):
        product_id, quantity = str(item["product_id"]), int(item["quantity"])
        field = f"items.{index}"
        if product_id in seen:
            errors[field] = [f"Product {product_id} appears twice."]
            continue
        seen.add(product_id)
        ordered = snapshot.get(product_id)
        if ordered is None:
            errors[field] = [f"Product {product_id} is not in this order."]
            continue
        left = int(ordered["quantity"]) - int(already.get(product_id, 0))
        if quantity < 1 or quantity > left:
            errors[field] = [f"Quantity must be between 1 and {left} (ordered "
                             f"{int(ordered['quantity'])}, already returned "
                             f"{int(already.get(product_id, 0))})."]
            continue
        lines.append(ReturnLine(product_id, quantity, int(ordered["unit_price"])))
    if not lines and not errors:
        errors["items"] = ["At least one item."]
    if errors:
        raise ReturnError(422, "invalid-return-items", "Some returned items are not valid.",
                          errors=errors)
    return lines


def lines_value(lines: Iterable[ReturnLine]) -> int:
    return sum(line.total for line in lines)


def check_offer(amount: int, value: int) -> int:
    """A seller's offer: a whole number of rupiah above zero and below the lines' value."""
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount < value:
        raise ReturnError(422, "invalid-amount",
                          f"An offer is between 1 and {value - 1} (below the returned "
                          "lines' value).", errors={"amount": [f"Between 1 and {value - 1}."]})
    return amount


def refund_due(value: int, accepted_offer: int | None, resolved_amount: int | None,
               left_on_order: int) -> int:
    """What this return refunds: the admin's amount, else the accepted offer, else the
    lines' value; never more than the lines' value nor than what is left on the order."""
    amount = value
    if accepted_offer is not None:
        amount = accepted_offer
    if resolved_amount is not None:
        if not 0 < resolved_amount <= value:
            raise ReturnError(422, "invalid-amount",
                              f"A refund of this return is between 1 and {value}.",
                              errors={"amount": [f"Between 1 and {value}."]})
        amount = resolved_amount
    amount = min(amount, left_on_order)
    if amount <= 0:
        raise ReturnError(409, "nothing-to-refund",
                          "Everything paid for this order is refunded or being refunded.")
    return amount


def line_refunds(lines: Iterable[ReturnLine], amount: int) -> dict[str, int]:
    """The refund spread over the returned lines (in proportion to their value, rounded
    down, the rest from the first line on): exactly these lines' commission bases drop."""
    lines = list(lines)
    value = lines_value(lines)
    take = min(amount, value)
    shares = {line.product_id: (line.total * take // value if value else 0) for line in lines}
    left = take - sum(shares.values())
    for line in lines:
        extra = min(left, line.total - shares[line.product_id])
        shares[line.product_id] += extra
        left -= extra
    return shares


def response_due(requested_at: datetime, response_seconds: int) -> datetime:
    """When a silent seller is taken to approve."""
    return requested_at + timedelta(seconds=response_seconds)
