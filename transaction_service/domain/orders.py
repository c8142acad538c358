"""The order state machine.

    UNPAID -> AWAITING_SHIPMENT -> IN_TRANSIT -> DELIVERED -> COMPLETED
    IN_TRANSIT -> COMPLETED (the buyer confirms receipt before delivery is marked)
    UNPAID -> EXPIRED
    UNPAID | AWAITING_SHIPMENT -> CANCELLED

A state never moves backwards and terminal states never move at all. Pure code: callers
lock the order row (`SELECT ... FOR UPDATE`) and ask this module whether the move is legal.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from .errors import Conflict


class OrderStatus(StrEnum):
    UNPAID = "UNPAID"
    AWAITING_SHIPMENT = "AWAITING_SHIPMENT"
    IN_TRANSIT = "IN_TRANSIT"
    DELIVERED = "DELIVERED"
    COMPLETED = "COMPLETED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"


TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.UNPAID: frozenset(
        {OrderStatus.AWAITING_SHIPMENT, OrderStatus.EXPIRED, OrderStatus.CANCELLED}
    ),
    OrderStatus.AWAITING_SHIPMENT: frozenset({OrderStatus.IN_TRANSIT, OrderStatus.CANCELLED}),
    OrderStatus.IN_TRANSIT: frozenset({OrderStatus.DELIVERED, OrderStatus.COMPLETED}),
    OrderStatus.DELIVERED: frozenset({OrderStatus.COMPLETED}),
    OrderStatus.COMPLETED: frozenset(),
    OrderStatus.EXPIRED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}

TERMINAL = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
# Money has been received for the order (and not given back through a cancellation).
PAID = frozenset({OrderStatus.AWAITING_SHIPMENT, OrderStatus.IN_TRANSIT, OrderStatus.DELIVERED,
                  OrderStatus.COMPLETED})

# The timestamp column each target state stamps.
TIMESTAMP_OF = {
    OrderStatus.AWAITING_SHIPMENT: "paid_at",
    OrderStatus.IN_TRANSIT: "shipped_at",
    OrderStatus.DELIVERED: "delivered_at",
    OrderStatus.COMPLETED: "completed_at",
    OrderStatus.EXPIRED: "expired_at",
    OrderStatus.CANCELLED: "cancelled_at",
}


class IllegalTransition(Conflict):
    slug = "illegal-transition"

    def __init__(self, current: OrderStatus, target: OrderStatus):
        super().__init__(f"An order cannot move from {current} to {target}.",
                         current_status=str(current), requested_status=str(target))
        self.current = current
        self.target = target


def can_transition(current: str, target: str) -> bool:
    return OrderStatus(target) in TRANSITIONS[OrderStatus(current)]


def transition(current: str, target: str) -> OrderStatus:
    """The target state if the move is legal; IllegalTransition otherwise."""
    current_status, target_status = OrderStatus(current), OrderStatus(target)
    if target_status not in TRANSITIONS[current_status]:
        raise IllegalTransition(current_status, target_status)
    return target_status


def payment_deadline(
    now: datetime, expiry_seconds: int, reservation_expires_at: datetime | None
) -> datetime:
    """Pay before the provider's instructions lapse and before the showcase gives the
    reserved stock back, whichever comes first."""
    deadline = now + timedelta(seconds=expiry_seconds)
    if reservation_expires_at is not None and reservation_expires_at < deadline:
        deadline = reservation_expires_at
    return deadline
